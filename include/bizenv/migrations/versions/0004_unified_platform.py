"""Unified platform: staging for bulk merges, crosswalk staging, 一企一档 profile view.

Staging tables are scratch space, refilled from the immutable landing zone and emptied inside
each batch's merge transaction: they lose their primary key (source rows are unique by
construction; the index only cost time on every bulk load) and, on PostgreSQL, become
unlogged (no WAL for rows that never outlive a transaction).

Revision ID: 0004
Revises: 0003
"""

from alembic import op

from bizenv.warehouse import sql_statements, sql_text

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DATASET_STAGES = (
    "ops.stage_registration",
    "ops.stage_tax_filing",
    "ops.stage_credit_record",
    "ops.stage_real_estate_case",
)
STAGE_TABLES = (*DATASET_STAGES, "ops.stage_legacy_code_crosswalk")
STAGE_KEY = ",\n    primary key (batch_id, source_row)"


def _stage_ddl(table: str) -> str:
    """The stage table's create statement from the initial schema."""
    return next(s for s in sql_statements("schema/0001_initial.sql") if s.startswith(f"create table {table} ("))


def _drop_stage_keys(dialect: str) -> None:
    for table in DATASET_STAGES:
        if dialect == "postgresql":
            op.execute(f"alter table {table} drop constraint {table.split('.')[1]}_pkey")
            continue
        # duckdb cannot drop a constraint: rebuild the (empty between batches) table without it
        ddl = _stage_ddl(table)
        if STAGE_KEY not in ddl:
            raise RuntimeError(f"unexpected staging table definition for {table}")
        op.execute(f"alter table {table} rename to {table.split('.')[1]}_keyed")
        op.execute(ddl.replace(STAGE_KEY, ""))
        op.execute(f"insert into {table} select * from {table}_keyed")  # noqa: S608 - table names of this migration
        op.execute(f"drop table {table}_keyed")


def upgrade() -> None:
    op.execute(
        """
        create table ops.stage_legacy_code_crosswalk (
            batch_id varchar not null,
            source_row integer not null,
            legacy_reg_no varchar not null,
            uscc varchar not null,
            primary key (batch_id, legacy_reg_no)
        )
        """
    )
    dialect = op.get_bind().dialect.name
    _drop_stage_keys(dialect)
    if dialect == "postgresql":
        for table in STAGE_TABLES:
            op.execute(f"alter table {table} set unlogged")
    op.execute(sql_text("marts/v_enterprise_profile.sql"))


def downgrade() -> None:
    op.execute("drop view if exists mart.v_enterprise_profile")
    op.execute("drop table if exists ops.stage_legacy_code_crosswalk")
    for table in DATASET_STAGES:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"alter table {table} set logged")
        op.execute(f"alter table {table} add primary key (batch_id, source_row)")
