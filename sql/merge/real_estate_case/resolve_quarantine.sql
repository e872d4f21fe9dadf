-- a quarantined row is resolved once a later batch delivers its record key correctly
update quarantine.real_estate_case
set
    resolved_at = cast(:resolved_at as timestamp),
    resolved_by_batch = :batch_id
where resolved_at is null
    and batch_id <> :batch_id
    and record_key in (
        select case_id
        from ops.stage_real_estate_case
        where batch_id = :batch_id
    )
