-- the months core changes touch (docs/history.md, "Revisions"), found from the changed rows' own
-- dates: every version a batch wrote into core.<dataset>_version, with the version it replaced (a
-- correction that moves a record out of a month touches that month too), and every version of
-- core.market_entity it wrote. an event touches its month (first_month = last_month); a case or a
-- refund every month from its start to its end (last_month null: still open, every month from its
-- start on); a month-end stock (an entity's version, establishment and exit, a credit record
-- and its removal) every month from its date on (last_month null). months are the dates' own
-- calendar months: department times are Asia/Shanghai wall time, like the months' bounds.
-- params: :batch_id (null: every batch), :changed_after and :changed_until (the changes stamped
-- in (changed_after, changed_until]; null: unbounded on that side)
with changed_registration as (
    select v.uscc, v.event_type, v.event_key, v.batch_id, v.changed_at
    from core.registration_version as v
    where (cast(:batch_id as varchar) is null or v.batch_id = cast(:batch_id as varchar))
        and (cast(:changed_after as timestamp) is null or v.changed_at > cast(:changed_after as timestamp))
        and (cast(:changed_until as timestamp) is null or v.changed_at <= cast(:changed_until as timestamp))
),
registration_rows as (
    select c.batch_id, c.changed_at, v.submitted_at, v.issued_at
    from changed_registration as c
    inner join core.registration_version as v
        on v.uscc = c.uscc
            and v.event_type = c.event_type
            and v.event_key = c.event_key
            and (v.changed_at = c.changed_at or v.superseded_at = c.changed_at)
),
changed_tax_filing as (
    select v.filing_id, v.batch_id, v.changed_at
    from core.tax_filing_version as v
    where (cast(:batch_id as varchar) is null or v.batch_id = cast(:batch_id as varchar))
        and (cast(:changed_after as timestamp) is null or v.changed_at > cast(:changed_after as timestamp))
        and (cast(:changed_until as timestamp) is null or v.changed_at <= cast(:changed_until as timestamp))
),
tax_filing_rows as (
    select c.batch_id, c.changed_at, v.filed_at, v.refund_requested_at, v.refund_completed_at
    from changed_tax_filing as c
    inner join core.tax_filing_version as v
        on v.filing_id = c.filing_id
            and (v.changed_at = c.changed_at or v.superseded_at = c.changed_at)
),
changed_credit_record as (
    select v.record_id, v.batch_id, v.changed_at
    from core.credit_record_version as v
    where (cast(:batch_id as varchar) is null or v.batch_id = cast(:batch_id as varchar))
        and (cast(:changed_after as timestamp) is null or v.changed_at > cast(:changed_after as timestamp))
        and (cast(:changed_until as timestamp) is null or v.changed_at <= cast(:changed_until as timestamp))
),
credit_record_rows as (
    select c.batch_id, c.changed_at, v.record_date, v.removal_date
    from changed_credit_record as c
    inner join core.credit_record_version as v
        on v.record_id = c.record_id
            and (v.changed_at = c.changed_at or v.superseded_at = c.changed_at)
),
changed_real_estate_case as (
    select v.case_id, v.batch_id, v.changed_at
    from core.real_estate_case_version as v
    where (cast(:batch_id as varchar) is null or v.batch_id = cast(:batch_id as varchar))
        and (cast(:changed_after as timestamp) is null or v.changed_at > cast(:changed_after as timestamp))
        and (cast(:changed_until as timestamp) is null or v.changed_at <= cast(:changed_until as timestamp))
),
real_estate_case_rows as (
    select c.batch_id, c.changed_at, v.submitted_at, v.completed_at
    from changed_real_estate_case as c
    inner join core.real_estate_case_version as v
        on v.case_id = c.case_id
            and (v.changed_at = c.changed_at or v.superseded_at = c.changed_at)
),
entity_rows as (
    select m.batch_id, m.changed_at, m.valid_from, m.established_date, m.status_date
    from core.market_entity as m
    where (cast(:batch_id as varchar) is null or m.batch_id = cast(:batch_id as varchar))
        and (cast(:changed_after as timestamp) is null or m.changed_at > cast(:changed_after as timestamp))
        and (cast(:changed_until as timestamp) is null or m.changed_at <= cast(:changed_until as timestamp))
),
spans as (
    -- approval month (全程电子化登记率) and application to approval (企业设立登记时长)
    select r.batch_id, r.changed_at, r.issued_at as first_at, r.issued_at as last_at
    from registration_rows as r
    where r.issued_at is not null
    union all
    select r.batch_id, r.changed_at, r.submitted_at as first_at, r.issued_at as last_at
    from registration_rows as r
    where r.submitted_at is not null
    -- filing month (网上办税率, 跨部门数据关联率) and refund request to completion (退税办理时长)
    union all
    select t.batch_id, t.changed_at, t.filed_at as first_at, t.filed_at as last_at
    from tax_filing_rows as t
    where t.filed_at is not null
    union all
    select t.batch_id, t.changed_at, t.refund_requested_at as first_at, t.refund_completed_at as last_at
    from tax_filing_rows as t
    where t.refund_requested_at is not null
    -- month-end stocks from the record's date, and from its removal, on
    union all
    select c.batch_id, c.changed_at, cast(c.record_date as timestamp) as first_at, cast(null as timestamp) as last_at
    from credit_record_rows as c
    where c.record_date is not null
    union all
    select c.batch_id, c.changed_at, cast(c.removal_date as timestamp) as first_at, cast(null as timestamp) as last_at
    from credit_record_rows as c
    where c.removal_date is not null
    -- 受理 to 办结, and the completion month (跨部门数据关联率)
    union all
    select e.batch_id, e.changed_at, e.submitted_at as first_at, e.completed_at as last_at
    from real_estate_case_rows as e
    where e.submitted_at is not null
    union all
    select e.batch_id, e.changed_at, e.completed_at as first_at, e.completed_at as last_at
    from real_estate_case_rows as e
    where e.completed_at is not null
    -- the entity's state at every month end from its version, establishment and exit on
    union all
    select m.batch_id, m.changed_at, m.valid_from as first_at, cast(null as timestamp) as last_at
    from entity_rows as m
    where m.valid_from is not null
    union all
    select
        m.batch_id, m.changed_at, cast(m.established_date as timestamp) as first_at,
        cast(null as timestamp) as last_at
    from entity_rows as m
    where m.established_date is not null
    union all
    select m.batch_id, m.changed_at, cast(m.status_date as timestamp) as first_at, cast(null as timestamp) as last_at
    from entity_rows as m
    where m.status_date is not null
)
select
    s.batch_id,
    cast(date_trunc('month', s.first_at) as date) as first_month,
    cast(date_trunc('month', s.last_at) as date) as last_month,
    max(s.changed_at) as changed_at
from spans as s
group by s.batch_id, cast(date_trunc('month', s.first_at) as date), cast(date_trunc('month', s.last_at) as date)
