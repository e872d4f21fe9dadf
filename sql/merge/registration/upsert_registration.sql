-- the latest staged version of each entity replaces an older core row, never a newer one
insert into core.registration (
    uscc, legacy_reg_no, name, name_key, entity_type, legal_rep_name, legal_rep_id_hash,
    legal_rep_id_masked, region_code, industry_code, registered_capital, established_date,
    submitted_at, issued_at, channel, status, status_date, updated_at, batch_id, changed_at
)
with ranked as (
    select
        s.*,
        row_number() over (partition by s.uscc order by s.updated_at desc, s.source_row desc) as recency
    from ops.stage_registration as s
    where s.batch_id = :batch_id
)
select
    uscc, legacy_reg_no, name, name_key, entity_type, legal_rep_name, legal_rep_id_hash,
    legal_rep_id_masked, region_code, industry_code, registered_capital, established_date,
    submitted_at, issued_at, channel, status, status_date, updated_at, batch_id,
    cast(:changed_at as timestamp)
from ranked
where recency = 1
on conflict (uscc) do update set
    legacy_reg_no = excluded.legacy_reg_no,
    name = excluded.name,
    name_key = excluded.name_key,
    entity_type = excluded.entity_type,
    legal_rep_name = excluded.legal_rep_name,
    legal_rep_id_hash = excluded.legal_rep_id_hash,
    legal_rep_id_masked = excluded.legal_rep_id_masked,
    region_code = excluded.region_code,
    industry_code = excluded.industry_code,
    registered_capital = excluded.registered_capital,
    established_date = excluded.established_date,
    submitted_at = excluded.submitted_at,
    issued_at = excluded.issued_at,
    channel = excluded.channel,
    status = excluded.status,
    status_date = excluded.status_date,
    updated_at = excluded.updated_at,
    batch_id = excluded.batch_id,
    changed_at = excluded.changed_at
where excluded.updated_at > core.registration.updated_at
