-- core.market_entity (the golden record's scd2 history) as it stood at core.read_as_of()
-- (docs/history.md): the versions the warehouse had taken by then (changed_at), each valid until
-- the next of them. a late, older state slots into history later and shortens the version before
-- it, so valid_to is derived from the versions known at the cut-off, not read from the table.
-- a transaction that reads the present (no cut-off set) sees every version, as in the table.
create or replace view core.v_market_entity_as_of as
select
    m.uscc,
    m.valid_from,
    lead(m.valid_from) over (partition by m.uscc order by m.valid_from) as valid_to,
    m.entity_type,
    m.region_code,
    m.industry_code,
    m.status,
    m.status_date,
    m.established_date,
    m.name,
    m.batch_id,
    m.changed_at
from core.market_entity as m
where core.read_as_of() is null or m.changed_at <= core.read_as_of()
