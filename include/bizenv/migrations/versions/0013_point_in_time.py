"""Point-in-time history (docs/history.md): the warehouse keeps every version a department
delivered, so a snapshot can be computed again from the warehouse as it stood at its cut-off.

- `core.<dataset>_version` for registration, tax_filing, credit_record and real_estate_case: every
  version a merge wrote, with its `changed_at` (when the warehouse took it) and `superseded_at`
  (when a newer delivery replaced it; null while current). The current tables stay as they are;
  the merge writes both in one transaction. Existing rows become each record's first version.
- `core.read_as_of()`: the cut-off a transaction reads at, null when it reads the present. The
  views of sql/views/ (`core.v_<dataset>_as_of`, `core.v_market_entity_as_of`) read through it;
  bizenv.history sets it. PostgreSQL keeps it in a transaction-local setting, DuckDB in a
  connection variable (DuckDB's variables are the only session state it has).
- `ops.snapshot_run` gains the run's data cut-off, the end of its month's revision window
  (初步 until then, 正式 after) and the reason of a revision of a final month.
- `mart.snapshot_provenance`: what fed each run (batches with row counts, checksums and their
  Great Expectations results, and the results of the snapshot's own suite).
- `mart.snapshot_revision`: every published value a later run of its month changed.

Revision ID: 0013
Revises: 0012
"""

from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

# dataset table -> its key; the statements below are composed of these constants only
VERSIONED = {
    "registration": "uscc, event_type, event_key",
    "tax_filing": "filing_id",
    "credit_record": "record_id",
    "real_estate_case": "case_id",
}

_POSTGRES_READ_AS_OF = """
create function core.read_as_of() returns timestamp
language sql stable
as $$ select cast(nullif(current_setting('bizenv.read_as_of', true), '') as timestamp) $$
"""
_DUCKDB_READ_AS_OF = """
create macro core.read_as_of() as try_cast(getvariable('bizenv_read_as_of') as timestamp)
"""


def _is_duckdb() -> bool:
    return op.get_bind().dialect.name == "duckdb"


def upgrade() -> None:
    for table, key in VERSIONED.items():
        op.execute(
            f"create table core.{table}_version as "  # noqa: S608
            f"select t.*, cast(null as timestamp) as superseded_at from core.{table} as t"
        )
        op.execute(f"alter table core.{table}_version add primary key ({key}, changed_at)")
        op.execute(f"create index {table}_version_changed_at on core.{table}_version (changed_at)")
    op.execute("create index market_entity_changed_at on core.market_entity (changed_at)")
    op.execute(_DUCKDB_READ_AS_OF if _is_duckdb() else _POSTGRES_READ_AS_OF)
    op.execute("alter table ops.snapshot_run add column data_cutoff timestamp")
    op.execute("alter table ops.snapshot_run add column final_from timestamp")
    op.execute("alter table ops.snapshot_run add column revision_reason varchar")
    op.execute(
        """
        create table mart.snapshot_provenance (
            run_id varchar not null,
            month varchar(7) not null,
            version integer not null,
            data_cutoff timestamp,
            input_kind varchar not null,
            input_id varchar not null,
            dataset varchar,
            source varchar,
            row_count bigint,
            checksum varchar,
            expectations_evaluated integer,
            expectations_failed integer,
            recorded_at timestamp not null,
            primary key (run_id, input_id)
        )
        """
    )
    op.execute(
        """
        create table mart.snapshot_revision (
            month varchar(7) not null,
            region_code varchar not null,
            indicator_code varchar not null,
            breakdown varchar not null,
            old_value double precision,
            new_value double precision,
            old_run_id varchar not null,
            new_run_id varchar not null,
            caused_by varchar,
            reason varchar,
            revised_at timestamp not null,
            primary key (new_run_id, region_code, indicator_code, breakdown)
        )
        """
    )


def downgrade() -> None:
    op.execute("drop table mart.snapshot_revision")
    op.execute("drop table mart.snapshot_provenance")
    for column in ("revision_reason", "final_from", "data_cutoff"):
        op.execute(f"alter table ops.snapshot_run drop column {column}")
    op.execute("drop macro core.read_as_of" if _is_duckdb() else "drop function core.read_as_of()")
    op.execute("drop index core.market_entity_changed_at")
    for table in VERSIONED:
        op.execute(f"drop table core.{table}_version")
