-- core.registration as it stood at core.read_as_of() (docs/history.md): the version the warehouse held
-- then, from core.registration_version. a transaction that reads the present (no cut-off set) sees
-- the current versions, the same rows as core.registration.
create or replace view core.v_registration_as_of as
select
    v.uscc, v.legacy_reg_no, v.name, v.name_key, v.entity_type, v.legal_rep_name,
    v.legal_rep_id_hash, v.legal_rep_id_masked, v.region_code, v.industry_code,
    v.registered_capital, v.established_date, v.submitted_at, v.issued_at, v.channel, v.status,
    v.status_date, v.updated_at, v.batch_id, v.changed_at, v.event_type,
    v.submitted_at_date_only, v.issued_at_date_only, v.event_key
from core.registration_version as v
where
    (core.read_as_of() is null and v.superseded_at is null)
    or (
        v.changed_at <= core.read_as_of()
        and (v.superseded_at is null or v.superseded_at > core.read_as_of())
    )
