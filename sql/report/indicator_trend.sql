-- the published indicator rows of the report's window (the 12 months ending at the report
-- month), for its trend charts, target-attainment heat map and missed-target streaks.
-- params: :first_month, :last_month ('YYYY-MM-01': first days of the window's first and last month)
with window_rows as (
    select t.*
    from mart.v_indicator_trend as t
    where t.month >= cast(:first_month as date)
        and t.month <= cast(:last_month as date)
)
select
    w.month, w.region_code, w.region_name, w.indicator_code, w.breakdown, w.name_zh, w.name_en, w.unit,
    w.direction, w.value, w.numerator, w.denominator, w.sample_size, w.target, w.target_operator,
    w.meets_target, w.attainment, w.attainment_zh, w.previous_value, w.last_year_value,
    w.within_limit_share, w.policy_limit, w.p90_value, w.cases_without_time, w.backlog_open,
    w.backlog_oldest_workdays, w.version, w.run_id, w.computed_at
from window_rows as w
order by w.month, w.region_code, w.indicator_code, w.breakdown
