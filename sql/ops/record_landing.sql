-- the landing file is recorded as soon as it is written, so a batch whose process dies before
-- it finishes can still be re-processed from it (bizenv reload)
update ops.batch
set landing_path = :landing_path
where batch_id = :batch_id
