-- record a source's watermark after its batch merged; it only ever moves forward
insert into ops.watermark (source, dataset, watermark, batch_id, advanced_at)
values (:source, :dataset, cast(:watermark as timestamp), :batch_id, cast(:advanced_at as timestamp))
on conflict (source) do update set
    dataset = excluded.dataset,
    watermark = excluded.watermark,
    batch_id = excluded.batch_id,
    advanced_at = excluded.advanced_at
where excluded.watermark > ops.watermark.watermark
