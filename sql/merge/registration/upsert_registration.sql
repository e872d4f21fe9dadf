-- one set-based upsert of core.registration, which keeps every registration application a
-- department delivered as an event (docs/indicators.md, "Registration applications"): one row per
-- (uscc, event_type, event_key). event_key is '' for 设立 (a uscc is established once; a later 设立
-- delivery corrects that event) and the application's own time (申请时间, else 核准时间, 状态日期,
-- 更新时间) for every other 业务类型, so a later 变更, 迁移 or 注销 is a new row and never rewrites the
-- 设立 event, its 办理方式 or its region at approval. the latest staged row of each application (by
-- updated_at, then file row) is inserted when new and replaces core's row when it is newer; an
-- older updated_at never overwrites a newer one (late and out-of-order deliveries). "latest" is a
-- window, not an anti-join of the stage with itself: postgresql has no statistics for a freshly
-- filled stage and nests loops over such a self-join, quadratic in the batch size (9 s for 8,000
-- rows). one merge, not an update then an anti-join insert: the stage is ranked once, and each key
-- is looked up once.
-- the linter's postgres grammar lacks `with ... merge` (valid on postgresql 15+ and duckdb)
with keyed as (  -- noqa: PRS
    select
        r.*,
        case
            when r.event_type = '设立' then ''
            else cast(coalesce(r.submitted_at, r.issued_at, cast(r.status_date as timestamp), r.updated_at) as varchar)
        end as event_key
    from ops.stage_registration as r
    where r.batch_id = :batch_id
),
ranked as (
    select
        k.*,
        row_number() over (
            partition by k.uscc, k.event_type, k.event_key order by k.updated_at desc, k.source_row desc
        ) as recency
    from keyed as k
),
latest as (
    select * from ranked where recency = 1
)
merge into core.registration as c
using latest as s
on c.uscc = s.uscc and c.event_type = s.event_type and c.event_key = s.event_key
when matched and s.updated_at > c.updated_at then update set
    legacy_reg_no = s.legacy_reg_no,
    name = s.name,
    name_key = s.name_key,
    entity_type = s.entity_type,
    legal_rep_name = s.legal_rep_name,
    legal_rep_id_hash = s.legal_rep_id_hash,
    legal_rep_id_masked = s.legal_rep_id_masked,
    region_code = s.region_code,
    industry_code = s.industry_code,
    registered_capital = cast(s.registered_capital as numeric(18, 4)),
    established_date = s.established_date,
    submitted_at = s.submitted_at,
    issued_at = s.issued_at,
    submitted_at_date_only = s.submitted_at_date_only,
    issued_at_date_only = s.issued_at_date_only,
    channel = s.channel,
    status = s.status,
    status_date = s.status_date,
    updated_at = s.updated_at,
    batch_id = s.batch_id,
    changed_at = cast(:changed_at as timestamp)
when not matched then insert (
    uscc, legacy_reg_no, name, name_key, entity_type, legal_rep_name, legal_rep_id_hash,
    legal_rep_id_masked, region_code, industry_code, registered_capital, established_date,
    submitted_at, issued_at, submitted_at_date_only, issued_at_date_only, event_type, event_key, channel,
    status, status_date, updated_at, batch_id, changed_at
) values (
    s.uscc, s.legacy_reg_no, s.name, s.name_key, s.entity_type, s.legal_rep_name, s.legal_rep_id_hash,
    s.legal_rep_id_masked, s.region_code, s.industry_code, cast(s.registered_capital as numeric(18, 4)),
    s.established_date,
    s.submitted_at, s.issued_at, s.submitted_at_date_only, s.issued_at_date_only, s.event_type, s.event_key,
    s.channel, s.status, s.status_date, s.updated_at, s.batch_id, cast(:changed_at as timestamp)
)
