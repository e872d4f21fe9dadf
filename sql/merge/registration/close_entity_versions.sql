-- earlier versions of the entities that got a new version in this batch: a version whose
-- validity interval now contains the start of a new version ends there and is no longer current.
-- (new versions were written with their final validity; only the affected keys are touched,
-- without recomputing any entity's whole history.)
with split as (
    select e.uscc, e.valid_from, min(s.updated_at) as next_from
    from ops.stage_registration as s
    inner join core.market_entity as e on e.uscc = s.uscc
    where s.batch_id = :batch_id
        and e.batch_id <> :batch_id
        and s.updated_at > e.valid_from
        and (e.valid_to is null or s.updated_at < e.valid_to)
    group by e.uscc, e.valid_from
)
update core.market_entity
set
    valid_to = split.next_from,
    is_current = false
from split
where core.market_entity.uscc = split.uscc
    and core.market_entity.valid_from = split.valid_from
