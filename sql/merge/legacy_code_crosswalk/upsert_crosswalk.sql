-- one uscc per legacy registration number, set-based; a re-delivered crosswalk changes nothing.
-- the stage holds one validated row per legacy number (bizenv.crosswalk removes ambiguity).
insert into core.legacy_code_crosswalk (legacy_reg_no, uscc, batch_id, changed_at)
select s.legacy_reg_no, s.uscc, s.batch_id, cast(:changed_at as timestamp)
from ops.stage_legacy_code_crosswalk as s
where s.batch_id = :batch_id
on conflict (legacy_reg_no) do update set
    uscc = excluded.uscc,
    batch_id = excluded.batch_id,
    changed_at = excluded.changed_at
where core.legacy_code_crosswalk.uscc <> excluded.uscc
