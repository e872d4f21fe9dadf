-- descriptions of mart.v_source_coverage for dashboards and catalogs (docs/dashboard-contract.md)
-- one description, in Chinese and English, per line, however long:
-- sqlfluff:max_line_length:400
comment on view mart.v_source_coverage is '数据覆盖：按月份、数据集、来源和报告单位，判断计数为 0 还是无数据 / coverage per month, dataset, source and reporting unit: whether a count is 0 or no data';
comment on column mart.v_source_coverage.month is '统计月份（当月1日） / reporting month, as its first day';
comment on column mart.v_source_coverage.dataset is '数据集 / dataset';
comment on column mart.v_source_coverage.department_name is '部门名称 / department name in Chinese';
comment on column mart.v_source_coverage.source_name is '数据来源名称（sources.yaml 的 name，单个文件导入为 file；数据集尚无任何数据时为空） / source name (sources.yaml name; file for a single-file ingest; null when no source has delivered any row of the dataset)';
comment on column mart.v_source_coverage.region_code is '报告单位区划代码（GB/T 2260，盟本身为全盟合计） / reporting unit code (GB/T 2260; the prefecture''s own code is its total)';
comment on column mart.v_source_coverage.region_name is '报告单位名称（取自 mart.dim_region） / reporting unit name (from mart.dim_region)';
comment on column mart.v_source_coverage.latest_updated_at is '该来源在该单位的最新部门更新时间（北京时间；盟为该来源全部数据；该来源无该单位数据时为空） / the source''s newest department update time (更新时间, Asia/Shanghai) among its rows of the unit (the prefecture: all its rows; null: it delivered no row of the unit)';
comment on column mart.v_source_coverage.source_latest_updated_at is '该来源全部数据的最新部门更新时间（北京时间） / the source''s newest department update time over all its rows (Asia/Shanghai)';
comment on column mart.v_source_coverage.last_working_day is '该月最后一个法定工作日（取自已存储的工作日历；未存储时为空） / the month''s last statutory working day (from the stored working-day calendar; null: not stored yet)';
comment on column mart.v_source_coverage.covered is '该来源是否覆盖该月：最新更新时间不早于该月最后一个法定工作日（日历未存储时为空） / whether the source covers the month: its newest update is on or after the month''s last statutory working day (null: calendar not stored)';
