-- data quality per department x source x dataset x month of load (Asia/Shanghai), for the data
-- quality dashboard (docs/dashboard-contract.md). Counts come from the batches that reached
-- loaded or rejected (their counts reconcile: received = loaded + quarantined + duplicates);
-- top_reasons counts each quarantined row once per failed rule, from the failures the ingest
-- recorded as JSON (the text '"rule": "' only ever starts a rule name there: a value's quotes
-- are escaped). The departments are those of bizenv.datasets (the test compares them).
create or replace view mart.v_data_quality as
with departments as (
    select d.dataset, d.department_code, d.department_name
    from (
        values
        ('registration', 'market', '市场监管局'),
        ('legacy_code_crosswalk', 'market', '市场监管局'),
        ('tax_filing', 'tax', '税务局'),
        ('credit_record', 'credit', '信用信息共享平台'),
        ('real_estate_case', 'real_estate', '不动产登记中心')
    ) as d (dataset, department_code, department_name)
),
batches as (
    select
        b.batch_id,
        b.source,
        b.dataset,
        b.status,
        b.extracted,
        b.loaded,
        b.quarantined,
        b.duplicates,
        b.finished_at,
        -- ops times are naive UTC; China keeps no daylight saving time
        cast(date_trunc('month', b.finished_at + interval '8 hours') as date) as month
    from ops.batch as b
    where b.status in ('loaded', 'rejected')
        and b.finished_at is not null
),
changed as (
    -- the newest department 更新时间 (Asia/Shanghai) each batch left in core
    select r.batch_id, max(r.updated_at) as updated_at from core.registration as r
    group by r.batch_id
    union all
    select t.batch_id, max(t.updated_at) as updated_at from core.tax_filing as t
    group by t.batch_id
    union all
    select c.batch_id, max(c.updated_at) as updated_at from core.credit_record as c
    group by c.batch_id
    union all
    select e.batch_id, max(e.updated_at) as updated_at from core.real_estate_case as e
    group by e.batch_id
),
dataset_latest as (
    select 'registration' as dataset, max(r.updated_at) as updated_at from core.registration as r
    union all
    select 'tax_filing' as dataset, max(t.updated_at) as updated_at from core.tax_filing as t
    union all
    select 'credit_record' as dataset, max(c.updated_at) as updated_at from core.credit_record as c
    union all
    select 'real_estate_case' as dataset, max(e.updated_at) as updated_at from core.real_estate_case as e
),
last_working_day as (
    -- the freshness rule of bizenv.indicators.freshness: a dataset covers a month once core holds
    -- an update from the month's last statutory working day or later; months the stored
    -- working-day calendar does not hold have no rule
    select cast(date_trunc('month', w.day) as date) as month, max(w.day) as last_day
    from ops.work_calendar as w
    where w.is_working_day
    group by cast(date_trunc('month', w.day) as date)
),
failure_parts as (
    select
        q.batch_id,
        q.source_row,
        unnest(string_to_array(q.failures, '"rule": "')) as part
    from quarantine.v_rejected_row as q
),
failed_rules as (
    select distinct f.batch_id, f.source_row, split_part(f.part, '"', 1) as rule_name
    from failure_parts as f
    where f.part not like '[%'
),
rule_counts as (
    select b.source, b.dataset, b.month, r.rule_name, count(*) as row_count
    from failed_rules as r
    inner join batches as b on b.batch_id = r.batch_id
    group by b.source, b.dataset, b.month, r.rule_name
),
ranked_rules as (
    select
        r.source,
        r.dataset,
        r.month,
        r.rule_name,
        r.row_count,
        row_number() over (
            partition by r.source, r.dataset, r.month order by r.row_count desc, r.rule_name asc
        ) as rank_no
    from rule_counts as r
),
top_reasons as (
    select
        r.source,
        r.dataset,
        r.month,
        string_agg(r.rule_name || ' ' || cast(r.row_count as varchar), '; ' order by r.row_count desc, r.rule_name asc)
            as top_reasons
    from ranked_rules as r
    where r.rank_no <= 3
    group by r.source, r.dataset, r.month
),
grouped as (
    select
        b.source,
        b.dataset,
        b.month,
        cast(sum(coalesce(b.extracted, 0)) as bigint) as received_rows,
        cast(sum(coalesce(b.loaded, 0)) as bigint) as loaded_rows,
        cast(sum(coalesce(b.quarantined, 0)) as bigint) as quarantined_rows,
        cast(sum(coalesce(b.duplicates, 0)) as bigint) as duplicate_rows,
        max(case when b.status = 'loaded' then b.finished_at end) as last_successful_load_at,
        max(c.updated_at) as latest_changed_local
    from batches as b
    left join changed as c on c.batch_id = b.batch_id
    group by b.source, b.dataset, b.month
)
select
    d.department_code,
    d.department_name,
    g.source as source_name,
    g.dataset,
    g.month,
    g.received_rows,
    g.loaded_rows,
    g.quarantined_rows,
    g.duplicate_rows,
    coalesce(t.top_reasons, '') as top_reasons,
    g.last_successful_load_at,
    g.latest_changed_local - interval '8 hours' as latest_changed_at,
    case
        when w.last_day is null or l.dataset is null then cast(null as boolean)
        else coalesce(l.updated_at >= cast(w.last_day as timestamp), false)
    end as is_fresh
from grouped as g
inner join departments as d on d.dataset = g.dataset
left join top_reasons as t
    on t.source = g.source
        and t.dataset = g.dataset
        and t.month = g.month
left join dataset_latest as l on l.dataset = g.dataset
left join last_working_day as w on w.month = g.month
