-- correct one stored working-day flag (the official calendar changed)
update ops.work_calendar
set is_working_day = :is_working_day
where day = cast(:day as date)
