-- survivorship, seen from the registration side: when an entity's current region changes (or
-- the entity first reaches core after the department records), every tax filing and credit
-- record of a touched entity whose region differs from the golden record is recorded as a
-- conflict. registration stays authoritative; nothing is overwritten. a real-estate case's
-- region is where the property lies, not a claim about the enterprise, so it never conflicts.
insert into core.entity_conflict (
    uscc, dataset, record_key, field, core_value, department_value, batch_id, detected_at
)
with touched as (
    select distinct s.uscc
    from ops.stage_registration as s
    where s.batch_id = :batch_id
),
department as (
    select t.uscc, 'tax_filing' as dataset, t.filing_id as record_key, t.region_code
    from core.tax_filing as t
    join touched as x on x.uscc = t.uscc
    union all
    select c.uscc, 'credit_record' as dataset, c.record_id as record_key, c.region_code
    from core.credit_record as c
    join touched as x on x.uscc = c.uscc
)
select
    d.uscc, d.dataset, d.record_key, 'region_code', m.region_code, d.region_code, cast(:batch_id as varchar),
    cast(:changed_at as timestamp)
from department as d
join core.market_entity as m on m.uscc = d.uscc and m.is_current
where d.region_code <> m.region_code
on conflict (uscc, dataset, record_key, field) do update set
    core_value = excluded.core_value,
    department_value = excluded.department_value,
    batch_id = excluded.batch_id,
    detected_at = excluded.detected_at
where core.entity_conflict.core_value is distinct from excluded.core_value
    or core.entity_conflict.department_value is distinct from excluded.department_value
