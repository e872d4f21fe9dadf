"""Views the monthly indicators build on: working-day durations and month-end entity states.

Revision ID: 0003
Revises: 0002
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

# the views as of this revision; later revisions replace them
V_CASE_WORKDAYS = """
create or replace view core.v_case_workdays as
with cases as (
    select
        'registration' as dataset,
        r.uscc as record_key,
        r.region_code,
        r.entity_type as applicant_type,
        r.submitted_at as started_at,
        r.issued_at as completed_at
    from core.registration as r
    where r.submitted_at is not null
        and r.issued_at is not null
        and r.issued_at >= r.submitted_at
    union all
    select
        'real_estate_case' as dataset,
        c.case_id as record_key,
        c.region_code,
        c.applicant_type,
        c.submitted_at as started_at,
        c.completed_at
    from core.real_estate_case as c
    where c.completed_at is not null
        and c.completed_at >= c.submitted_at
    union all
    select
        'tax_refund' as dataset,
        t.filing_id as record_key,
        t.region_code,
        cast(null as varchar) as applicant_type,
        t.refund_requested_at as started_at,
        t.refund_completed_at as completed_at
    from core.tax_filing as t
    where t.refund_requested_at is not null
        and t.refund_completed_at is not null
        and t.refund_completed_at >= t.refund_requested_at
),
office_slots as (
    select
        w.day + p.start_time as slot_start,
        w.day + p.end_time as slot_end
    from ops.work_calendar as w
    cross join ops.office_period as p
    where w.is_working_day
),
day_length as (
    select
        sum(
            extract(epoch from ((cast('2000-01-03' as date) + p.end_time)
                - (cast('2000-01-03' as date) + p.start_time)))
        ) as seconds
    from ops.office_period as p
)
select
    c.dataset,
    c.record_key,
    c.region_code,
    c.applicant_type,
    c.started_at,
    c.completed_at,
    cast(
        coalesce(
            sum(
                extract(epoch from (least(c.completed_at, s.slot_end) - greatest(c.started_at, s.slot_start)))
            ),
            0
        ) as double precision
    ) / cast(nullif(max(d.seconds), 0) as double precision) as workdays
from cases as c
cross join day_length as d
left join office_slots as s
    on s.slot_start < c.completed_at
    and s.slot_end > c.started_at
group by c.dataset, c.record_key, c.region_code, c.applicant_type, c.started_at, c.completed_at
"""

V_ENTITY_STATE = """
create or replace view core.v_entity_state as
with versions as (
    select
        m.uscc,
        m.valid_from,
        m.valid_to,
        m.entity_type,
        m.region_code,
        m.established_date,
        m.status,
        case
            when m.status in ('注销', '吊销', '迁出') then coalesce(m.status_date, cast(m.valid_from as date))
        end as own_exit_date,
        row_number() over (partition by m.uscc order by m.valid_from) as version_no
    from core.market_entity as m
)
select
    v.uscc,
    v.valid_from,
    v.valid_to,
    v.version_no = 1 as is_first,
    v.entity_type,
    v.region_code,
    v.established_date,
    v.status,
    min(v.own_exit_date) over (
        partition by v.uscc
        order by v.valid_from desc
        rows between unbounded preceding and current row
    ) as exit_date
from versions as v
"""


def upgrade() -> None:
    op.execute(V_CASE_WORKDAYS)
    op.execute(V_ENTITY_STATE)


def downgrade() -> None:
    op.execute("drop view if exists core.v_entity_state")
    op.execute("drop view if exists core.v_case_workdays")
