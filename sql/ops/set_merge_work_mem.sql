-- postgresql only: work_mem for the rest of the merge transaction (like set local), so hash
-- joins and aggregates over a whole batch stay in memory instead of spilling sorts to disk
select set_config('work_mem', :work_mem, true)
