-- the status of one batch and the latest department change time among its rows
select
    batch_id,
    status,
    watermark_to
from ops.batch
where batch_id = :batch_id
