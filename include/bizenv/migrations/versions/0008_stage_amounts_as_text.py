"""Staged amounts (注册资本, 应纳税额) are the exact decimal text of the validated value, and
PostgreSQL loads the stage by binary COPY straight from Arrow (no server-side text parsing of
timestamps and dates).

A float stage column would round differently on the two warehouses when core's numeric column
takes it (DuckDB converts the binary value exactly: 12.34565 became 12.3456 there and 12.3457 on
PostgreSQL); the merge casts the text, which both parse and round half away from zero.

Revision ID: 0008
Revises: 0007
"""

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

STAGED_AMOUNTS = (
    ("ops.stage_registration", "registered_capital", "numeric(18, 4)"),
    ("ops.stage_tax_filing", "tax_amount", "numeric(18, 2)"),
)


def upgrade() -> None:
    for table, column, _ in STAGED_AMOUNTS:
        op.execute(f"alter table {table} alter column {column} type varchar")


def downgrade() -> None:
    for table, column, numeric in STAGED_AMOUNTS:
        op.execute(f"alter table {table} alter column {column} type {numeric} using cast({column} as {numeric})")
