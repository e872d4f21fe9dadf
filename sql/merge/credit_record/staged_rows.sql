-- the rows of a batch that passed validation and wait in the stage (held back when the batch is rejected)
select s.source_row
from ops.stage_credit_record as s
where s.batch_id = :batch_id
order by s.source_row
