-- the versions this merge replaced (docs/history.md): a record the merge wrote into core.tax_filing
-- (its batch and change time) ends its previous version there. runs before insert_versions.
update core.tax_filing_version
set superseded_at = cast(:changed_at as timestamp)
where core.tax_filing_version.superseded_at is null
    and core.tax_filing_version.changed_at < cast(:changed_at as timestamp)
    and exists (
        select 1
        from core.tax_filing as c
        where c.batch_id = :batch_id
            and c.changed_at = cast(:changed_at as timestamp)
            and c.filing_id = core.tax_filing_version.filing_id
    )
