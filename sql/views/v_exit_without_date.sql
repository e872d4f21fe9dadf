-- exits (注销/吊销/迁出) the warehouse can date by the department's 更新时间 alone: no 状态日期 and no
-- application of that exit type with a 核准时间 or 申请时间 (docs/indicators.md, "Month-end entity
-- state"), and no later exit of the entity dated earlier. their month-end stock rests on when the
-- department happened to record them, so `bizenv quarantine list --rule exit_without_date` lists
-- them for the department to supply the date. one row per exit, where it was first recorded; a
-- 迁出 superseded by a 迁入 into another unit is no exit and is not listed. no personal data.
create or replace view core.v_exit_without_date as
select
    s.uscc,
    s.name,
    s.recorded_region_code as region_code,
    s.entity_type,
    s.status,
    s.established_date,
    s.own_exit_date as dated_by_updated_at,
    s.exit_recorded_at as updated_at,
    s.batch_id
from core.v_entity_state as s
where
    s.exit_dated_by = 'updated_at'
    and s.valid_from = s.exit_recorded_at
    and s.exit_date = s.own_exit_date
