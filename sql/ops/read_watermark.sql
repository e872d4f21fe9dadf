-- the stored watermark of one source: the latest department change time merged so far
select source, dataset, watermark, batch_id, advanced_at
from ops.watermark
where source = :source
