-- the latest batches with their reconciled counts, for operators
select
    source,
    dataset,
    status,
    extracted,
    loaded,
    quarantined,
    duplicates,
    file_name,
    started_at
from ops.batch
order by started_at desc, batch_id asc
limit 50
