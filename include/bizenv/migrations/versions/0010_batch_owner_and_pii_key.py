"""Reliability and security (docs/security.md).

- `ops.batch.worker_host` / `worker_pid`: the process that runs a batch, so the next run can tell
  a batch whose process is gone (killed, machine restarted) from one still running, and mark it
  failed with its landing kept for `bizenv reload`.
- `ops.pii_key`: the fingerprint of the key that hashes resident IDs. A load with a different key
  would give one person two hashes, so it is refused.

Revision ID: 0010
Revises: 0009
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("alter table ops.batch add column worker_host varchar")
    op.execute("alter table ops.batch add column worker_pid integer")
    op.execute(
        """
        create table ops.pii_key (
            fingerprint varchar primary key,
            first_used_at timestamp not null
        )
        """
    )


def downgrade() -> None:
    op.execute("drop table ops.pii_key")
    op.execute("alter table ops.batch drop column worker_pid")
    op.execute("alter table ops.batch drop column worker_host")
