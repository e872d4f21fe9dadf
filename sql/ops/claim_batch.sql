-- the process that runs a batch: the next ingest can tell a batch whose process is gone from
-- one still running
update ops.batch
set
    worker_host = :worker_host,
    worker_pid = :worker_pid
where batch_id = :batch_id
