-- 严重失信主体占比: surviving local market entities at the month end (every type, 个体工商户
-- included: 本地存续企业(含个体工商户)) that are on the 严重失信主体名单 at the month end
-- (record_date <= month end, removal_date empty or later) / all surviving local market entities,
-- by the entity's region at the month end.
-- params: :month_start, :month_end (first day of the next month), :prefecture_code
with surviving as (
    select s.uscc, s.region_code
    from core.v_entity_month_end as s
    where s.month_end = cast(:month_end as timestamp)
        and s.is_surviving
),
listed as (
    select distinct c.uscc
    from core.v_credit_record_as_of as c
    where c.record_type = '严重失信主体名单'
        and c.record_date < cast(:month_end as date)
        and (c.removal_date is null or c.removal_date >= cast(:month_end as date))
),
flagged as (
    select
        s.region_code,
        case when l.uscc is null then 0 else 1 end as is_listed
    from surviving as s
    left join listed as l on l.uscc = s.uscc
),
grouped as (
    select
        case when grouping(region_code) = 1 then cast(:prefecture_code as varchar) else region_code end
            as snapshot_region,
        sum(is_listed) as listed_entities,
        count(*) as entities
    from flagged
    group by grouping sets ((region_code), ())
    having count(*) > 0
        and (grouping(region_code) = 1 or region_code <> cast(:prefecture_code as varchar))
)
select
    snapshot_region as region_code,
    cast(listed_entities as double precision) / cast(entities as double precision) as value,
    cast(listed_entities as double precision) as numerator,
    cast(entities as double precision) as denominator,
    entities as sample_size
from grouped
