-- a failed batch taken up again by bizenv reload: running again, under the reloading process.
-- only a failed batch is taken, so two reloads of one batch cannot both run it
update ops.batch
set
    status = 'running',
    reason = null,
    finished_at = null,
    worker_host = :worker_host,
    worker_pid = :worker_pid
where batch_id = :batch_id
    and status = 'failed'
