-- versions from earlier batches of the entities that got a new version in this batch: each
-- ends where the next begins, only the last is current. new versions were written with their
-- final validity, and an entity without a new version keeps its history as it is, so only the
-- affected keys are read.
with touched as (
    select distinct s.uscc
    from ops.stage_registration as s
    where s.batch_id = :batch_id
        and exists (
            select 1
            from core.market_entity as m
            where m.uscc = s.uscc
                and m.batch_id = :batch_id
        )
        and exists (
            select 1
            from core.market_entity as o
            where o.uscc = s.uscc
                and o.batch_id <> :batch_id
        )
),
ordered as (
    select
        m.uscc,
        m.valid_from,
        lead(m.valid_from) over (partition by m.uscc order by m.valid_from) as next_from
    from core.market_entity as m
    join touched as t on t.uscc = m.uscc
)
update core.market_entity
set valid_to = ordered.next_from,
    is_current = (ordered.next_from is null)
from ordered
where core.market_entity.uscc = ordered.uscc
    and core.market_entity.valid_from = ordered.valid_from
    and (
        core.market_entity.is_current <> (ordered.next_from is null)
        or coalesce(core.market_entity.valid_to, cast('9999-12-31' as timestamp))
            <> coalesce(ordered.next_from, cast('9999-12-31' as timestamp))
    )
