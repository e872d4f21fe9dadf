-- every published month with its latest published version, the data cut-off that version read
-- (a run from before cut-offs were recorded: what had been stamped when it started) and the end
-- of the month's revision window (docs/history.md, "Revisions"; null: published before windows
-- were recorded, a final month)
with published as (
    select r.month, r.run_id, r.version, coalesce(r.data_cutoff, r.started_at) as data_cutoff, r.final_from
    from ops.snapshot_run as r
    where r.status = 'published'
),
latest as (
    select p.month, max(p.version) as version, min(p.final_from) as final_from
    from published as p
    group by p.month
)
select p.month, p.run_id, p.data_cutoff, l.final_from
from published as p
inner join latest as l on l.month = p.month and l.version = p.version
order by p.month
