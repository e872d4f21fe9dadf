-- the earliest start of the cases whose working-day duration the month's snapshot needs
with starts as (
    select r.submitted_at as started_at
    from core.registration as r
    where r.issued_at >= cast(:month_start as timestamp)
        and r.issued_at < cast(:month_end as timestamp)
    union all
    select c.submitted_at as started_at
    from core.real_estate_case as c
    where c.completed_at >= cast(:month_start as timestamp)
        and c.completed_at < cast(:month_end as timestamp)
    union all
    select t.refund_requested_at as started_at
    from core.tax_filing as t
    where t.refund_completed_at >= cast(:month_start as timestamp)
        and t.refund_completed_at < cast(:month_end as timestamp)
)
select min(started_at) as earliest
from starts
