-- one enterprise's 一企一档 profile, without personal data
select *
from mart.v_enterprise_profile
where uscc = :uscc
