"""quarantine.v_rejected_row: the four quarantine tables as one relation.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

from bizenv.warehouse import sql_text

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sql_text("views/v_rejected_row.sql"))


def downgrade() -> None:
    op.execute("drop view if exists quarantine.v_rejected_row")
