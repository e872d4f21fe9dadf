-- the rows of one snapshot run
select
    s.run_id, s.version, s.month, s.region_code, s.indicator_code, s.value, s.numerator,
    s.denominator, s.sample_size, s.target, s.meets_target, s.previous_value, s.last_year_value,
    s.computed_at
from mart.indicator_snapshot as s
where s.run_id = :run_id
