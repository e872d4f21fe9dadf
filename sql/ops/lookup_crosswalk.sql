-- the uscc of pre-2015 entities known only by their 15-digit registration number
select legacy_reg_no, uscc
from core.legacy_code_crosswalk
