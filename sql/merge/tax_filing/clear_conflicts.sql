-- a conflict lists a current disagreement: once a later delivery of the record agrees with the
-- golden record (or names another enterprise), its conflict row is cleared. the department
-- records themselves are never deleted.
delete from core.entity_conflict
where dataset = 'tax_filing'
    and field = 'region_code'
    and record_key in (
        select s.filing_id
        from ops.stage_tax_filing as s
        where s.batch_id = :batch_id
    )
    and not exists (
        select 1
        from core.tax_filing as t
        join core.market_entity as m on m.uscc = t.uscc and m.is_current
        where t.filing_id = core.entity_conflict.record_key
            and t.uscc = core.entity_conflict.uscc
            and t.region_code <> m.region_code
    )
