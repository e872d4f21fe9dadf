-- staged keys whose latest version changes core: a new key, or newer than core's updated_at
with latest as (
    select record_id, max(updated_at) as updated_at
    from ops.stage_credit_record
    where batch_id = :batch_id
    group by record_id
)
select count(*) as applicable
from latest as s
left join core.credit_record as c on c.record_id = s.record_id
where c.record_id is null or s.updated_at > c.updated_at
