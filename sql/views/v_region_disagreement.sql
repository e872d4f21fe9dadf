-- department records whose region differs from the enterprise's current region in the golden
-- record. registration is authoritative; these are recorded as conflicts, never applied. a
-- real-estate case's region is where the property lies, not a claim about the enterprise, so
-- real estate is not compared.
create or replace view core.v_region_disagreement as
with department as (
    select 'tax_filing' as dataset, t.filing_id as record_key, t.uscc, t.region_code
    from core.tax_filing as t
    union all
    select 'credit_record' as dataset, c.record_id as record_key, c.uscc, c.region_code
    from core.credit_record as c
)
select
    d.dataset,
    d.record_key,
    d.uscc,
    m.region_code as core_value,
    d.region_code as department_value
from department as d
inner join core.market_entity as m on m.uscc = d.uscc and m.is_current
where d.region_code <> m.region_code
