-- the results of a snapshot run's own great expectations suite (expectations/
-- indicator_snapshot.json), beside the batches that fed it (docs/history.md)
insert into mart.snapshot_provenance (
    run_id, month, version, data_cutoff, input_kind, input_id, dataset, source, row_count, checksum,
    expectations_evaluated, expectations_failed, recorded_at
)
select
    r.run_id, r.month, r.version, r.data_cutoff, 'snapshot_suite', cast(:suite as varchar),
    cast(null as varchar), cast(null as varchar), r.row_count, cast(null as varchar),
    :expectations_evaluated, :expectations_failed, cast(:recorded_at as timestamp)
from ops.snapshot_run as r
where r.run_id = :run_id
