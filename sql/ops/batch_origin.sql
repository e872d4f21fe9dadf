-- where one batch came from and where its raw rows are landed
select
    batch_id,
    source,
    dataset,
    file_name,
    checksum,
    landing_path
from ops.batch
where batch_id = :batch_id
