-- the values of a month (:month as 'YYYY-MM') for previous_value and last_year_value: its latest
-- published version computed from data up to :data_cutoff (docs/history.md), so a run recomputed
-- at its cut-off finds the same references. versions from before cut-offs were recorded count as
-- read from the earliest data.
with eligible as (
    select r.run_id, r.version
    from ops.snapshot_run as r
    where r.month = :month
        and r.status = 'published'
        and (r.data_cutoff is null or r.data_cutoff <= cast(:data_cutoff as timestamp))
),
latest as (
    select e.run_id
    from eligible as e
    where e.version = (select max(m.version) from eligible as m)
)
select s.region_code, s.indicator_code, s.breakdown, s.value
from mart.indicator_snapshot as s
inner join latest as l on l.run_id = s.run_id
