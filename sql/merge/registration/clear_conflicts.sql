-- a touched entity whose current region now agrees with a department record no longer
-- conflicts with it: clear that row (the records themselves are never deleted)
delete from core.entity_conflict
where field = 'region_code'
    and uscc in (
        select s.uscc
        from ops.stage_registration as s
        where s.batch_id = :batch_id
    )
    and exists (
        select 1
        from core.market_entity as m
        where m.uscc = core.entity_conflict.uscc
            and m.is_current
            and m.region_code = core.entity_conflict.department_value
    )
