-- postgresql: statistics of the batch just staged, before the merge plans its joins. without them the
-- planner trusts whatever autovacuum last saw (often the stage empty, between two merges) and nests
-- loops over the whole batch: minutes instead of a second for 100,000 rows (docs/performance.md)
analyze ops.stage_credit_record
