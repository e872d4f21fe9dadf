-- a unit no longer in include/config/regions.yaml
delete from mart.dim_region
where region_code = :region_code
