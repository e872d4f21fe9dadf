-- a conflict lists a current disagreement: once the enterprise's registration or a later
-- delivery of the record agrees (or the record now names another enterprise), the conflict row
-- of a record or enterprise this batch touched is cleared. records are never deleted.
delete from core.entity_conflict
where field = 'region_code'
    and (
        uscc in (
            select s.uscc from ops.stage_registration as s
            where s.batch_id = :batch_id
            union
            select s.uscc from ops.stage_tax_filing as s
            where s.batch_id = :batch_id
            union
            select s.uscc from ops.stage_credit_record as s
            where s.batch_id = :batch_id
        )
        or exists (
            select 1
            from ops.stage_tax_filing as s
            where s.batch_id = :batch_id
                and core.entity_conflict.dataset = 'tax_filing'
                and s.filing_id = core.entity_conflict.record_key
        )
        or exists (
            select 1
            from ops.stage_credit_record as s
            where s.batch_id = :batch_id
                and core.entity_conflict.dataset = 'credit_record'
                and s.record_id = core.entity_conflict.record_key
        )
    )
    and not exists (
        select 1
        from core.v_region_disagreement as v
        where v.dataset = core.entity_conflict.dataset
            and v.record_key = core.entity_conflict.record_key
            and v.uscc = core.entity_conflict.uscc
    )
