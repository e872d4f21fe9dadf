-- entities new to core: their latest staged state (the last staged row of the uscc by
-- updated_at, then file row). "latest" is a window, as for every dataset, not an anti-join of
-- the stage with itself: postgresql has no statistics for a freshly filled stage and nests loops
-- over such a self-join, quadratic in the batch size (9 s for 8,000 rows).
insert into core.registration (
    uscc, legacy_reg_no, name, name_key, entity_type, legal_rep_name, legal_rep_id_hash,
    legal_rep_id_masked, region_code, industry_code, registered_capital, established_date,
    submitted_at, issued_at, channel, status, status_date, updated_at, batch_id, changed_at
)
with ranked as (
    select
        s.*,
        row_number() over (partition by s.uscc order by s.updated_at desc, s.source_row desc) as recency
    from ops.stage_registration as s
    where s.batch_id = :batch_id
)
select
    s.uscc, s.legacy_reg_no, s.name, s.name_key, s.entity_type, s.legal_rep_name, s.legal_rep_id_hash,
    s.legal_rep_id_masked, s.region_code, s.industry_code, s.registered_capital, s.established_date,
    s.submitted_at, s.issued_at, s.channel, s.status, s.status_date, s.updated_at, s.batch_id,
    cast(:changed_at as timestamp)
from ranked as s
where s.recency = 1
    and not exists (
        select 1
        from core.registration as c
        where c.uscc = s.uscc
    )
