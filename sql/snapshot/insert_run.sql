-- a new snapshot run
insert into ops.snapshot_run (
    run_id, month, version, status, row_count, reason, started_at, finished_at, calendar_source
)
values (
    :run_id, :month, :version, :status, :row_count, null, cast(:started_at as timestamp),
    cast(:finished_at as timestamp), :calendar_source
)
