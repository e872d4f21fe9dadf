-- what each department delivered in the report month (batches loaded then, Asia/Shanghai) and
-- how much of it reached the platform, for the report's data-quality section.
-- params: :month ('YYYY-MM-01': the first day of the report month)
with month_rows as (
    select q.*
    from mart.v_data_quality as q
    where q.month = cast(:month as date)
)
select
    m.department_code, m.department_name, m.source_name, m.dataset, m.month, m.received_rows,
    m.loaded_rows, m.quarantined_rows, m.duplicate_rows, m.top_reasons, m.last_successful_load_at,
    m.latest_changed_at, m.is_fresh
from month_rows as m
order by m.department_code, m.source_name, m.dataset
