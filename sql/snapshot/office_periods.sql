-- the stored office periods, in order
select p.period_no, p.start_time, p.end_time
from ops.office_period as p
order by p.period_no
