-- what each source has delivered, per dataset and region code, at the connection's cut-off
-- (core.v_source_delivery; the rule is docs/indicators.md, "Coverage per source and reporting unit")
select d.dataset, d.source_name, d.region_code, d.latest_updated_at
from core.v_source_delivery as d
order by d.dataset, d.source_name, d.region_code
