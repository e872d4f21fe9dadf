-- one enterprise's 一企一档 profile, without personal data
-- every column of the documented profile view, whatever it gains
select *  -- noqa: AM04
from mart.v_enterprise_profile
where uscc = :uscc
