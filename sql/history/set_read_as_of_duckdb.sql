-- read at a cut-off on this connection (core.read_as_of(), docs/history.md) until it is cleared.
-- duckdb's own statement: the linter's postgres grammar has no `set variable`
set variable bizenv_read_as_of = cast(:read_as_of as timestamp)  -- noqa: PRS
