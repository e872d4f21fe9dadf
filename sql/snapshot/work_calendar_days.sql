-- the working-day flags already stored for a span of days, with their source
select w.day, w.is_working_day, w.source
from ops.work_calendar as w
where w.day >= cast(:first_day as date)
    and w.day <= cast(:last_day as date)
