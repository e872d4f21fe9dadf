"""quarantine.registration keeps the row's name key and 成立日期, so that a re-delivery with a
corrected USCC (the defect was the key itself) resolves the quarantined row.

Rows quarantined before this revision have neither and resolve by USCC only, as before.

Revision ID: 0007
Revises: 0006
"""

import importlib

from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# the view as of this revision: its columns by name, so that the name key stays out
V_REJECTED_ROW = """
create or replace view quarantine.v_rejected_row as
select
    'registration' as dataset, q.batch_id, q.source_row, q.record_key, q.region_code, q.record, q.failures,
    q.reason_zh, q.reason_en, q.quarantined_at, q.resolved_at, q.resolved_by_batch
from quarantine.registration as q
union all
select
    'tax_filing' as dataset, q.batch_id, q.source_row, q.record_key, q.region_code, q.record, q.failures,
    q.reason_zh, q.reason_en, q.quarantined_at, q.resolved_at, q.resolved_by_batch
from quarantine.tax_filing as q
union all
select
    'credit_record' as dataset, q.batch_id, q.source_row, q.record_key, q.region_code, q.record, q.failures,
    q.reason_zh, q.reason_en, q.quarantined_at, q.resolved_at, q.resolved_by_batch
from quarantine.credit_record as q
union all
select
    'real_estate_case' as dataset, q.batch_id, q.source_row, q.record_key, q.region_code, q.record, q.failures,
    q.reason_zh, q.reason_en, q.quarantined_at, q.resolved_at, q.resolved_by_batch
from quarantine.real_estate_case as q
"""


def upgrade() -> None:
    op.execute("drop view if exists quarantine.v_rejected_row")
    op.execute("alter table quarantine.registration add column name_key varchar")
    op.execute("alter table quarantine.registration add column established_date date")
    op.execute(V_REJECTED_ROW)


def downgrade() -> None:
    op.execute("drop view if exists quarantine.v_rejected_row")
    op.execute("alter table quarantine.registration drop column established_date")
    op.execute("alter table quarantine.registration drop column name_key")
    op.execute(importlib.import_module("bizenv.migrations.versions.0005_rejected_row_view").V_REJECTED_ROW)
