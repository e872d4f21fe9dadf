"""core.v_region_disagreement: the one definition of a survivorship conflict on region.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

from bizenv.warehouse import sql_text

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(sql_text("views/v_region_disagreement.sql"))


def downgrade() -> None:
    op.execute("drop view if exists core.v_region_disagreement")
