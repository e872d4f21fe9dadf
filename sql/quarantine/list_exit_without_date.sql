-- the exits dated by the department's 更新时间 alone (core.v_exit_without_date), by unit, for
-- `bizenv quarantine list --rule exit_without_date`; no personal data
select
    x.uscc,
    x.name,
    x.region_code,
    x.entity_type,
    x.status,
    x.established_date,
    x.dated_by_updated_at,
    x.updated_at,
    x.batch_id
from core.v_exit_without_date as x
order by x.region_code, x.uscc, x.updated_at
