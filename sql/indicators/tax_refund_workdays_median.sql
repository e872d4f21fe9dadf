-- 退税办理时长: median working days from refund request to refund completion of the refunds
-- completed in the month, by the filing's own region.
-- beside the median (docs/indicators.md): the share of cases within the policy limit, the 90th
-- percentile, the completed cases without a time of day (no duration: left out of the median and
-- counted) and the open backlog at month end (lodged, not finished) with the start of its oldest
-- timed case. working days come from core.v_case_workdays (docs/indicators.md, "Working days").
-- params: :month_start, :month_end (first day of the next month), :prefecture_code, :policy_limit
with month_cases as (
    select
        w.region_code,
        case when w.completed_at < cast(:month_end as timestamp) then w.workdays end as completed_workdays,
        case when w.completed_at < cast(:month_end as timestamp) then 1 else 0 end as is_completed,
        case when w.completed_at is null or w.completed_at >= cast(:month_end as timestamp) then 1 else 0 end
            as is_open,
        case when not w.lacks_time_of_day then w.started_at end as timed_start
    from core.v_case_workdays as w
    where w.dataset = 'tax_refund'
        and w.started_at < cast(:month_end as timestamp)
        and (w.completed_at is null or w.completed_at >= cast(:month_start as timestamp))
),
grouped as (
    select
        case when grouping(region_code) = 1 then cast(:prefecture_code as varchar) else region_code end
            as snapshot_region,
        '' as breakdown,
        percentile_cont(0.5) within group (order by completed_workdays) as median_workdays,
        percentile_cont(0.9) within group (order by completed_workdays) as p90_workdays,
        count(completed_workdays) as timed_cases,
        sum(case when completed_workdays <= cast(:policy_limit as double precision) then 1 else 0 end)
            as within_limit,
        sum(is_completed) - count(completed_workdays) as cases_without_time,
        sum(is_open) as backlog_open,
        min(case when is_open = 1 then timed_start end) as backlog_oldest_started_at
    from month_cases
    group by grouping sets ((region_code), ())
    having count(*) > 0
        and (grouping(region_code) = 1 or region_code <> cast(:prefecture_code as varchar))
)
select
    snapshot_region as region_code,
    breakdown,
    cast(median_workdays as double precision) as value,
    cast(null as double precision) as numerator,
    cast(null as double precision) as denominator,
    timed_cases as sample_size,
    cast(within_limit as double precision) / cast(nullif(timed_cases, 0) as double precision)
        as within_limit_share,
    cast(p90_workdays as double precision) as p90_value,
    cases_without_time,
    backlog_open,
    backlog_oldest_started_at
from grouped
