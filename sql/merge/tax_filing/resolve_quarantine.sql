-- a quarantined row is resolved once a later batch delivers its record key correctly
update quarantine.tax_filing
set
    resolved_at = cast(:resolved_at as timestamp),
    resolved_by_batch = :batch_id
where resolved_at is null
    and batch_id <> :batch_id
    and record_key in (
        select filing_id
        from ops.stage_tax_filing
        where batch_id = :batch_id
    )
