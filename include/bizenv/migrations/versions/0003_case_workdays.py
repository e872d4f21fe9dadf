"""Views the monthly indicators build on: working-day durations and month-end entity states.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

from bizenv.warehouse import sql_text

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sql_text("views/v_case_workdays.sql"))
    op.execute(sql_text("views/v_entity_state.sql"))


def downgrade() -> None:
    op.execute("drop view if exists core.v_entity_state")
    op.execute("drop view if exists core.v_case_workdays")
