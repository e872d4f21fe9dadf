-- close a batch with its reconciled counts and final status
update ops.batch
set
    landing_path = :landing_path,
    extracted = :extracted,
    loaded = :loaded,
    quarantined = :quarantined,
    duplicates = :duplicates,
    status = :status,
    reason = :reason,
    finished_at = cast(:finished_at as timestamp)
where batch_id = :batch_id
