-- open and resolved quarantined rows per dataset; optional bounds on quarantined_at (naive utc)
select
    q.dataset,
    sum(case when q.resolved_at is null then 1 else 0 end) as open_rows,
    sum(case when q.resolved_at is null then 0 else 1 end) as resolved_rows
from quarantine.v_rejected_row as q
where (cast(:quarantined_from as timestamp) is null or q.quarantined_at >= cast(:quarantined_from as timestamp))
    and (cast(:quarantined_to as timestamp) is null or q.quarantined_at < cast(:quarantined_to as timestamp))
group by q.dataset
