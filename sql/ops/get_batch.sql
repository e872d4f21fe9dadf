-- one batch's record, for bizenv reload
select
    batch_id,
    source,
    dataset,
    file_name,
    status,
    reason,
    landing_path,
    extracted,
    loaded,
    quarantined,
    duplicates,
    worker_host,
    worker_pid,
    started_at
from ops.batch
where batch_id = :batch_id
