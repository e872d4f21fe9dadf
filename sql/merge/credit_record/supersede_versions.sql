-- the versions this merge replaced (docs/history.md): a record the merge wrote into core.credit_record
-- (its batch and change time) ends its previous version there. runs before insert_versions.
update core.credit_record_version
set superseded_at = cast(:changed_at as timestamp)
where core.credit_record_version.superseded_at is null
    and core.credit_record_version.changed_at < cast(:changed_at as timestamp)
    and exists (
        select 1
        from core.credit_record as c
        where c.batch_id = :batch_id
            and c.changed_at = cast(:changed_at as timestamp)
            and c.record_id = core.credit_record_version.record_id
    )
