-- staging holds one batch at a time per batch id; clear it once merged
delete from ops.stage_legacy_code_crosswalk
where batch_id = :batch_id
