-- 跨部门数据关联率: tax filings filed, credit records dated and 企业 real-estate cases completed in
-- the month whose USCC is in core (core.market_entity) / all of them, by each record's own region.
-- params: :month_start, :month_end (first day of the next month), :prefecture_code
with known as (
    select distinct m.uscc
    from core.v_market_entity_as_of as m
),
month_rows as (
    select t.region_code, t.uscc
    from core.v_tax_filing_as_of as t
    where t.filed_at >= cast(:month_start as timestamp)
        and t.filed_at < cast(:month_end as timestamp)
    union all
    select c.region_code, c.uscc
    from core.v_credit_record_as_of as c
    where c.record_date >= cast(:month_start as date)
        and c.record_date < cast(:month_end as date)
    union all
    select e.region_code, e.applicant_uscc as uscc
    from core.v_real_estate_case_as_of as e
    where e.applicant_type = '企业'
        and e.completed_at >= cast(:month_start as timestamp)
        and e.completed_at < cast(:month_end as timestamp)
),
matched as (
    select
        r.region_code,
        case when k.uscc is null then 0 else 1 end as is_matched
    from month_rows as r
    left join known as k on k.uscc = r.uscc
),
grouped as (
    select
        case when grouping(region_code) = 1 then cast(:prefecture_code as varchar) else region_code end
            as snapshot_region,
        sum(is_matched) as matched_rows,
        count(*) as all_rows
    from matched
    group by grouping sets ((region_code), ())
    having count(*) > 0
        and (grouping(region_code) = 1 or region_code <> cast(:prefecture_code as varchar))
)
select
    snapshot_region as region_code,
    cast(matched_rows as double precision) / cast(all_rows as double precision) as value,
    cast(matched_rows as double precision) as numerator,
    cast(all_rows as double precision) as denominator,
    all_rows as sample_size
from grouped
