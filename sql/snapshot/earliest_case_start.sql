-- the earliest start of the cases whose working-day duration the month's snapshot needs
with starts as (
    select r.submitted_at as started_at
    from core.v_registration_as_of as r
    where r.issued_at >= cast(:month_start as timestamp)
        and r.issued_at < cast(:month_end as timestamp)
    union all
    select c.submitted_at as started_at
    from core.v_real_estate_case_as_of as c
    where c.completed_at >= cast(:month_start as timestamp)
        and c.completed_at < cast(:month_end as timestamp)
    union all
    select t.refund_requested_at as started_at
    from core.v_tax_filing_as_of as t
    where t.refund_completed_at >= cast(:month_start as timestamp)
        and t.refund_completed_at < cast(:month_end as timestamp)
)
select min(started_at) as earliest
from starts
