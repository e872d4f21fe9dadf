-- correct one stored day: its working-day flag or its source changed (an operator entered the
-- year in work_calendar.yaml, or corrected it)
update ops.work_calendar
set
    is_working_day = :is_working_day,
    source = :source
where day = cast(:day as date)
