-- read at a cut-off until this transaction ends (core.read_as_of(), docs/history.md); '' reads
-- the present again
select set_config('bizenv.read_as_of', cast(:read_as_of as varchar), true)
