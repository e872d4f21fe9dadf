-- a staged row taken back before the merge: it turned out to conflict with a later chunk's row
delete from ops.stage_registration
where batch_id = :batch_id and source_row = :source_row
