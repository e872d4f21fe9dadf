-- the state of every market entity at every month end (docs/indicators.md, "Month-end entity
-- state"), the one place of the month-end rule every stock indicator reads: an entity's state at a
-- month end is its version with
--   valid_from < month_end and (valid_to is null or valid_to >= month_end),
-- or, when it has none, its first version (the entity was first recorded after the month end, e.g.
-- by a late delivery). region_code is that version's unit, or for a 迁出 superseded by the entity's
-- 迁入 into another unit the unit it moved to (core.v_entity_state), so a move between units never
-- drops the entity from the prefecture, whichever department delivered first. is_surviving:
-- established before the month end and not 注销/吊销/迁出 on or before it (exit_date, dated by
-- evidence in core.v_entity_state). pick a month with month_end = :month_end.
create or replace view core.v_entity_month_end as
select
    m.month_end,
    s.uscc,
    s.region_code,
    s.entity_type,
    s.established_date,
    s.exit_date,
    s.established_date < cast(m.month_end as date)
    and (s.exit_date is null or s.exit_date >= cast(m.month_end as date)) as is_surviving
from core.v_month as m
inner join core.v_entity_state as s
    on (
        s.valid_from < m.month_end
        and (s.valid_to is null or s.valid_to >= m.month_end)
    )
    or (s.is_first and s.valid_from >= m.month_end)
