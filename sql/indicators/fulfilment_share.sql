-- 履约践诺信息占比: 履约践诺 records dated on or before the month end, by the record's own region
-- (records whose USCC is not in core count too) / surviving entities (all types) at the month
-- end, by the entity's region. A region with records but no surviving entity has no value.
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
fulfilment_records as (
    select c.region_code
    from core.credit_record as c
    where c.record_type = '履约践诺'
        and c.record_date < cast(:month_end as date)
),
record_counts as (
    select
        case when grouping(region_code) = 1 then cast(:prefecture_code as varchar) else region_code end
            as snapshot_region,
        count(*) as records
    from fulfilment_records
    group by grouping sets ((region_code), ())
    having count(*) > 0
        and (grouping(region_code) = 1 or region_code <> cast(:prefecture_code as varchar))
),
entity_counts as (
    select
        case when grouping(region_code) = 1 then cast(:prefecture_code as varchar) else region_code end
            as snapshot_region,
        count(*) as entities
    from surviving
    group by grouping sets ((region_code), ())
    having count(*) > 0
        and (grouping(region_code) = 1 or region_code <> cast(:prefecture_code as varchar))
),
joined as (
    select
        coalesce(e.snapshot_region, r.snapshot_region) as snapshot_region,
        coalesce(r.records, 0) as records,
        coalesce(e.entities, 0) as entities
    from entity_counts as e
    full outer join record_counts as r on r.snapshot_region = e.snapshot_region
)
select
    snapshot_region as region_code,
    cast(records as double precision) / cast(nullif(entities, 0) as double precision) as value,
    cast(records as double precision) as numerator,
    cast(entities as double precision) as denominator,
    entities as sample_size
from joined
