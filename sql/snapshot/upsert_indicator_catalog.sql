-- one indicator of include/config/indicators.yaml into the catalog dashboards join on
insert into mart.indicator_catalog (
    indicator_code, name_zh, name_en, unit, direction, target, target_operator, definition,
    policy_reference, policy_limit, breakdown_name
)
values (
    :indicator_code, :name_zh, :name_en, :unit, :direction, :target, :target_operator, :definition,
    :policy_reference, :policy_limit, :breakdown_name
)
on conflict (indicator_code) do update set
    name_zh = excluded.name_zh,
    name_en = excluded.name_en,
    unit = excluded.unit,
    direction = excluded.direction,
    target = excluded.target,
    target_operator = excluded.target_operator,
    definition = excluded.definition,
    policy_reference = excluded.policy_reference,
    policy_limit = excluded.policy_limit,
    breakdown_name = excluded.breakdown_name
