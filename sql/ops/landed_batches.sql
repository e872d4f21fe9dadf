-- the landed batches of one source that no step has taken yet, oldest delivery first
select batch_id
from ops.batch
where source = :source
    and status = 'landed'
order by started_at, batch_id
