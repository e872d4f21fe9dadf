-- a conflict lists a current disagreement: once a later delivery of the record agrees with the
-- golden record (or names another enterprise), its conflict row is cleared. the department
-- records themselves are never deleted.
delete from core.entity_conflict
where dataset = 'credit_record'
    and field = 'region_code'
    and record_key in (
        select s.record_id
        from ops.stage_credit_record as s
        where s.batch_id = :batch_id
    )
    and not exists (
        select 1
        from core.credit_record as t
        join core.market_entity as m on m.uscc = t.uscc and m.is_current
        where t.record_id = core.entity_conflict.record_key
            and t.uscc = core.entity_conflict.uscc
            and t.region_code <> m.region_code
    )
