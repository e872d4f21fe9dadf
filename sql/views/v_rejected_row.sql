-- every quarantined row of the four datasets in one place, for lists, summaries and feedback.
-- the columns all four tables share, by name: a dataset's own matching columns (such as
-- quarantine.registration's name_key) stay out, and adding one does not change this view.
create or replace view quarantine.v_rejected_row as
select
    'registration' as dataset, q.batch_id, q.source_row, q.record_key, q.region_code, q.record, q.failures, q.reason_zh,
    q.reason_en, q.quarantined_at, q.resolved_at, q.resolved_by_batch
from quarantine.registration as q
union all
select
    'tax_filing' as dataset, q.batch_id, q.source_row, q.record_key, q.region_code, q.record, q.failures, q.reason_zh,
    q.reason_en, q.quarantined_at, q.resolved_at, q.resolved_by_batch
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
