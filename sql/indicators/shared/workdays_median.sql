-- the shape every median-duration indicator shares (docs/indicators.md, "Durations"): its own file
-- sql/indicators/<code>.sql selects the cases that touch the month (one row per case: region_code,
-- breakdown, started_at, completed_at, workdays, lacks_time_of_day) and bizenv.indicators runs it
-- as `cases` under this statement. beside the median: the share of the month's completed cases
-- within the policy limit, the 90th percentile, the completed cases without a time of day (no
-- duration: left out of the median and counted) and the open backlog at month end (lodged, not
-- finished) with the start of its oldest timed case. a null breakdown means the indicator has none:
-- only the rows per region and for the prefecture are returned then.
-- params: :month_end (first day of the next month), :prefecture_code, :policy_limit
with month_cases as (
    select
        c.region_code,
        c.breakdown,
        case when c.completed_at < cast(:month_end as timestamp) then c.workdays end as completed_workdays,
        case when c.completed_at < cast(:month_end as timestamp) then 1 else 0 end as is_completed,
        case when c.completed_at is null or c.completed_at >= cast(:month_end as timestamp) then 1 else 0 end
            as is_open,
        case when not c.lacks_time_of_day then c.started_at end as timed_start
    from cases as c
),
grouped as (
    select
        case when grouping(region_code) = 1 then cast(:prefecture_code as varchar) else region_code end
            as snapshot_region,
        case when grouping(breakdown) = 1 then '' else breakdown end as breakdown,
        percentile_cont(0.5) within group (order by completed_workdays) as median_workdays,
        percentile_cont(0.9) within group (order by completed_workdays) as p90_workdays,
        count(completed_workdays) as timed_cases,
        sum(case when completed_workdays <= cast(:policy_limit as double precision) then 1 else 0 end)
            as within_limit,
        sum(is_completed) - count(completed_workdays) as cases_without_time,
        sum(is_open) as backlog_open,
        min(case when is_open = 1 then timed_start end) as backlog_oldest_started_at
    from month_cases
    group by grouping sets ((region_code, breakdown), (region_code), (breakdown), ())
    having count(*) > 0
        and (grouping(region_code) = 1 or region_code <> cast(:prefecture_code as varchar))
        and (grouping(breakdown) = 1 or breakdown is not null)
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
