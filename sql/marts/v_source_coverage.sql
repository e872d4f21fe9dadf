-- coverage per month x dataset x source x reporting unit, for the coverage dashboard
-- (docs/dashboard-contract.md): the rule of bizenv.indicators.freshness (docs/indicators.md,
-- "Coverage per source and reporting unit"). a source covers a month when its latest department
-- update, over every row it delivered, is on or after the month's last statutory working day. a
-- unit below the prefecture has one row per source that delivered rows for it; a unit no source
-- delivered a row for, and the prefecture (its total), one row per source of the dataset; a
-- dataset no source delivered a row of, one row per unit without a source, never covered. a
-- unit covers the month when all its rows do. core is read at the connection's cut-off, like the
-- snapshot's query (both read core.v_source_delivery). months: those of core.v_month from the first
-- to the last month the stored working-day calendar or the batches reach; covered is null for a
-- month the stored calendar does not hold (the current one before its snapshot is computed).
-- the departments are those of bizenv.datasets (the test compares them).
create or replace view mart.v_source_coverage as
with departments as (
    select d.dataset, d.department_name
    from (
        values
        ('registration', '市场监管局'),
        ('tax_filing', '税务局'),
        ('credit_record', '信用信息共享平台'),
        ('real_estate_case', '不动产登记中心')
    ) as d (dataset, department_name)
),
fed as (
    select d.dataset, d.source_name, d.region_code, d.latest_updated_at
    from core.v_source_delivery as d
),
sources as (
    select f.dataset, f.source_name, max(f.latest_updated_at) as latest_updated_at
    from fed as f
    group by f.dataset, f.source_name
),
unit_sources as (
    -- a unit below the prefecture waits for the sources that delivered rows for it
    select f.dataset, f.source_name, f.region_code, f.latest_updated_at
    from fed as f
    inner join mart.dim_region as u on u.region_code = f.region_code
    where u.level <> 'prefecture'
    union all
    -- the prefecture, and a unit no source delivered a row for, wait for every source
    select
        s.dataset,
        s.source_name,
        u.region_code,
        case when u.level = 'prefecture' then s.latest_updated_at end as latest_updated_at
    from sources as s
    cross join mart.dim_region as u
    where u.level = 'prefecture'
        or not exists (
            select 1
            from fed as f
            where f.dataset = s.dataset
                and f.region_code = u.region_code
        )
    union all
    -- a dataset no source delivered a row of: every unit, without a source
    select
        d.dataset,
        cast(null as varchar) as source_name,
        u.region_code,
        cast(null as timestamp) as latest_updated_at
    from departments as d
    cross join mart.dim_region as u
    where not exists (
            select 1
            from sources as s
            where s.dataset = d.dataset
        )
),
reached as (
    -- the days the warehouse has: the stored working-day calendar and the batches (started_at is
    -- naive UTC; China keeps no daylight saving time)
    select w.day as reached_day from ops.work_calendar as w
    union all
    select cast(b.started_at + interval '8 hours' as date) as reached_day from ops.batch as b
),
months as (
    select cast(m.month_start as date) as month, m.month_start, m.month_end
    from core.v_month as m
    where m.month_end > (select cast(min(r.reached_day) as timestamp) from reached as r)
        and m.month_start <= (select cast(max(r.reached_day) as timestamp) from reached as r)
),
last_working_day as (
    -- the month's last statutory working day, from the stored calendar, as the freshness gate
    -- takes it from the calendar files
    select cast(date_trunc('month', w.day) as date) as month, max(w.day) as last_day
    from ops.work_calendar as w
    where w.is_working_day
    group by cast(date_trunc('month', w.day) as date)
)
select
    m.month,
    a.dataset,
    d.department_name,
    a.source_name,
    a.region_code,
    u.region_name,
    a.latest_updated_at,
    s.latest_updated_at as source_latest_updated_at,
    w.last_day as last_working_day,
    case
        when a.source_name is null then false
        when w.last_day is null then cast(null as boolean)
        else coalesce(s.latest_updated_at >= cast(w.last_day as timestamp), false)
    end as covered
from months as m
cross join unit_sources as a
inner join departments as d on d.dataset = a.dataset
inner join mart.dim_region as u on u.region_code = a.region_code
left join sources as s
    on s.dataset = a.dataset
        and s.source_name = a.source_name
left join last_working_day as w on w.month = m.month
