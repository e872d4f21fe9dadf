"""quarantine.v_rejected_row: the four quarantine tables as one relation.

Revision ID: 0005
Revises: 0004
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# the view as of this revision; 0007 replaces it (and restores it on the way down)
V_REJECTED_ROW = """
create or replace view quarantine.v_rejected_row as
select 'registration' as dataset, q.* from quarantine.registration as q
union all
select 'tax_filing' as dataset, q.* from quarantine.tax_filing as q
union all
select 'credit_record' as dataset, q.* from quarantine.credit_record as q
union all
select 'real_estate_case' as dataset, q.* from quarantine.real_estate_case as q
"""


def upgrade() -> None:
    op.execute(V_REJECTED_ROW)


def downgrade() -> None:
    op.execute("drop view if exists quarantine.v_rejected_row")
