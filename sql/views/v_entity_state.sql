-- the versions of core.market_entity with what a month-end stock needs (docs/indicators.md):
-- is_first marks the earliest known version (the state of an entity first recorded after a
-- month end, e.g. a late delivery); exit_date is the earliest 注销/吊销/迁出 date known from this
-- version onwards (status_date, else the day the version was recorded), so an exit recorded
-- after the month end but dated on or before it still ends the entity's stock at that month.
-- the state of an entity at a month end (its version then) is core.v_entity_month_end.
create or replace view core.v_entity_state as
with versions as (
    select
        m.uscc,
        m.valid_from,
        m.valid_to,
        m.entity_type,
        m.region_code,
        m.established_date,
        m.status,
        case
            when m.status in ('注销', '吊销', '迁出') then coalesce(m.status_date, cast(m.valid_from as date))
        end as own_exit_date,
        row_number() over (partition by m.uscc order by m.valid_from) as version_no
    from core.market_entity as m
)
select
    v.uscc,
    v.valid_from,
    v.valid_to,
    v.version_no = 1 as is_first,
    v.entity_type,
    v.region_code,
    v.established_date,
    v.status,
    min(v.own_exit_date) over (
        partition by v.uscc
        order by v.valid_from desc
        rows between unbounded preceding and current row
    ) as exit_date
from versions as v
