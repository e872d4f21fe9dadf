-- entities new to core: their latest staged state (no newer staged row of the same uscc)
insert into core.registration (
    uscc, legacy_reg_no, name, name_key, entity_type, legal_rep_name, legal_rep_id_hash,
    legal_rep_id_masked, region_code, industry_code, registered_capital, established_date,
    submitted_at, issued_at, channel, status, status_date, updated_at, batch_id, changed_at
)
select
    s.uscc, s.legacy_reg_no, s.name, s.name_key, s.entity_type, s.legal_rep_name, s.legal_rep_id_hash,
    s.legal_rep_id_masked, s.region_code, s.industry_code, s.registered_capital, s.established_date,
    s.submitted_at, s.issued_at, s.channel, s.status, s.status_date, s.updated_at, s.batch_id,
    cast(:changed_at as timestamp)
from ops.stage_registration as s
where s.batch_id = :batch_id
    and not exists (
        select 1
        from core.registration as c
        where c.uscc = s.uscc
    )
    and not exists (
        select 1
        from ops.stage_registration as n
        where n.batch_id = s.batch_id
            and n.uscc = s.uscc
            and (n.updated_at > s.updated_at or (n.updated_at = s.updated_at and n.source_row > s.source_row))
    )
