-- every published month of every indicator x reporting unit x breakdown: the month's latest
-- published snapshot version with names, target and attainment, for dashboards
-- (docs/dashboard-contract.md). breakdown is '' for the indicator's own value and names the part
-- otherwise (登记类型 of 企业不动产登记时长). meets_target is null without a target, without a
-- value or below the minimum sample (样本不足); attainment says which. release_stage is 初步 until
-- the month's revision window ends (final_from, naive utc, set by its first publish) and 正式 from
-- then on, compared with the time of the query as naive utc (timezone('UTC', now()) on both
-- warehouses); a month published before windows were recorded has no final_from and is 正式
-- (docs/history.md, "Revisions").
create or replace view mart.v_indicator_trend as
with published as (
    select r.month, max(r.version) as version, min(r.final_from) as final_from
    from ops.snapshot_run as r
    where r.status = 'published'
    group by r.month
),
latest_run as (
    select r.run_id, p.final_from
    from ops.snapshot_run as r
    inner join published as p on p.month = r.month and p.version = r.version
),
judged as (
    select
        s.*,
        c.name_zh,
        c.name_en,
        c.unit,
        c.direction,
        c.target_operator,
        c.policy_limit,
        l.final_from,
        case
            when s.target is null then 'no_target'
            when s.value is null then 'no_data'
            when s.meets_target is null then 'insufficient_sample'
            when s.meets_target then 'met'
            else 'missed'
        end as attainment
    from mart.indicator_snapshot as s
    inner join latest_run as l on l.run_id = s.run_id
    left join mart.indicator_catalog as c on c.indicator_code = s.indicator_code
)
select
    cast(j.month || '-01' as date) as month,
    j.region_code,
    g.region_name,
    j.indicator_code,
    j.breakdown,
    j.name_zh,
    j.name_en,
    j.unit,
    j.direction,
    j.value,
    j.numerator,
    j.denominator,
    cast(j.sample_size as bigint) as sample_size,
    j.target,
    j.target_operator,
    j.meets_target,
    j.attainment,
    case j.attainment
        when 'met' then '达标'
        when 'missed' then '未达标'
        when 'insufficient_sample' then '样本不足'
        when 'no_target' then '无目标'
        else '无数据'
    end as attainment_zh,
    j.previous_value,
    j.last_year_value,
    j.within_limit_share,
    j.policy_limit,
    j.p90_value,
    cast(j.cases_without_time as bigint) as cases_without_time,
    cast(j.backlog_open as bigint) as backlog_open,
    j.backlog_oldest_workdays,
    cast(j.version as bigint) as version,
    j.run_id,
    j.computed_at,
    j.final_from,
    case
        when j.final_from is not null and timezone('UTC', now()) < j.final_from then '初步'
        else '正式'
    end as release_stage
from judged as j
left join mart.dim_region as g on g.region_code = j.region_code
