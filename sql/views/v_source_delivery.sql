-- what each source has delivered, per dataset and region code: the latest department update
-- among the rows it delivered for that code (docs/indicators.md, "Coverage per source and
-- reporting unit"), read by the snapshot's coverage and mart.v_source_coverage. a row belongs to
-- the source of the batch that wrote its current version; a batch ops.batch does not record (rows
-- written into core by hand) counts as the source 'unrecorded'. core is read at the
-- connection's cut-off (core.v_*_as_of), so a snapshot recomputed at a past cut-off finds the
-- coverage it found then; a batch's source never changes.
create or replace view core.v_source_delivery as
with delivered as (
    -- per batch first: few batches, so the join below is small
    select 'registration' as dataset, r.batch_id, r.region_code, max(r.updated_at) as latest_updated_at
    from core.v_registration_as_of as r
    group by r.batch_id, r.region_code
    union all
    select 'tax_filing' as dataset, t.batch_id, t.region_code, max(t.updated_at) as latest_updated_at
    from core.v_tax_filing_as_of as t
    group by t.batch_id, t.region_code
    union all
    select 'credit_record' as dataset, c.batch_id, c.region_code, max(c.updated_at) as latest_updated_at
    from core.v_credit_record_as_of as c
    group by c.batch_id, c.region_code
    union all
    select 'real_estate_case' as dataset, e.batch_id, e.region_code, max(e.updated_at) as latest_updated_at
    from core.v_real_estate_case_as_of as e
    group by e.batch_id, e.region_code
)
select
    d.dataset,
    coalesce(b.source, 'unrecorded') as source_name,
    d.region_code,
    max(d.latest_updated_at) as latest_updated_at
from delivered as d
left join ops.batch as b on b.batch_id = d.batch_id
group by d.dataset, coalesce(b.source, 'unrecorded'), d.region_code
