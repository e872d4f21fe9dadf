-- a conflict lists a current disagreement: once a later delivery of the record agrees with the
-- golden record (or names another enterprise), its conflict row is cleared. the department
-- records themselves are never deleted.
delete from core.entity_conflict
where dataset = 'real_estate_case'
    and field = 'region_code'
    and record_key in (
        select s.case_id
        from ops.stage_real_estate_case as s
        where s.batch_id = :batch_id
    )
    and not exists (
        select 1
        from core.real_estate_case as t
        join core.market_entity as m on m.uscc = t.applicant_uscc and m.is_current
        where t.case_id = core.entity_conflict.record_key
            and t.applicant_uscc = core.entity_conflict.uscc
            and t.applicant_type = '企业'
            and t.applicant_uscc is not null
            and t.region_code <> m.region_code
    )
