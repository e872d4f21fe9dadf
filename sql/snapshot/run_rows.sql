-- the rows of one snapshot run
select
    s.run_id, s.version, s.month, s.region_code, s.indicator_code, s.breakdown, s.value, s.numerator,
    s.denominator, s.sample_size, s.target, s.meets_target, s.previous_value, s.last_year_value,
    s.within_limit_share, s.p90_value, s.cases_without_time, s.backlog_open, s.backlog_oldest_workdays,
    s.computed_at
from mart.indicator_snapshot as s
where s.run_id = :run_id
