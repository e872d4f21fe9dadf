"""core.v_region_disagreement: the one definition of a survivorship conflict on region.

Revision ID: 0006
Revises: 0005
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# the view as of this revision
V_REGION_DISAGREEMENT = """
create or replace view core.v_region_disagreement as
with department as (
    select 'tax_filing' as dataset, t.filing_id as record_key, t.uscc, t.region_code
    from core.tax_filing as t
    union all
    select 'credit_record' as dataset, c.record_id as record_key, c.uscc, c.region_code
    from core.credit_record as c
)
select
    d.dataset,
    d.record_key,
    d.uscc,
    m.region_code as core_value,
    d.region_code as department_value
from department as d
join core.market_entity as m on m.uscc = d.uscc and m.is_current
where d.region_code <> m.region_code
"""


def upgrade() -> None:
    op.execute(V_REGION_DISAGREEMENT)


def downgrade() -> None:
    op.execute("drop view if exists core.v_region_disagreement")
