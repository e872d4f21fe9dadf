-- one uscc per legacy registration number; a re-delivered crosswalk changes nothing
insert into core.legacy_code_crosswalk (legacy_reg_no, uscc, batch_id, changed_at)
values (:legacy_reg_no, :uscc, :batch_id, cast(:changed_at as timestamp))
on conflict (legacy_reg_no) do update set
    uscc = excluded.uscc,
    batch_id = excluded.batch_id,
    changed_at = excluded.changed_at
where core.legacy_code_crosswalk.uscc <> excluded.uscc
