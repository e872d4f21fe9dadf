-- 网上办税率: tax filings filed in the month via 电子税务局 or 移动端 / all filings filed in the
-- month, by the filing's own region (filings whose USCC is not in core count too).
-- params: :month_start, :month_end (first day of the next month), :prefecture_code
with filings as (
    select t.region_code, t.channel
    from core.v_tax_filing_as_of as t
    where t.filed_at >= cast(:month_start as timestamp)
        and t.filed_at < cast(:month_end as timestamp)
),
grouped as (
    select
        case when grouping(region_code) = 1 then cast(:prefecture_code as varchar) else region_code end
            as snapshot_region,
        sum(case when channel in ('电子税务局', '移动端') then 1 else 0 end) as online,
        count(*) as filings
    from filings
    group by grouping sets ((region_code), ())
    having count(*) > 0
        and (grouping(region_code) = 1 or region_code <> cast(:prefecture_code as varchar))
)
select
    snapshot_region as region_code,
    cast(online as double precision) / cast(filings as double precision) as value,
    cast(online as double precision) as numerator,
    cast(filings as double precision) as denominator,
    filings as sample_size
from grouped
