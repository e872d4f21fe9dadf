-- one unit of include/config/regions.yaml (or the prefecture itself)
insert into mart.dim_region (region_code, region_name, level, parent_code)
values (:region_code, :region_name, :level, :parent_code)
on conflict (region_code) do update set
    region_name = excluded.region_name,
    level = excluded.level,
    parent_code = excluded.parent_code
