-- open a batch record before any work, so a failed run still leaves its trace
insert into ops.batch (
    batch_id, source, dataset, file_name, checksum, status, watermark_from, watermark_to, started_at
)
values (
    :batch_id, :source, :dataset, :file_name, :checksum, 'running',
    cast(:watermark_from as timestamp), cast(:watermark_to as timestamp), cast(:started_at as timestamp)
)
