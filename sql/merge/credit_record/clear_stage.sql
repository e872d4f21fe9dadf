-- staging holds one batch at a time per batch id; clear it once merged or before a retry
delete from ops.stage_credit_record
where batch_id = :batch_id
