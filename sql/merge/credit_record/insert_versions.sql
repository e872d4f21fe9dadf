-- every record this merge wrote into core.credit_record becomes its current version (docs/history.md);
-- a re-run batch writes nothing into core, so nothing here either
insert into core.credit_record_version (
    record_id, uscc, region_code, record_type, record_date, removal_date, authority, updated_at,
    batch_id, changed_at,
    superseded_at
)
select
    c.record_id, c.uscc, c.region_code, c.record_type, c.record_date, c.removal_date,
    c.authority, c.updated_at, c.batch_id, c.changed_at,
    cast(null as timestamp) as superseded_at
from core.credit_record as c
where c.batch_id = :batch_id
    and c.changed_at = cast(:changed_at as timestamp)
