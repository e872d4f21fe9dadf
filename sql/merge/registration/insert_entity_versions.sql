-- every staged state becomes a version of the golden record; a late older state slots into history
insert into core.market_entity (
    uscc, valid_from, valid_to, is_current, name, name_key, entity_type, region_code,
    industry_code, status, status_date, established_date, legal_rep_name, legal_rep_id_hash,
    legal_rep_id_masked, batch_id, changed_at
)
with versions as (
    select
        s.*,
        row_number() over (partition by s.uscc, s.updated_at order by s.source_row desc) as pick
    from ops.stage_registration as s
    where s.batch_id = :batch_id
)
select
    uscc, updated_at, null, false, name, name_key, entity_type, region_code,
    industry_code, status, status_date, established_date, legal_rep_name, legal_rep_id_hash,
    legal_rep_id_masked, batch_id, cast(:changed_at as timestamp)
from versions
where pick = 1
on conflict (uscc, valid_from) do nothing
