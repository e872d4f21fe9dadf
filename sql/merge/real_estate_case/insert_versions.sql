-- every record this merge wrote into core.real_estate_case becomes its current version (docs/history.md);
-- a re-run batch writes nothing into core, so nothing here either
insert into core.real_estate_case_version (
    case_id, unit_code, applicant_type, applicant_uscc, applicant_id_hash, applicant_id_masked,
    registration_type, region_code, submitted_at, completed_at, channel, updated_at, batch_id,
    changed_at, submitted_at_date_only, completed_at_date_only,
    superseded_at
)
select
    c.case_id, c.unit_code, c.applicant_type, c.applicant_uscc, c.applicant_id_hash,
    c.applicant_id_masked, c.registration_type, c.region_code, c.submitted_at, c.completed_at,
    c.channel, c.updated_at, c.batch_id, c.changed_at, c.submitted_at_date_only,
    c.completed_at_date_only,
    cast(null as timestamp) as superseded_at
from core.real_estate_case as c
where c.batch_id = :batch_id
    and c.changed_at = cast(:changed_at as timestamp)
