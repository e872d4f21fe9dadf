-- staged keys whose latest version changes core: a new key, or newer than core's updated_at
with latest as (
    select case_id, max(updated_at) as updated_at
    from ops.stage_real_estate_case
    where batch_id = :batch_id
    group by case_id
)
select count(*) as applicable
from latest as s
left join core.real_estate_case as c on c.case_id = s.case_id
where c.case_id is null or s.updated_at > c.updated_at
