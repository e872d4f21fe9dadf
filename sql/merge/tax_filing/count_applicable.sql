-- staged keys whose latest version changes core: a new key, or newer than core's updated_at
with latest as (
    select filing_id, max(updated_at) as updated_at
    from ops.stage_tax_filing
    where batch_id = :batch_id
    group by filing_id
)
select count(*) as applicable
from latest as s
left join core.tax_filing as c on c.filing_id = s.filing_id
where c.filing_id is null or s.updated_at > c.updated_at
