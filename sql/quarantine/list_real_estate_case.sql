-- quarantined real_estate_case rows with their batch, for engineers and department feedback
select
    'real_estate_case' as dataset,
    q.batch_id,
    b.file_name,
    q.source_row,
    q.record_key,
    q.region_code,
    q.reason_zh,
    q.reason_en,
    q.failures,
    q.record,
    q.quarantined_at,
    q.resolved_at,
    q.resolved_by_batch
from quarantine.real_estate_case as q
join ops.batch as b on b.batch_id = q.batch_id
where :include_resolved or q.resolved_at is null
order by q.quarantined_at, q.batch_id, q.source_row
