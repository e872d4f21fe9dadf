-- the latest staged state of an entity already in core (the last staged row of the uscc by
-- updated_at, then file row) replaces core's row when it is newer; an older updated_at never
-- overwrites a newer one. (update-from + anti-join insert instead of insert .. on conflict:
-- one pass each, and no conflict check per row on duckdb; "latest" as in insert_registration.)
update core.registration
set legacy_reg_no = s.legacy_reg_no,
    name = s.name,
    name_key = s.name_key,
    entity_type = s.entity_type,
    legal_rep_name = s.legal_rep_name,
    legal_rep_id_hash = s.legal_rep_id_hash,
    legal_rep_id_masked = s.legal_rep_id_masked,
    region_code = s.region_code,
    industry_code = s.industry_code,
    registered_capital = s.registered_capital,
    established_date = s.established_date,
    submitted_at = s.submitted_at,
    issued_at = s.issued_at,
    channel = s.channel,
    status = s.status,
    status_date = s.status_date,
    updated_at = s.updated_at,
    batch_id = s.batch_id,
    changed_at = cast(:changed_at as timestamp)
from (
    select
        r.*,
        row_number() over (partition by r.uscc order by r.updated_at desc, r.source_row desc) as recency
    from ops.stage_registration as r
    where r.batch_id = :batch_id
) as s
where s.recency = 1
    and s.uscc = core.registration.uscc
    and s.updated_at > core.registration.updated_at
