-- quarantined rows with their batch and, once corrected, the batch that resolved them;
-- optional filters: one dataset, and bounds on quarantined_at (naive utc) for a feedback month
select
    q.dataset,
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
    case when q.resolved_at is null then 'open' else 'resolved' end as status,
    q.resolved_at,
    q.resolved_by_batch,
    r.file_name as resolved_by_file
from quarantine.v_rejected_row as q
inner join ops.batch as b on b.batch_id = q.batch_id
left join ops.batch as r on r.batch_id = q.resolved_by_batch
where (cast(:dataset as varchar) is null or q.dataset = cast(:dataset as varchar))
    and (:include_resolved or q.resolved_at is null)
    and (cast(:quarantined_from as timestamp) is null or q.quarantined_at >= cast(:quarantined_from as timestamp))
    and (cast(:quarantined_to as timestamp) is null or q.quarantined_at < cast(:quarantined_to as timestamp))
order by q.quarantined_at, q.batch_id, q.source_row
