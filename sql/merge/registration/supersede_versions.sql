-- the versions this merge replaced (docs/history.md): a record the merge wrote into core.registration
-- (its batch and change time) ends its previous version there. runs before insert_versions.
update core.registration_version
set superseded_at = cast(:changed_at as timestamp)
where core.registration_version.superseded_at is null
    and core.registration_version.changed_at < cast(:changed_at as timestamp)
    and exists (
        select 1
        from core.registration as c
        where c.batch_id = :batch_id
            and c.changed_at = cast(:changed_at as timestamp)
            and c.uscc = core.registration_version.uscc
            and c.event_type = core.registration_version.event_type
            and c.event_key = core.registration_version.event_key
    )
