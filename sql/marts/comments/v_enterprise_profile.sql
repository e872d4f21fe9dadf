-- descriptions of mart.v_enterprise_profile for dashboards and catalogs (docs/dashboard-contract.md)
-- one description, in Chinese and English, per line, however long:
-- sqlfluff:max_line_length:400
comment on view mart.v_enterprise_profile is '一企一档：每个市场主体的当前记录及各部门汇总，不含个人信息 / enterprise profile: current record with department aggregates, no personal data';
comment on column mart.v_enterprise_profile.uscc is '统一社会信用代码 / unified social credit code (USCC)';
comment on column mart.v_enterprise_profile.name is '市场主体名称 / market entity name';
comment on column mart.v_enterprise_profile.entity_type is '市场主体类型 / entity type (企业, 个体工商户, 农民专业合作社)';
comment on column mart.v_enterprise_profile.region_code is '所属区划代码 / division code of the entity';
comment on column mart.v_enterprise_profile.industry_code is '行业代码 / industry code';
comment on column mart.v_enterprise_profile.status is '登记状态 / registration status';
comment on column mart.v_enterprise_profile.status_date is '状态日期 / date of the status';
comment on column mart.v_enterprise_profile.established_date is '成立日期 / date of establishment';
comment on column mart.v_enterprise_profile.tax_filing_count is '纳税申报笔数 / tax filings';
comment on column mart.v_enterprise_profile.latest_tax_period is '最近所属期 / latest tax period';
comment on column mart.v_enterprise_profile.total_tax_amount is '申报税额合计 / total tax amount filed';
comment on column mart.v_enterprise_profile.online_filing_share is '网上申报占比 / share of filings made online';
comment on column mart.v_enterprise_profile.on_dishonest_list is '是否在严重失信主体名单内 / currently on the serious dishonesty list';
comment on column mart.v_enterprise_profile.fulfilment_count is '履约践诺记录数 / fulfilment (履约践诺) records';
comment on column mart.v_enterprise_profile.real_estate_case_count is '不动产登记案件数 / real-estate registration cases';
comment on column mart.v_enterprise_profile.real_estate_completed_count is '已办结不动产登记案件数 / real-estate cases completed';
comment on column mart.v_enterprise_profile.latest_real_estate_completed_at is '最近不动产登记办结时间 / latest real-estate completion time';
comment on column mart.v_enterprise_profile.record_valid_from is '当前版本生效时间（部门更新时间） / when the current version took effect (department update time)';
comment on column mart.v_enterprise_profile.batch_id is '写入当前版本的批次 / batch that wrote the current version';
comment on column mart.v_enterprise_profile.changed_at is '写入时间（UTC） / when the current version was written (UTC)';
