-- every staged state not yet in the golden record becomes a version of it (scd type 2); a late,
-- older state slots into history. each new version is written with its final validity: it
-- ends where the next version of the entity (staged or already in core) begins, and the last
-- one is current. a staged (uscc, updated_at) is unique: validation quarantines conflicting
-- duplicates (expectations/registration.json, conflicting_duplicate, critical) and ingest drops
-- exact ones; should one slip through, the primary key fails the batch rather than pick one.
-- the starts of the batch and of the versions core holds for its entities are ordered once per
-- entity (one sort, no range join): the next start is the new version's end, and a staged start
-- core already holds follows that version (`known` first) and is not written again.
insert into core.market_entity (
    uscc, valid_from, valid_to, is_current, name, name_key, entity_type, region_code,
    industry_code, status, status_date, established_date, legal_rep_name, legal_rep_id_hash,
    legal_rep_id_masked, batch_id, changed_at
)
with batch_starts as (
    select s.uscc, s.updated_at as valid_from, 0 as known
    from ops.stage_registration as s
    where s.batch_id = :batch_id
),
held_starts as (
    select m.uscc, m.valid_from, 1 as known
    from core.market_entity as m
    where exists (
            select 1
            from batch_starts as b
            where b.uscc = m.uscc
        )
),
starts as (
    select * from batch_starts
    union all
    select * from held_starts
),
ordered as (
    select
        st.uscc,
        st.valid_from,
        st.known,
        lag(st.valid_from) over entity_starts as previous_from,
        lead(st.valid_from) over entity_starts as next_from
    from starts as st
    window entity_starts as (partition by st.uscc order by st.valid_from asc, st.known desc)
),
new_versions as (
    select o.uscc, o.valid_from, o.next_from as valid_to
    from ordered as o
    where o.known = 0
        and (o.previous_from is null or o.previous_from <> o.valid_from)
)
select
    v.uscc, v.valid_from, v.valid_to, v.valid_to is null, s.name, s.name_key, s.entity_type,
    s.region_code, s.industry_code, s.status, s.status_date, s.established_date, s.legal_rep_name,
    s.legal_rep_id_hash, s.legal_rep_id_masked, s.batch_id, cast(:changed_at as timestamp)
from new_versions as v
inner join ops.stage_registration as s
    on s.batch_id = :batch_id and s.uscc = v.uscc and s.updated_at = v.valid_from
