-- a quarantined row is resolved once a later batch delivers its record correctly: the same
-- uscc, or, where the uscc itself was the defect (wrong check character, excel-mangled, missing
-- and not in the crosswalk), the same enterprise by name, 成立日期 and region.
update quarantine.registration
set
    resolved_at = cast(:resolved_at as timestamp),
    resolved_by_batch = :batch_id
where resolved_at is null
    and batch_id <> :batch_id
    and (
        record_key in (
            select s.uscc
            from ops.stage_registration as s
            where s.batch_id = :batch_id
        )
        or exists (
            select 1
            from ops.stage_registration as s
            where s.batch_id = :batch_id
                and s.name_key = quarantine.registration.name_key
                and s.established_date = quarantine.registration.established_date
                and s.region_code = quarantine.registration.region_code
        )
    )
