-- every published value the newly published run :new_run_id changed against the month's previous
-- published run :old_run_id (docs/history.md, "Revisions"): per region x indicator x breakdown,
-- a row of either run alone counting as no value on the other side; null to null is no change
insert into mart.snapshot_revision (
    month, region_code, indicator_code, breakdown, old_value, new_value, old_run_id, new_run_id,
    caused_by, reason, revised_at
)
with old_rows as (
    select s.region_code, s.indicator_code, s.breakdown, s.value
    from mart.indicator_snapshot as s
    where s.run_id = :old_run_id
),
new_rows as (
    select s.region_code, s.indicator_code, s.breakdown, s.value
    from mart.indicator_snapshot as s
    where s.run_id = :new_run_id
)
select
    :month,
    coalesce(n.region_code, o.region_code),
    coalesce(n.indicator_code, o.indicator_code),
    coalesce(n.breakdown, o.breakdown),
    o.value as old_value,
    n.value as new_value,
    :old_run_id,
    :new_run_id,
    :caused_by,
    :reason,
    cast(:revised_at as timestamp)
from new_rows as n
full outer join old_rows as o
    on o.region_code = n.region_code
        and o.indicator_code = n.indicator_code
        and o.breakdown = n.breakdown
where o.value is distinct from n.value
