-- open and resolved quarantined rows per dataset; optional bounds on quarantined_at (naive UTC)
select
    q.dataset,
    sum(case when q.resolved_at is null then 1 else 0 end) as open_rows,
    sum(case when q.resolved_at is null then 0 else 1 end) as resolved_rows
from (
    select 'registration' as dataset, quarantined_at, resolved_at from quarantine.registration
    union all
    select 'tax_filing' as dataset, quarantined_at, resolved_at from quarantine.tax_filing
    union all
    select 'credit_record' as dataset, quarantined_at, resolved_at from quarantine.credit_record
    union all
    select 'real_estate_case' as dataset, quarantined_at, resolved_at from quarantine.real_estate_case
) as q
where (cast(:quarantined_from as timestamp) is null or q.quarantined_at >= cast(:quarantined_from as timestamp))
    and (cast(:quarantined_to as timestamp) is null or q.quarantined_at < cast(:quarantined_to as timestamp))
group by q.dataset
