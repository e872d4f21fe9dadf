-- a run being published: the end of its month's revision window (set by the month's first
-- publish, carried by every later one) and, for a revision by hand, its reason
update ops.snapshot_run
set
    final_from = cast(:final_from as timestamp),
    revision_reason = :revision_reason
where run_id = :run_id
