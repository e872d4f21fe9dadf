-- staged rows that change core: new keys, or a newer updated_at than core holds
with staged as (
    select distinct uscc, updated_at
    from ops.stage_registration
    where batch_id = :batch_id
)
select count(*) as applicable
from staged as s
left join core.market_entity as m
    on m.uscc = s.uscc and m.valid_from = s.updated_at
where m.uscc is null
