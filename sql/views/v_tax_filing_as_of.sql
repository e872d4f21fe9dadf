-- core.tax_filing as it stood at core.read_as_of() (docs/history.md): the version the warehouse held
-- then, from core.tax_filing_version. a transaction that reads the present (no cut-off set) sees
-- the current versions, the same rows as core.tax_filing.
create or replace view core.v_tax_filing_as_of as
select
    v.filing_id, v.uscc, v.region_code, v.tax_period, v.filed_at, v.channel, v.tax_amount,
    v.refund_requested_at, v.refund_completed_at, v.updated_at, v.batch_id, v.changed_at,
    v.refund_requested_at_date_only, v.refund_completed_at_date_only
from core.tax_filing_version as v
where
    (core.read_as_of() is null and v.superseded_at is null)
    or (
        v.changed_at <= core.read_as_of()
        and (v.superseded_at is null or v.superseded_at > core.read_as_of())
    )
