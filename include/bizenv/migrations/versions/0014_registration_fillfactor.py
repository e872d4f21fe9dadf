"""Room for in-place updates in the registration tables (PostgreSQL; docs/benchmarks.md, "2026-12-03,
heap-only updates and one window for the SCD2 bounds").

A registration merge rewrites rows earlier batches wrote: the changed registration in
`core.registration`, the version it replaces (`superseded_at`) in `core.registration_version`, and
the entity version a new state ends (`valid_to`, `is_current`) in `core.market_entity`. None of
these columns is indexed, so PostgreSQL can update such a row on its own page without touching any
index (a heap-only tuple) — but only when the page has room for the new row. At the default
fillfactor of 100 pages are full and every update also writes an entry into each index of the
table. Half-full pages hold the updated copy of every row of the page, as a department's monthly
full export needs (it re-delivers every entity); the space of the old copies comes back at the
next vacuum. The tables take up to twice the disk for that.

Tax filings, credit records and real-estate cases are mostly appended, not rewritten: they keep
full pages. DuckDB has no fillfactor; on DuckDB this revision changes nothing. Pages already
written keep their fill; pages written from now on are filled to half.

Revision ID: 0014
Revises: 0013
"""

from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None

REWRITTEN_TABLES = ("core.registration", "core.registration_version", "core.market_entity")
UPDATE_ROOM_FILLFACTOR = 50


def _is_postgresql() -> bool:
    return op.get_bind().dialect.name == "postgresql"


def upgrade() -> None:
    if not _is_postgresql():
        return
    for table in REWRITTEN_TABLES:
        op.execute(f"alter table {table} set (fillfactor = {UPDATE_ROOM_FILLFACTOR})")


def downgrade() -> None:
    if not _is_postgresql():
        return
    for table in REWRITTEN_TABLES:
        op.execute(f"alter table {table} reset (fillfactor)")
