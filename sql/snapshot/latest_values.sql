-- the latest published values of a month (:month as 'YYYY-MM'), for previous_value and
-- last_year_value
select v.region_code, v.indicator_code, v.breakdown, v.value
from mart.v_indicator_trend as v
where v.month = cast(cast(:month as varchar) || '-01' as date)
