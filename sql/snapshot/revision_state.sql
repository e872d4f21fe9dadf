-- a month's release state (docs/history.md, "Revisions"), for publishing run :run_id of :month
-- ('' for none): the latest version published before it, the data cut-off that version read
-- (a run from before cut-offs were recorded: what had been stamped when it started), the end of
-- the month's revision window set by its first publish, and the cut-off of run :run_id
with published as (
    select r.run_id, r.version, coalesce(r.data_cutoff, r.started_at) as data_cutoff, r.final_from
    from ops.snapshot_run as r
    where r.month = :month
        and r.status = 'published'
        and r.run_id <> :run_id
),
latest as (
    select p.run_id, p.data_cutoff
    from published as p
    where p.version = (select max(m.version) from published as m)
),
window_end as (
    select min(p.final_from) as final_from, count(*) as published_runs
    from published as p
)
select
    l.run_id as previous_run_id,
    l.data_cutoff as previous_cutoff,
    w.final_from,
    w.published_runs,
    c.data_cutoff as run_cutoff
from window_end as w
left join latest as l on 1 = 1
left join ops.snapshot_run as c on c.run_id = :run_id
