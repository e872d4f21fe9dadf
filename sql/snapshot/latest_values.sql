-- the latest published values of a month (for previous_value and last_year_value)
select v.region_code, v.indicator_code, v.breakdown, v.value
from mart.v_indicator_latest as v
where v.month = :month
