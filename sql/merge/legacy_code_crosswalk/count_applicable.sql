-- staged mappings that change core: a new legacy number, or one that now maps to another uscc
select count(*) as applicable
from ops.stage_legacy_code_crosswalk as s
left join core.legacy_code_crosswalk as c on c.legacy_reg_no = s.legacy_reg_no
where s.batch_id = :batch_id
    and (c.legacy_reg_no is null or c.uscc <> s.uscc)
