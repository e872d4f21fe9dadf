-- a new snapshot run, with the data cut-off it read (docs/history.md)
insert into ops.snapshot_run (
    run_id, month, version, status, row_count, reason, started_at, finished_at, calendar_source,
    data_cutoff
)
values (
    :run_id, :month, :version, :status, :row_count, null, cast(:started_at as timestamp),
    cast(:finished_at as timestamp), :calendar_source, cast(:data_cutoff as timestamp)
)
