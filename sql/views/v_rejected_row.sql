-- every quarantined row of the four datasets in one place, for lists, summaries and feedback
create or replace view quarantine.v_rejected_row as
select 'registration' as dataset, q.* from quarantine.registration as q
union all
select 'tax_filing' as dataset, q.* from quarantine.tax_filing as q
union all
select 'credit_record' as dataset, q.* from quarantine.credit_record as q
union all
select 'real_estate_case' as dataset, q.* from quarantine.real_estate_case as q
