-- a landed batch taken up by the process that validates and merges it. only a landed batch is
-- taken, so two steps given one batch cannot both run it
update ops.batch
set
    status = 'running',
    worker_host = :worker_host,
    worker_pid = :worker_pid
where batch_id = :batch_id
    and status = 'landed'
