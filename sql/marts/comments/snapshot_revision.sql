-- descriptions of mart.snapshot_revision for dashboards and catalogs (docs/history.md, "Revisions")
-- one description, in Chinese and English, per line, however long:
-- sqlfluff:max_line_length:400
comment on table mart.snapshot_revision is '指标修订记录：同月新发布版本改变的每个已发布指标值 / snapshot revisions: every published value a later published version of its month changed';
comment on column mart.snapshot_revision.month is '统计月份（YYYY-MM） / reporting month (YYYY-MM)';
comment on column mart.snapshot_revision.region_code is '报告单位区划代码（盟本身为全盟合计） / reporting unit code (the prefecture''s own code is its total)';
comment on column mart.snapshot_revision.indicator_code is '指标代码 / indicator code';
comment on column mart.snapshot_revision.breakdown is '细分：空字符串为指标本身，否则为细分项（登记类型） / breakdown part: '''' for the indicator itself, else the part (登记类型)';
comment on column mart.snapshot_revision.old_value is '修订前已发布的值（无数据为空） / value published before (null: no data)';
comment on column mart.snapshot_revision.new_value is '修订后发布的值（无数据为空） / value published now (null: no data)';
comment on column mart.snapshot_revision.old_run_id is '修订前的快照运行编号 / snapshot run published before';
comment on column mart.snapshot_revision.new_run_id is '修订后的快照运行编号 / snapshot run that changed the value';
comment on column mart.snapshot_revision.caused_by is '引起修订的批次（逗号分隔；新版本读到而旧版本未读到、日期落在该月的变更） / batches that caused it, comma-separated: their changes touch the month and were read by the new version, not the old one';
comment on column mart.snapshot_revision.reason is '人工修订的原因（bizenv indicators revise；数据迟到或更正引起的自动重算为空） / reason of a revision by hand (bizenv indicators revise; null for a recomputation after a delivery)';
comment on column mart.snapshot_revision.revised_at is '修订发布时间（UTC） / when the revision was published (UTC)';
