-- the latest published snapshot of a month (:month, its first day), as dashboards see it in
-- mart.v_indicator_trend and `bizenv indicators show` prints it
select
    v.month, v.region_code, v.indicator_code, v.breakdown, v.name_zh, v.name_en, v.unit, v.direction,
    v.value, v.numerator, v.denominator, v.sample_size, v.target, v.meets_target, v.previous_value,
    v.last_year_value, v.within_limit_share, v.policy_limit, v.p90_value, v.cases_without_time,
    v.backlog_open, v.backlog_oldest_workdays, v.version, v.run_id, v.computed_at
from mart.v_indicator_trend as v
where v.month = cast(:month as date)
