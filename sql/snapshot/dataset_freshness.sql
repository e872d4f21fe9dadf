-- the latest department update time held in core for each dataset the indicators read
select 'registration' as dataset, max(r.updated_at) as latest_updated_at
from core.v_registration_as_of as r
union all
select 'tax_filing' as dataset, max(t.updated_at) as latest_updated_at
from core.v_tax_filing_as_of as t
union all
select 'credit_record' as dataset, max(c.updated_at) as latest_updated_at
from core.v_credit_record_as_of as c
union all
select 'real_estate_case' as dataset, max(e.updated_at) as latest_updated_at
from core.v_real_estate_case_as_of as e
