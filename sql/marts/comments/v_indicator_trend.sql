-- descriptions of mart.v_indicator_trend for dashboards and catalogs (docs/dashboard-contract.md)
-- one description, in Chinese and English, per line, however long:
-- sqlfluff:max_line_length:400
comment on view mart.v_indicator_trend is '指标月度趋势：每个已发布月份的最新版本 / indicator trend: every published month, its latest version';
comment on column mart.v_indicator_trend.month is '统计月份（当月1日） / reporting month, as its first day';
comment on column mart.v_indicator_trend.region_code is '报告单位区划代码（GB/T 2260，盟本身为全盟合计） / reporting unit code (GB/T 2260; the prefecture''s own code is its total)';
comment on column mart.v_indicator_trend.region_name is '报告单位名称（取自 mart.dim_region） / reporting unit name (from mart.dim_region)';
comment on column mart.v_indicator_trend.indicator_code is '指标代码 / indicator code';
comment on column mart.v_indicator_trend.breakdown is '细分：空字符串为指标本身，否则为细分项（登记类型） / breakdown part: '''' for the indicator itself, else the part (登记类型)';
comment on column mart.v_indicator_trend.name_zh is '指标中文名称 / indicator name in Chinese';
comment on column mart.v_indicator_trend.name_en is '指标英文名称 / indicator name in English';
comment on column mart.v_indicator_trend.unit is '计量单位：户、个工作日、条/户或 ratio（0至1的比例） / unit of value: 户, 个工作日, 条/户 or ratio (0..1)';
comment on column mart.v_indicator_trend.direction is '指标方向：越高越好、越低越好或中性 / direction: higher_is_better, lower_is_better or neutral';
comment on column mart.v_indicator_trend.value is '指标值（无数据为空） / indicator value (null: no data)';
comment on column mart.v_indicator_trend.numerator is '比例的分子（其他指标为空） / numerator of a ratio (null otherwise)';
comment on column mart.v_indicator_trend.denominator is '比例的分母（其他指标为空） / denominator of a ratio (null otherwise)';
comment on column mart.v_indicator_trend.sample_size is '样本量（案件数、户数或记录数） / sample size (cases, entities or records counted)';
comment on column mart.v_indicator_trend.target is '目标值（无目标为空） / target value (null: no target)';
comment on column mart.v_indicator_trend.target_operator is '目标比较方式：<= 或 >= / target comparison: <= or >=';
comment on column mart.v_indicator_trend.meets_target is '是否达标（无目标、无数据或样本不足时为空） / target met (null: no target, no value or sample below the minimum)';
comment on column mart.v_indicator_trend.attainment is '达标情况：met、missed、insufficient_sample、no_target、no_data / attainment: met, missed, insufficient_sample, no_target or no_data';
comment on column mart.v_indicator_trend.attainment_zh is '达标情况中文：达标、未达标、样本不足、无目标、无数据 / attainment in Chinese: 达标, 未达标, 样本不足, 无目标, 无数据';
comment on column mart.v_indicator_trend.previous_value is '上月指标值（上月已发布版本） / value of the previous month (its published version)';
comment on column mart.v_indicator_trend.last_year_value is '上年同月指标值 / value of the same month a year earlier';
comment on column mart.v_indicator_trend.within_limit_share is '在政策时限内办结的案件占比（时长类指标） / share of cases finished within the policy limit (durations)';
comment on column mart.v_indicator_trend.policy_limit is '政策规定的办理时限（工作日） / working days the policy allows one case';
comment on column mart.v_indicator_trend.p90_value is '办理时长第90百分位数 / 90th percentile of the case durations';
comment on column mart.v_indicator_trend.cases_without_time is '仅有日期、无具体时刻而未计时长的案件数 / cases delivered with a date but no time of day (no duration)';
comment on column mart.v_indicator_trend.backlog_open is '月末未办结案件数 / cases still open at the month end';
comment on column mart.v_indicator_trend.backlog_oldest_workdays is '月末最久未办结案件已等待的工作日 / working days the oldest open case has waited by the month end';
comment on column mart.v_indicator_trend.version is '快照版本号（同月重算递增） / snapshot version (a re-computation of the month adds one)';
comment on column mart.v_indicator_trend.run_id is '快照运行编号（YYYY-MM-vN） / snapshot run id (YYYY-MM-vN)';
comment on column mart.v_indicator_trend.computed_at is '计算时间（UTC） / when the snapshot was computed (UTC)';
comment on column mart.v_indicator_trend.final_from is '该月修订期截止时间（UTC，首次发布时间加修订期，之后为正式数据） / end of the month''s revision window (UTC: its first publish plus the window; final from then on)';
comment on column mart.v_indicator_trend.release_stage is '发布阶段：初步（修订期内，迟到或更正数据会重算该月）或正式（仅经带原因的修订才会改变） / release stage: 初步 (provisional: a late or corrected delivery recomputes the month) or 正式 (final: changes only through a revision with a reason)';
