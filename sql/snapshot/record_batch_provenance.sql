-- the batches that fed a snapshot run (docs/history.md): every batch with a version the run read
-- at its cut-off (core.read_as_of(), or the present), with its rows, checksum and the results of
-- its great expectations suite (ops.validation_result)
insert into mart.snapshot_provenance (
    run_id, month, version, data_cutoff, input_kind, input_id, dataset, source, row_count, checksum,
    expectations_evaluated, expectations_failed, recorded_at
)
with fed as (
    select r.batch_id from core.v_registration_as_of as r
    union
    select m.batch_id from core.v_market_entity_as_of as m
    union
    select t.batch_id from core.v_tax_filing_as_of as t
    union
    select c.batch_id from core.v_credit_record_as_of as c
    union
    select e.batch_id from core.v_real_estate_case_as_of as e
),
checked as (
    select
        v.batch_id,
        count(*) as evaluated,
        sum(case when v.success then 0 else 1 end) as failed
    from ops.validation_result as v
    where v.batch_id in (select f.batch_id from fed as f)
    group by v.batch_id
)
select
    :run_id, :month, :version, cast(:data_cutoff as timestamp), 'batch', b.batch_id, b.dataset,
    b.source, b.loaded, b.checksum, c.evaluated, c.failed, cast(:recorded_at as timestamp)
from ops.batch as b
inner join fed as f on f.batch_id = b.batch_id
left join checked as c on c.batch_id = b.batch_id
