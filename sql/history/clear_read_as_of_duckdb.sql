-- read the present again on this connection.
-- duckdb's own statement: the linter's postgres grammar has no `reset variable`
reset variable bizenv_read_as_of  -- noqa: PRS
