"""Dashboard views in mart.

Revision ID: 0002
Revises: 0001
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# the view as of this revision; later revisions replace it
V_INDICATOR_LATEST = """
create or replace view mart.v_indicator_latest as
with published as (
    select month, max(version) as version
    from ops.snapshot_run
    where status = 'published'
    group by month
),
latest_run as (
    select r.run_id
    from ops.snapshot_run as r
    join published as p on p.month = r.month and p.version = r.version
)
select
    s.month,
    s.region_code,
    s.indicator_code,
    c.name_zh,
    c.name_en,
    c.unit,
    c.direction,
    s.value,
    s.numerator,
    s.denominator,
    s.sample_size,
    s.target,
    s.meets_target,
    s.previous_value,
    s.last_year_value,
    s.version,
    s.run_id,
    s.computed_at
from mart.indicator_snapshot as s
join latest_run as l on l.run_id = s.run_id
left join mart.indicator_catalog as c on c.indicator_code = s.indicator_code
"""


def upgrade() -> None:
    op.execute(V_INDICATOR_LATEST)


def downgrade() -> None:
    op.execute("drop view if exists mart.v_indicator_latest")
