-- the batches still marked running, with the process that runs them
select
    batch_id,
    dataset,
    worker_host,
    worker_pid,
    started_at,
    landing_path
from ops.batch
where status = 'running'
order by started_at, batch_id
