-- survivorship: registration is authoritative for an entity's region. a tax_filing record (as it
-- stands in core after this batch) whose region differs from the entity's current region in
-- core.market_entity is recorded as a conflict, never applied to the golden record. a conflict
-- is detected once per (uscc, dataset, record key, field); re-running a batch changes nothing.
insert into core.entity_conflict (
    uscc, dataset, record_key, field, core_value, department_value, batch_id, detected_at
)
select
    t.uscc, 'tax_filing', t.filing_id, 'region_code', m.region_code, t.region_code, cast(:batch_id as varchar),
    cast(:changed_at as timestamp)
from core.tax_filing as t
join core.market_entity as m on m.uscc = t.uscc and m.is_current
where t.filing_id in (
        select s.filing_id
        from ops.stage_tax_filing as s
        where s.batch_id = :batch_id
    )
    and t.region_code <> m.region_code
on conflict (uscc, dataset, record_key, field) do update set
    core_value = excluded.core_value,
    department_value = excluded.department_value,
    batch_id = excluded.batch_id,
    detected_at = excluded.detected_at
where core.entity_conflict.core_value is distinct from excluded.core_value
    or core.entity_conflict.department_value is distinct from excluded.department_value
