"""Unified platform: crosswalk staging, unlogged staging on PostgreSQL, 一企一档 profile view.

Revision ID: 0004
Revises: 0003
"""

from alembic import op
from bizenv.warehouse import sql_text

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

STAGE_TABLES = (
    "ops.stage_registration",
    "ops.stage_tax_filing",
    "ops.stage_credit_record",
    "ops.stage_real_estate_case",
    "ops.stage_legacy_code_crosswalk",
)


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
    if op.get_bind().dialect.name == "postgresql":
        # staging is scratch space refilled from the immutable landing zone: no WAL for it
        for table in STAGE_TABLES:
            op.execute(f"alter table {table} set unlogged")
    op.execute(sql_text("marts/v_enterprise_profile.sql"))


def downgrade() -> None:
    op.execute("drop view if exists mart.v_enterprise_profile")
    if op.get_bind().dialect.name == "postgresql":
        for table in STAGE_TABLES[:-1]:
            op.execute(f"alter table {table} set logged")
    op.execute("drop table if exists ops.stage_legacy_code_crosswalk")
