"""quarantine.registration keeps the row's name key and 成立日期, so that a re-delivery with a
corrected USCC (the defect was the key itself) resolves the quarantined row.

Rows quarantined before this revision have neither and resolve by USCC only, as before.

Revision ID: 0007
Revises: 0006
"""

from alembic import op

from bizenv.warehouse import sql_text

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("drop view if exists quarantine.v_rejected_row")
    op.execute("alter table quarantine.registration add column name_key varchar")
    op.execute("alter table quarantine.registration add column established_date date")
    op.execute(sql_text("views/v_rejected_row.sql"))


def downgrade() -> None:
    op.execute("drop view if exists quarantine.v_rejected_row")
    op.execute("alter table quarantine.registration drop column established_date")
    op.execute("alter table quarantine.registration drop column name_key")
    op.execute(sql_text("views/v_rejected_row.sql"))
