-- postgresql: statistics of the batch just staged, before the merge plans its joins. without them the
-- planner trusts whatever autovacuum last saw (often the stage empty, between two merges) and nests
-- loops over the whole batch: minutes instead of a second for 100,000 rows (docs/performance.md)
-- only the columns the merge joins, groups and filters on: the row count is what the plans need,
-- and sampling every column costs four times as long
analyze ops.stage_registration (batch_id, uscc, event_type, updated_at, name_key, established_date, region_code)
