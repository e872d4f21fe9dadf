-- department values that disagree with the golden record (registration stays authoritative)
select
    uscc,
    dataset,
    record_key,
    field,
    core_value,
    department_value,
    batch_id,
    detected_at
from core.entity_conflict
where cast(:dataset as varchar) is null or dataset = cast(:dataset as varchar)
order by detected_at desc, uscc asc, dataset asc, record_key asc
