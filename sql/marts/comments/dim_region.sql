-- descriptions of mart.dim_region for dashboards and catalogs (docs/dashboard-contract.md)
-- one description, in Chinese and English, per line, however long:
-- sqlfluff:max_line_length:400
comment on table mart.dim_region is '报告单位：盟及各旗县区（取自 regions.yaml） / reporting units: the prefecture and its units (from regions.yaml)';
comment on column mart.dim_region.region_code is '区划代码（GB/T 2260） / division code (GB/T 2260)';
comment on column mart.dim_region.region_name is '名称 / name in Chinese';
comment on column mart.dim_region.level is '层级：prefecture（盟）或 county（旗县区、开发区、盟本级） / level: prefecture, or county (旗县区, 开发区, 盟本级)';
comment on column mart.dim_region.parent_code is '上级区划代码（盟为空） / code of the prefecture (null for the prefecture)';
