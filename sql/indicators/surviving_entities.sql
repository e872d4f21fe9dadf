-- 存续市场主体数: entities established on or before the month end and not 注销/吊销/迁出 on or
-- before it, in the state valid at the month end (core.v_entity_month_end), by that state's region.
-- params: :month_start, :month_end (first day of the next month), :prefecture_code
with surviving as (
    select s.uscc, s.region_code
    from core.v_entity_month_end as s
    where s.month_end = cast(:month_end as timestamp)
        and s.is_surviving
),
grouped as (
    select
        case when grouping(region_code) = 1 then cast(:prefecture_code as varchar) else region_code end
            as snapshot_region,
        count(*) as entities
    from surviving
    group by grouping sets ((region_code), ())
    having count(*) > 0
        and (grouping(region_code) = 1 or region_code <> cast(:prefecture_code as varchar))
)
select
    snapshot_region as region_code,
    cast(entities as double precision) as value,
    cast(null as double precision) as numerator,
    cast(null as double precision) as denominator,
    entities as sample_size
from grouped
