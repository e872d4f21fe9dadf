-- the latest published snapshot version of each month, with catalog names, for dashboards.
-- breakdown is '' for the indicator's own value and names the part otherwise (登记类型 of
-- 企业不动产登记时长); meets_target is null when the sample is below the minimum (样本不足).
create or replace view mart.v_indicator_latest as
with published as (
    select month, max(version) as version
    from ops.snapshot_run
    where status = 'published'
    group by month
),
latest_run as (
    select r.run_id
    from ops.snapshot_run as r
    inner join published as p on p.month = r.month and p.version = r.version
)
select
    s.month,
    s.region_code,
    s.indicator_code,
    s.breakdown,
    c.name_zh,
    c.name_en,
    c.unit,
    c.direction,
    s.value,
    s.numerator,
    s.denominator,
    s.sample_size,
    s.target,
    s.meets_target,
    s.previous_value,
    s.last_year_value,
    s.within_limit_share,
    c.policy_limit,
    s.p90_value,
    s.cases_without_time,
    s.backlog_open,
    s.backlog_oldest_workdays,
    s.version,
    s.run_id,
    s.computed_at
from mart.indicator_snapshot as s
inner join latest_run as l on l.run_id = s.run_id
left join mart.indicator_catalog as c on c.indicator_code = s.indicator_code
