-- 全程电子化登记率: 设立 events approved (issued_at) in the month through 全程电子化 / all 设立
-- events approved in the month, by the region at approval.
-- params: :month_start, :month_end (first day of the next month), :prefecture_code
with issued as (
    select r.region_code, r.channel
    from core.v_registration_as_of as r
    where r.event_type = '设立'
        and r.issued_at >= cast(:month_start as timestamp)
        and r.issued_at < cast(:month_end as timestamp)
),
grouped as (
    select
        case when grouping(region_code) = 1 then cast(:prefecture_code as varchar) else region_code end
            as snapshot_region,
        sum(case when channel = '全程电子化' then 1 else 0 end) as online,
        count(*) as approvals
    from issued
    group by grouping sets ((region_code), ())
    having count(*) > 0
        and (grouping(region_code) = 1 or region_code <> cast(:prefecture_code as varchar))
)
select
    snapshot_region as region_code,
    cast(online as double precision) / cast(approvals as double precision) as value,
    cast(online as double precision) as numerator,
    cast(approvals as double precision) as denominator,
    approvals as sample_size
from grouped
