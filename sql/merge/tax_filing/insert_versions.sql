-- every record this merge wrote into core.tax_filing becomes its current version (docs/history.md);
-- a re-run batch writes nothing into core, so nothing here either
insert into core.tax_filing_version (
    filing_id, uscc, region_code, tax_period, filed_at, channel, tax_amount,
    refund_requested_at, refund_completed_at, updated_at, batch_id, changed_at,
    refund_requested_at_date_only, refund_completed_at_date_only,
    superseded_at
)
select
    c.filing_id, c.uscc, c.region_code, c.tax_period, c.filed_at, c.channel, c.tax_amount,
    c.refund_requested_at, c.refund_completed_at, c.updated_at, c.batch_id, c.changed_at,
    c.refund_requested_at_date_only, c.refund_completed_at_date_only,
    cast(null as timestamp) as superseded_at
from core.tax_filing as c
where c.batch_id = :batch_id
    and c.changed_at = cast(:changed_at as timestamp)
