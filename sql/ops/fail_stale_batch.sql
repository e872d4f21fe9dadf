-- a running batch whose process is gone is closed as failed; its landing path is kept. only a
-- batch still running is touched, so two ingests that find it at once fail it once
update ops.batch
set
    status = 'failed',
    reason = :reason,
    finished_at = cast(:finished_at as timestamp)
where batch_id = :batch_id
    and status = 'running'
