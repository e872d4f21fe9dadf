"""Dashboard views in mart.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

from bizenv.warehouse import sql_text

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sql_text("marts/v_indicator_latest.sql"))


def downgrade() -> None:
    op.execute("drop view if exists mart.v_indicator_latest")
