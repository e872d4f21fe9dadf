-- the stored reporting units, to compare with include/config/regions.yaml
select r.region_code, r.region_name, r.level, r.parent_code
from mart.dim_region as r
order by r.region_code
