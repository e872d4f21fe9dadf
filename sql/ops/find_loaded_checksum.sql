-- a loaded batch of the dataset with the same content hash: a re-delivered file
with loaded as (
    select batch_id, file_name, started_at
    from ops.batch
    where dataset = :dataset
        and checksum = :checksum
        and status = 'loaded'
)
select batch_id, file_name
from loaded
order by started_at
limit 1
