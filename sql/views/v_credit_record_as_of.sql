-- core.credit_record as it stood at core.read_as_of() (docs/history.md): the version the warehouse held
-- then, from core.credit_record_version. a transaction that reads the present (no cut-off set) sees
-- the current versions, the same rows as core.credit_record.
create or replace view core.v_credit_record_as_of as
select
    v.record_id, v.uscc, v.region_code, v.record_type, v.record_date, v.removal_date,
    v.authority, v.updated_at, v.batch_id, v.changed_at
from core.credit_record_version as v
where
    (core.read_as_of() is null and v.superseded_at is null)
    or (
        v.changed_at <= core.read_as_of()
        and (v.superseded_at is null or v.superseded_at > core.read_as_of())
    )
