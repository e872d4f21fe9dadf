-- one snapshot run
select r.run_id, r.month, r.version, r.status, r.row_count, r.reason
from ops.snapshot_run as r
where r.run_id = :run_id
