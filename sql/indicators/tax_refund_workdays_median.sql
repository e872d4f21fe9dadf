-- 退税办理时长: median working days from refund request to refund completion of the refunds
-- completed in the month, by the filing's own region.
-- working days come from core.v_case_workdays (DESIGN §6); a month without cases has no row.
-- params: :month_start, :month_end (first day of the next month), :prefecture_code
with cases as (
    select w.region_code, w.workdays
    from core.v_case_workdays as w
    where w.dataset = 'tax_refund'
        and w.completed_at >= cast(:month_start as timestamp)
        and w.completed_at < cast(:month_end as timestamp)
),
grouped as (
    select
        case when grouping(region_code) = 1 then cast(:prefecture_code as varchar) else region_code end
            as snapshot_region,
        percentile_cont(0.5) within group (order by workdays) as median_workdays,
        count(*) as cases
    from cases
    group by grouping sets ((region_code), ())
    having count(*) > 0
        and (grouping(region_code) = 1 or region_code <> cast(:prefecture_code as varchar))
)
select
    snapshot_region as region_code,
    cast(median_workdays as double precision) as value,
    cast(null as double precision) as numerator,
    cast(null as double precision) as denominator,
    cases as sample_size
from grouped
