-- descriptions of mart.v_data_quality for dashboards and catalogs (docs/dashboard-contract.md)
-- one description, in Chinese and English, per line, however long:
-- sqlfluff:max_line_length:400
comment on view mart.v_data_quality is '数据质量：按部门、来源、数据集和入库月份 / data quality per department, source, dataset and month of load';
comment on column mart.v_data_quality.department_code is '部门代码：market、tax、credit、real_estate / department code: market, tax, credit or real_estate';
comment on column mart.v_data_quality.department_name is '部门名称 / department name in Chinese';
comment on column mart.v_data_quality.source_name is '数据来源名称（sources.yaml 的 name，单个文件导入为 file） / source name (sources.yaml name; file for a single-file ingest)';
comment on column mart.v_data_quality.dataset is '数据集 / dataset';
comment on column mart.v_data_quality.month is '批次入库月份（北京时间，当月1日） / month of the batches'' load (Asia/Shanghai), as its first day';
comment on column mart.v_data_quality.received_rows is '接收行数 / rows received';
comment on column mart.v_data_quality.loaded_rows is '入库（改变统一平台）行数 / rows loaded (changed the unified platform)';
comment on column mart.v_data_quality.quarantined_rows is '隔离行数 / rows quarantined';
comment on column mart.v_data_quality.duplicate_rows is '重复或无变化行数 / duplicate or unchanged rows';
comment on column mart.v_data_quality.top_reasons is '最多三项隔离原因及行数，如 "uscc_check_char 12; required 3" / up to three quarantine rules with their row counts, e.g. "uscc_check_char 12; required 3"';
comment on column mart.v_data_quality.last_successful_load_at is '最近一次成功入库时间（UTC） / when the latest loaded batch finished (UTC)';
comment on column mart.v_data_quality.latest_changed_at is '已入库数据中最新的部门更新时间（UTC） / newest department update time (更新时间) loaded, in UTC';
comment on column mart.v_data_quality.is_fresh is '数据是否覆盖该月（无新鲜度规则时为空） / whether the data covers the month (null: no freshness rule applies)';
