-- every staged state not yet in the golden record becomes a version of it (scd type 2); a late,
-- older state slots into history. each new version is written with its final validity: it
-- ends where the next version of the entity (staged or already in core) begins, and the last
-- one is current. a staged (uscc, updated_at) is unique: validation quarantines conflicting
-- duplicates (expectations/registration.json, conflicting_duplicate, critical) and ingest drops
-- exact ones; should one slip through, the primary key fails the batch rather than pick one.
insert into core.market_entity (
    uscc, valid_from, valid_to, is_current, name, name_key, entity_type, region_code,
    industry_code, status, status_date, established_date, legal_rep_name, legal_rep_id_hash,
    legal_rep_id_masked, batch_id, changed_at
)
with new_versions as (
    select s.*
    from ops.stage_registration as s
    where s.batch_id = :batch_id
        and not exists (
            select 1
            from core.market_entity as m
            where m.uscc = s.uscc
                and m.valid_from = s.updated_at
        )
),
later_starts as (
    select s.uscc, s.updated_at as valid_from
    from ops.stage_registration as s
    where s.batch_id = :batch_id
    union all
    select m.uscc, m.valid_from
    from core.market_entity as m
    where m.uscc in (select v.uscc from new_versions as v)
),
bounds as (
    select v.uscc, v.updated_at, min(l.valid_from) as valid_to
    from new_versions as v
    inner join later_starts as l on l.uscc = v.uscc and l.valid_from > v.updated_at
    group by v.uscc, v.updated_at
)
select
    v.uscc, v.updated_at, b.valid_to, b.valid_to is null, v.name, v.name_key, v.entity_type,
    v.region_code, v.industry_code, v.status, v.status_date, v.established_date, v.legal_rep_name,
    v.legal_rep_id_hash, v.legal_rep_id_masked, v.batch_id, cast(:changed_at as timestamp)
from new_versions as v
left join bounds as b on b.uscc = v.uscc and b.updated_at = v.updated_at
