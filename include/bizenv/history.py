"""Point-in-time reading (docs/history.md): the warehouse as it stood at a cut-off.

Every merge stamps what it writes with `changed_at`, and keeps the versions it replaces
(`core.<dataset>_version`, `core.market_entity`). A transaction reads the warehouse at a cut-off
through the views `core.v_<dataset>_as_of` and `core.v_market_entity_as_of`, which follow
`core.read_as_of()`; `reading_as_of` sets it for one connection.

A cut-off reproduces what a transaction read only if no change stamped at or before it commits
later. Merges therefore take one lock (CORE_CHANGES) before they stamp anything, and stamp after
the latest change already committed (`next_change_time`): changes commit in the order of their
stamps, and a snapshot that read up to stamp T saw every change stamped up to T.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from bizenv.locks import lock_merge
from bizenv.warehouse import dialect_of, query_df, run_sql, stored_datetime

CORE_CHANGES = "core_changes"
# two changes never share a stamp: the next one comes at least this much after the latest
STAMP_STEP = dt.timedelta(microseconds=1)


def latest_change(conn: Connection) -> dt.datetime | None:
    """The latest changed_at the connection reads: at its cut-off, or in the present."""
    return stored_datetime(query_df(conn, "history/latest_change.sql")["latest_changed_at"].iloc[0])


def next_change_time(conn: Connection, now: dt.datetime) -> dt.datetime:
    """The stamp of a merge's changes, in the merge's transaction: takes the CORE_CHANGES lock
    (held until the transaction ends) and returns `now`, or just after the latest stamp already
    in core when a worker's clock is behind."""
    lock_merge(conn, CORE_CHANGES)
    latest = latest_change(conn)
    if latest is not None and latest >= now:
        return latest + STAMP_STEP
    return now


@contextmanager
def reading_as_of(conn: Connection, cutoff: dt.datetime | None) -> Iterator[Connection]:
    """Within the block, the connection reads the warehouse as it stood at `cutoff` (None: the
    present). On PostgreSQL the setting is local to the transaction (a failed block ends it with
    the transaction); DuckDB's is the connection's, cleared however the block ends."""
    if cutoff is None:
        yield conn
        return
    if dialect_of(conn) == "postgresql":
        run_sql(conn, "history/set_read_as_of_postgresql.sql", {"read_as_of": cutoff.isoformat(sep=" ")})
        yield conn
        run_sql(conn, "history/set_read_as_of_postgresql.sql", {"read_as_of": ""})
        return
    run_sql(conn, "history/set_read_as_of_duckdb.sql", {"read_as_of": cutoff})
    try:
        yield conn
    finally:
        run_sql(conn, "history/clear_read_as_of_duckdb.sql")
