-- survivorship, for every enterprise a batch touched (its registration, or one of its tax
-- filings or credit records): each current disagreement is recorded once per (uscc, dataset,
-- record key, field). delivery order does not matter, and re-running a batch changes nothing,
-- not even detected_at.
insert into core.entity_conflict (
    uscc, dataset, record_key, field, core_value, department_value, batch_id, detected_at
)
with touched as (
    select s.uscc from ops.stage_registration as s
    where s.batch_id = :batch_id
    union
    select s.uscc from ops.stage_tax_filing as s
    where s.batch_id = :batch_id
    union
    select s.uscc from ops.stage_credit_record as s
    where s.batch_id = :batch_id
)
select
    v.uscc, v.dataset, v.record_key, 'region_code', v.core_value, v.department_value,
    cast(:batch_id as varchar), cast(:changed_at as timestamp)
from core.v_region_disagreement as v
inner join touched as t on t.uscc = v.uscc
on conflict (uscc, dataset, record_key, field) do update set
    core_value = excluded.core_value,
    department_value = excluded.department_value,
    batch_id = excluded.batch_id,
    detected_at = excluded.detected_at
where core.entity_conflict.core_value is distinct from excluded.core_value
or core.entity_conflict.department_value is distinct from excluded.department_value
