-- move a snapshot run to its next status (computed -> validated -> published, or failed)
update ops.snapshot_run
set
    status = :status,
    reason = :reason,
    finished_at = cast(:finished_at as timestamp)
where run_id = :run_id
    and status = :from_status
