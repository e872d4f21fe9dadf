-- 退税办理时长: the refunds that touch the month (completed in it, or requested and still open at
-- its end), by the filing's own region, from refund request to refund completion. the median, p90,
-- within-limit share and backlog come from shared/workdays_median.sql; working days from
-- core.v_case_workdays (docs/indicators.md, "Working days").
-- params: :month_start, :month_end (first day of the next month)
select
    w.region_code,
    cast(null as varchar) as breakdown,
    w.started_at,
    w.completed_at,
    w.workdays,
    w.lacks_time_of_day
from core.v_case_workdays as w
where w.dataset = 'tax_refund'
    and w.started_at < cast(:month_end as timestamp)
    and (w.completed_at is null or w.completed_at >= cast(:month_start as timestamp))
