-- descriptions of mart.snapshot_provenance for dashboards and catalogs (docs/history.md)
-- one description, in Chinese and English, per line, however long:
-- sqlfluff:max_line_length:400
comment on table mart.snapshot_provenance is '快照来源：每次快照运行读取的批次及其校验结果，以及快照自身的校验结果 / snapshot provenance: the batches each snapshot run read, with their checks, and the results of the snapshot''s own checks';
comment on column mart.snapshot_provenance.run_id is '快照运行编号（YYYY-MM-vN） / snapshot run id (YYYY-MM-vN)';
comment on column mart.snapshot_provenance.month is '统计月份（YYYY-MM） / reporting month (YYYY-MM)';
comment on column mart.snapshot_provenance.version is '快照版本号 / snapshot version';
comment on column mart.snapshot_provenance.data_cutoff is '该运行读取的数据截止时间（最新一条变更的写入时间，UTC） / data cut-off of the run: the latest change it read (UTC)';
comment on column mart.snapshot_provenance.input_kind is '来源类型：batch（批次）或 snapshot_suite（快照自身的校验套件） / kind of input: batch, or snapshot_suite (the snapshot''s own suite)';
comment on column mart.snapshot_provenance.input_id is '来源编号（批次编号或校验套件名称） / input id (the batch id, or the suite''s name)';
comment on column mart.snapshot_provenance.dataset is '数据集（批次） / dataset (of a batch)';
comment on column mart.snapshot_provenance.source is '数据来源名称（批次） / source name (of a batch)';
comment on column mart.snapshot_provenance.row_count is '行数：批次入库行数，或快照的行数 / rows: loaded by the batch, or of the snapshot';
comment on column mart.snapshot_provenance.checksum is '批次文件校验和 / checksum of the batch''s delivery';
comment on column mart.snapshot_provenance.expectations_evaluated is '执行的校验规则数 / expectations evaluated';
comment on column mart.snapshot_provenance.expectations_failed is '未通过的校验规则数 / expectations that failed';
comment on column mart.snapshot_provenance.recorded_at is '记录时间（UTC） / when this was recorded (UTC)';
