-- the latest staged version of each record replaces an older core row, never a newer one
insert into core.credit_record (
    record_id, uscc, region_code, record_type, record_date, removal_date, authority,
    updated_at, batch_id, changed_at
)
with ranked as (
    select
        s.*,
        row_number() over (partition by s.record_id order by s.updated_at desc, s.source_row desc) as recency
    from ops.stage_credit_record as s
    where s.batch_id = :batch_id
)
select
    record_id, uscc, region_code, record_type, record_date, removal_date, authority,
    updated_at, batch_id,
    cast(:changed_at as timestamp)
from ranked
where recency = 1
on conflict (record_id) do update set
    uscc = excluded.uscc,
    region_code = excluded.region_code,
    record_type = excluded.record_type,
    record_date = excluded.record_date,
    removal_date = excluded.removal_date,
    authority = excluded.authority,
    updated_at = excluded.updated_at,
    batch_id = excluded.batch_id,
    changed_at = excluded.changed_at
where excluded.updated_at > core.credit_record.updated_at
