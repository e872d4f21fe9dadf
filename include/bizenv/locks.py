"""Serialised merges: concurrent deliveries end exactly as if loaded one after the other.

A merge reads core's current state (the versions an entity has, the rows a key already has) and
writes from what it read. Two merges of one dataset in overlapping PostgreSQL transactions each
read the state without the other's uncommitted rows: both write versions valid up to the same
newer one (overlapping SCD2 versions, doubled month-end stocks), or both insert the same new key
(one fails on the primary key). A transaction-level advisory lock per dataset, taken before the
transaction reads anything of core, makes the second wait for the first to commit; under READ
COMMITTED (the default isolation, which ingest keeps) each of its statements then sees the first
one's rows.

The region-conflict steps are shared by registration, tax filings and credit records and read
the others' tables; they take one more lock, always after the dataset's, so the order of locks is
the same in every transaction and two merges cannot deadlock on them.

DuckDB needs none of this: a file has a single writer process (see
`bizenv.warehouse.make_engine` for the bounded wait of a second one).
"""

from __future__ import annotations

import hashlib

from sqlalchemy import Connection

from bizenv.warehouse import dialect_of, run_sql

REGION_CONFLICTS = "region_conflicts"


def advisory_key(name: str) -> int:
    """A stable signed 64-bit key for `name` (the same in every process and release; Python's
    hash() is salted per process)."""
    digest = hashlib.sha256(f"bizenv.merge:{name}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def lock_merge(conn: Connection, name: str) -> None:
    """Wait until no other transaction merges `name` (a dataset, or REGION_CONFLICTS), and keep
    the lock until this transaction ends. Re-entrant within a transaction."""
    if dialect_of(conn) == "postgresql":
        run_sql(conn, "ops/lock_merge.sql", {"lock_key": advisory_key(name)})
