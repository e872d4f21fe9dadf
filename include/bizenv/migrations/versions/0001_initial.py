"""Schemas ops, quarantine, core and mart with their tables and views.

Revision ID: 0001
Revises:
"""

from alembic import op

from bizenv.warehouse import sql_statements

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    for statement in sql_statements("schema/0001_initial.sql"):
        op.execute(statement)


def downgrade() -> None:
    for schema in ("mart", "quarantine", "core"):
        op.execute(f"drop schema if exists {schema} cascade")
