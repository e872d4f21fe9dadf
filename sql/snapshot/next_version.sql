-- the version number a new snapshot run of the month gets
select coalesce(max(r.version), 0) + 1 as version
from ops.snapshot_run as r
where r.month = :month
