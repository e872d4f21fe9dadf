-- a batch whose raw rows are landed waits, owned by no process, for the validate-and-merge
-- step (another task, often on another worker) to take it
update ops.batch
set
    status = 'landed',
    worker_host = null,
    worker_pid = null
where batch_id = :batch_id
    and status = 'running'
