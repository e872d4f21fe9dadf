-- the newest published month of each indicator x reporting unit x breakdown, one row each, with
-- the columns of mart.v_indicator_trend (docs/dashboard-contract.md): a dashboard's current
-- figures. A breakdown part with no case in later months keeps its last month. release_stage
-- says whether that month is still 初步 or 正式 (docs/history.md, "Revisions").
create or replace view mart.v_indicator_latest as
with newest as (
    select t.indicator_code, t.region_code, t.breakdown, max(t.month) as month
    from mart.v_indicator_trend as t
    group by t.indicator_code, t.region_code, t.breakdown
)
select
    t.month,
    t.region_code,
    t.region_name,
    t.indicator_code,
    t.breakdown,
    t.name_zh,
    t.name_en,
    t.unit,
    t.direction,
    t.value,
    t.numerator,
    t.denominator,
    t.sample_size,
    t.target,
    t.target_operator,
    t.meets_target,
    t.attainment,
    t.attainment_zh,
    t.previous_value,
    t.last_year_value,
    t.within_limit_share,
    t.policy_limit,
    t.p90_value,
    t.cases_without_time,
    t.backlog_open,
    t.backlog_oldest_workdays,
    t.version,
    t.run_id,
    t.computed_at,
    t.final_from,
    t.release_stage
from mart.v_indicator_trend as t
inner join newest as n
    on n.indicator_code = t.indicator_code
        and n.region_code = t.region_code
        and n.breakdown = t.breakdown
        and n.month = t.month
