-- the latest staged version of each record replaces an older core row, never a newer one
insert into core.tax_filing (
    filing_id, uscc, region_code, tax_period, filed_at, channel, tax_amount,
    refund_requested_at, refund_completed_at, refund_requested_at_date_only, refund_completed_at_date_only,
    updated_at, batch_id, changed_at
)
with ranked as (
    select
        s.*,
        row_number() over (partition by s.filing_id order by s.updated_at desc, s.source_row desc) as recency
    from ops.stage_tax_filing as s
    where s.batch_id = :batch_id
)
select
    filing_id, uscc, region_code, tax_period, filed_at, channel, cast(tax_amount as numeric(18, 2)),
    refund_requested_at, refund_completed_at, refund_requested_at_date_only, refund_completed_at_date_only,
    updated_at, batch_id, cast(:changed_at as timestamp)
from ranked
where recency = 1
on conflict (filing_id) do update set
    uscc = excluded.uscc,
    region_code = excluded.region_code,
    tax_period = excluded.tax_period,
    filed_at = excluded.filed_at,
    channel = excluded.channel,
    tax_amount = excluded.tax_amount,
    refund_requested_at = excluded.refund_requested_at,
    refund_completed_at = excluded.refund_completed_at,
    refund_requested_at_date_only = excluded.refund_requested_at_date_only,
    refund_completed_at_date_only = excluded.refund_completed_at_date_only,
    updated_at = excluded.updated_at,
    batch_id = excluded.batch_id,
    changed_at = excluded.changed_at
where excluded.updated_at > core.tax_filing.updated_at
