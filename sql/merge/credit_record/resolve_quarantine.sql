-- a quarantined row is resolved once a later batch delivers its record key correctly
update quarantine.credit_record
set
    resolved_at = cast(:resolved_at as timestamp),
    resolved_by_batch = :batch_id
where resolved_at is null
    and batch_id <> :batch_id
    and record_key in (
        select record_id
        from ops.stage_credit_record
        where batch_id = :batch_id
    )
