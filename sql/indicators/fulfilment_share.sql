-- 履约践诺信息占比: 履约践诺 records dated on or before the month end of surviving local market
-- entities / surviving local market entities at the month end (条/户), both by the entity's region
-- at the month end. records of entities that are not (or no longer) surviving local entities do
-- not count. a region without surviving entities has no value.
-- params: :month_start, :month_end (first day of the next month), :prefecture_code
with surviving as (
    select s.uscc, s.region_code
    from core.v_entity_month_end as s
    where s.month_end = cast(:month_end as timestamp)
        and s.is_surviving
),
fulfilment_records as (
    select c.uscc, count(*) as records
    from core.v_credit_record_as_of as c
    where c.record_type = '履约践诺'
        and c.record_date < cast(:month_end as date)
    group by c.uscc
),
entity_records as (
    select s.region_code, coalesce(f.records, 0) as records
    from surviving as s
    left join fulfilment_records as f on f.uscc = s.uscc
),
grouped as (
    select
        case when grouping(region_code) = 1 then cast(:prefecture_code as varchar) else region_code end
            as snapshot_region,
        sum(records) as records,
        count(*) as entities
    from entity_records
    group by grouping sets ((region_code), ())
    having count(*) > 0
        and (grouping(region_code) = 1 or region_code <> cast(:prefecture_code as varchar))
)
select
    snapshot_region as region_code,
    cast(records as double precision) / cast(entities as double precision) as value,
    cast(records as double precision) as numerator,
    cast(entities as double precision) as denominator,
    entities as sample_size
from grouped
