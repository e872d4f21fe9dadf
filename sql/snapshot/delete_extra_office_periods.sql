-- office periods beyond the configured ones
delete from ops.office_period
where period_no > :period_count
