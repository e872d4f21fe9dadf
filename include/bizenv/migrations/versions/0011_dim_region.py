"""The dashboard mart (docs/dashboard-contract.md): `mart.dim_region`, the prefecture and its
reporting units with their Chinese names, so a dashboard names a unit without reading the
configuration. Its rows come from include/config/regions.yaml, written again on every
`bizenv db upgrade` and before every snapshot computation (bizenv.marts.refresh_dim_region); the
views that read it live in sql/marts/ and are re-created on every upgrade.

Revision ID: 0011
Revises: 0010
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute(
        """
        create table mart.dim_region (
            region_code varchar primary key,
            region_name varchar not null,
            level varchar not null,
            parent_code varchar
        )
        """
    )


def downgrade() -> None:
    op.execute("drop table mart.dim_region")
