-- every record this merge wrote into core.registration becomes its current version (docs/history.md);
-- a re-run batch writes nothing into core, so nothing here either
insert into core.registration_version (
    uscc, legacy_reg_no, name, name_key, entity_type, legal_rep_name, legal_rep_id_hash,
    legal_rep_id_masked, region_code, industry_code, registered_capital, established_date,
    submitted_at, issued_at, channel, status, status_date, updated_at, batch_id, changed_at,
    event_type, submitted_at_date_only, issued_at_date_only, event_key,
    superseded_at
)
select
    c.uscc, c.legacy_reg_no, c.name, c.name_key, c.entity_type, c.legal_rep_name,
    c.legal_rep_id_hash, c.legal_rep_id_masked, c.region_code, c.industry_code,
    c.registered_capital, c.established_date, c.submitted_at, c.issued_at, c.channel, c.status,
    c.status_date, c.updated_at, c.batch_id, c.changed_at, c.event_type,
    c.submitted_at_date_only, c.issued_at_date_only, c.event_key,
    cast(null as timestamp) as superseded_at
from core.registration as c
where c.batch_id = :batch_id
    and c.changed_at = cast(:changed_at as timestamp)
