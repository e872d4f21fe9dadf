-- 存续市场主体数: entities established on or before the month end and not 注销/吊销/迁出 on or
-- before it, in the state valid at the month end (core.v_entity_state), by that state's region.
-- params: :month_start, :month_end (first day of the next month), :prefecture_code
with month_end_state as (
    select s.uscc, s.region_code, s.established_date, s.exit_date
    from core.v_entity_state as s
    where (
            s.valid_from < cast(:month_end as timestamp)
            and (s.valid_to is null or s.valid_to >= cast(:month_end as timestamp))
        )
        or (s.is_first and s.valid_from >= cast(:month_end as timestamp))
),
surviving as (
    select uscc, region_code
    from month_end_state
    where established_date < cast(:month_end as date)
        and (exit_date is null or exit_date >= cast(:month_end as date))
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
