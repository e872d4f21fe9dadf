-- core.real_estate_case as it stood at core.read_as_of() (docs/history.md): the version the warehouse held
-- then, from core.real_estate_case_version. a transaction that reads the present (no cut-off set) sees
-- the current versions, the same rows as core.real_estate_case.
create or replace view core.v_real_estate_case_as_of as
select
    v.case_id, v.unit_code, v.applicant_type, v.applicant_uscc, v.applicant_id_hash,
    v.applicant_id_masked, v.registration_type, v.region_code, v.submitted_at, v.completed_at,
    v.channel, v.updated_at, v.batch_id, v.changed_at, v.submitted_at_date_only,
    v.completed_at_date_only
from core.real_estate_case_version as v
where
    (core.read_as_of() is null and v.superseded_at is null)
    or (
        v.changed_at <= core.read_as_of()
        and (v.superseded_at is null or v.superseded_at > core.read_as_of())
    )
