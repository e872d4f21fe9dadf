-- the versions this merge replaced (docs/history.md): a record the merge wrote into core.real_estate_case
-- (its batch and change time) ends its previous version there. runs before insert_versions.
update core.real_estate_case_version
set superseded_at = cast(:changed_at as timestamp)
where core.real_estate_case_version.superseded_at is null
    and core.real_estate_case_version.changed_at < cast(:changed_at as timestamp)
    and exists (
        select 1
        from core.real_estate_case as c
        where c.batch_id = :batch_id
            and c.changed_at = cast(:changed_at as timestamp)
            and c.case_id = core.real_estate_case_version.case_id
    )
