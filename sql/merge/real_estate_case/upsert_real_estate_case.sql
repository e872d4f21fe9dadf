-- the latest staged version of each record replaces an older core row, never a newer one
insert into core.real_estate_case (
    case_id, unit_code, applicant_type, applicant_uscc, applicant_id_hash, applicant_id_masked,
    registration_type, region_code, submitted_at, completed_at, submitted_at_date_only,
    completed_at_date_only, channel, updated_at, batch_id, changed_at
)
with ranked as (
    select
        s.*,
        row_number() over (partition by s.case_id order by s.updated_at desc, s.source_row desc) as recency
    from ops.stage_real_estate_case as s
    where s.batch_id = :batch_id
)
select
    case_id, unit_code, applicant_type, applicant_uscc, applicant_id_hash, applicant_id_masked,
    registration_type, region_code, submitted_at, completed_at, submitted_at_date_only,
    completed_at_date_only, channel, updated_at, batch_id, cast(:changed_at as timestamp)
from ranked
where recency = 1
on conflict (case_id) do update set
    unit_code = excluded.unit_code,
    applicant_type = excluded.applicant_type,
    applicant_uscc = excluded.applicant_uscc,
    applicant_id_hash = excluded.applicant_id_hash,
    applicant_id_masked = excluded.applicant_id_masked,
    registration_type = excluded.registration_type,
    region_code = excluded.region_code,
    submitted_at = excluded.submitted_at,
    completed_at = excluded.completed_at,
    submitted_at_date_only = excluded.submitted_at_date_only,
    completed_at_date_only = excluded.completed_at_date_only,
    channel = excluded.channel,
    updated_at = excluded.updated_at,
    batch_id = excluded.batch_id,
    changed_at = excluded.changed_at
where excluded.updated_at > core.real_estate_case.updated_at
