"""Indicators a 营商环境 office can sign (docs/indicators.md):

- registration applications carry their 业务类型 (event_type), delivered or derived; start-up
  durations and the full-e-registration rate read 设立 events only;
- the timestamps that bound a duration record whether they came as a date without a time of
  day (`<column>_date_only`): such a case has no duration and is counted apart;
- the working-day calendar records the source of each day, a snapshot run the calendar it used;
- snapshot rows gain an optional breakdown (企业不动产登记时长 per 登记类型) and, beside each
  median duration, the share within the policy limit, the 90th percentile, the cases without a
  time of day and the open backlog at month end; the catalog gains the policy limit.

Revision ID: 0009
Revises: 0008
"""

import importlib

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

DATE_ONLY_FLAGS = (
    ("registration", "submitted_at_date_only"),
    ("registration", "issued_at_date_only"),
    ("tax_filing", "refund_requested_at_date_only"),
    ("tax_filing", "refund_completed_at_date_only"),
    ("real_estate_case", "submitted_at_date_only"),
    ("real_estate_case", "completed_at_date_only"),
)
SNAPSHOT_MEASURES = (
    ("within_limit_share", "double precision"),
    ("p90_value", "double precision"),
    ("cases_without_time", "integer"),
    ("backlog_open", "integer"),
    ("backlog_oldest_workdays", "double precision"),
)
# the snapshot table as this revision makes it (its key gains the breakdown)
SNAPSHOT_TABLE = """
create table mart.indicator_snapshot (
    run_id varchar not null,
    version integer not null,
    month varchar(7) not null,
    region_code varchar not null,
    indicator_code varchar not null,
    breakdown varchar not null default '',
    value double precision,
    numerator double precision,
    denominator double precision,
    sample_size integer not null,
    target double precision,
    meets_target boolean,
    previous_value double precision,
    last_year_value double precision,
    within_limit_share double precision,
    p90_value double precision,
    cases_without_time integer,
    backlog_open integer,
    backlog_oldest_workdays double precision,
    computed_at timestamp not null,
    primary key (run_id, region_code, indicator_code, breakdown)
)
"""
OLD_SNAPSHOT_COLUMNS = (
    "run_id, version, month, region_code, indicator_code, value, numerator, denominator, sample_size, "
    "target, meets_target, previous_value, last_year_value, computed_at"
)
# the derivation documented in docs/indicators.md, for the rows loaded before this revision
DERIVED_EVENT_TYPE = """
update core.registration
set event_type = case
    when established_date >= cast(coalesce(submitted_at, issued_at) as date)
        and established_date <= cast(coalesce(issued_at, submitted_at) as date) then '设立'
    when status in ('注销', '吊销', '迁出') then status
    else '变更'
end
where event_type is null
"""
# the views as of this revision; later revisions replace them
V_CASE_WORKDAYS = """
create or replace view core.v_case_workdays as
with cases as (
    select
        'registration' as dataset,
        r.uscc as record_key,
        r.region_code,
        r.entity_type as applicant_type,
        cast(null as varchar) as case_type,
        r.submitted_at as started_at,
        r.issued_at as completed_at,
        r.submitted_at_date_only or coalesce(r.issued_at_date_only, false) as lacks_time_of_day
    from core.registration as r
    where r.event_type = '设立'
        and r.submitted_at is not null
    union all
    select
        'real_estate_case' as dataset,
        c.case_id as record_key,
        c.region_code,
        c.applicant_type,
        c.registration_type as case_type,
        c.submitted_at as started_at,
        c.completed_at,
        c.submitted_at_date_only or coalesce(c.completed_at_date_only, false) as lacks_time_of_day
    from core.real_estate_case as c
    union all
    select
        'tax_refund' as dataset,
        t.filing_id as record_key,
        t.region_code,
        cast(null as varchar) as applicant_type,
        cast(null as varchar) as case_type,
        t.refund_requested_at as started_at,
        t.refund_completed_at as completed_at,
        t.refund_requested_at_date_only or coalesce(t.refund_completed_at_date_only, false) as lacks_time_of_day
    from core.tax_filing as t
    where t.refund_requested_at is not null
),
consistent_cases as (
    -- a date without a time of day reads as midnight: such an end is compared by day
    select *
    from cases
    where completed_at is null
        or completed_at >= started_at
        or (lacks_time_of_day and cast(completed_at as date) >= cast(started_at as date))
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
),
office_overlap as (
    select
        c.dataset,
        c.record_key,
        sum(extract(epoch from (least(c.completed_at, s.slot_end) - greatest(c.started_at, s.slot_start))))
            as seconds
    from consistent_cases as c
    inner join office_slots as s
        on s.slot_start < c.completed_at
        and s.slot_end > c.started_at
    where not c.lacks_time_of_day
    group by c.dataset, c.record_key
)
select
    c.dataset,
    c.record_key,
    c.region_code,
    c.applicant_type,
    c.case_type,
    c.started_at,
    c.completed_at,
    c.lacks_time_of_day,
    case
        when c.completed_at is not null and not c.lacks_time_of_day
            then cast(coalesce(o.seconds, 0) as double precision) / cast(nullif(d.seconds, 0) as double precision)
    end as workdays
from consistent_cases as c
cross join day_length as d
left join office_overlap as o
    on o.dataset = c.dataset
    and o.record_key = c.record_key
"""
V_INDICATOR_LATEST = """
create or replace view mart.v_indicator_latest as
with published as (
    select month, max(version) as version
    from ops.snapshot_run
    where status = 'published'
    group by month
),
latest_run as (
    select r.run_id
    from ops.snapshot_run as r
    join published as p on p.month = r.month and p.version = r.version
)
select
    s.month,
    s.region_code,
    s.indicator_code,
    s.breakdown,
    c.name_zh,
    c.name_en,
    c.unit,
    c.direction,
    s.value,
    s.numerator,
    s.denominator,
    s.sample_size,
    s.target,
    s.meets_target,
    s.previous_value,
    s.last_year_value,
    s.within_limit_share,
    c.policy_limit,
    s.p90_value,
    s.cases_without_time,
    s.backlog_open,
    s.backlog_oldest_workdays,
    s.version,
    s.run_id,
    s.computed_at
from mart.indicator_snapshot as s
join latest_run as l on l.run_id = s.run_id
left join mart.indicator_catalog as c on c.indicator_code = s.indicator_code
"""


def _rebuild_snapshot_table(dialect: str) -> None:
    if dialect == "postgresql":
        op.execute("alter table mart.indicator_snapshot add column breakdown varchar not null default ''")
        for column, kind in SNAPSHOT_MEASURES:
            op.execute(f"alter table mart.indicator_snapshot add column {column} {kind}")
        op.execute("alter table mart.indicator_snapshot drop constraint indicator_snapshot_pkey")
        op.execute(
            "alter table mart.indicator_snapshot add primary key (run_id, region_code, indicator_code, breakdown)"
        )
        return
    # duckdb cannot change a primary key: copy into the new table
    op.execute("alter table mart.indicator_snapshot rename to indicator_snapshot_0008")
    op.execute(SNAPSHOT_TABLE)
    op.execute(
        f"insert into mart.indicator_snapshot ({OLD_SNAPSHOT_COLUMNS}) "  # noqa: S608 - constants of this migration
        f"select {OLD_SNAPSHOT_COLUMNS} from mart.indicator_snapshot_0008"
    )
    op.execute("drop table mart.indicator_snapshot_0008")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.execute("drop view if exists mart.v_indicator_latest")
    op.execute("drop view if exists core.v_case_workdays")
    for table in ("ops.stage_registration", "core.registration"):
        op.execute(f"alter table {table} add column event_type varchar")
    for dataset, column in DATE_ONLY_FLAGS:
        for table in (f"ops.stage_{dataset}", f"core.{dataset}"):
            op.execute(f"alter table {table} add column {column} boolean not null default false")
    op.execute(DERIVED_EVENT_TYPE)
    op.execute("alter table ops.work_calendar add column source varchar")
    op.execute("alter table ops.snapshot_run add column calendar_source varchar")
    op.execute("alter table mart.indicator_catalog add column policy_limit double precision")
    op.execute("alter table mart.indicator_catalog add column breakdown_name varchar")
    _rebuild_snapshot_table(dialect)
    op.execute(V_CASE_WORKDAYS)
    op.execute(V_INDICATOR_LATEST)


def _of_revision(module: str, name: str):
    """A constant or function of an earlier revision's migration, frozen with it."""
    return getattr(importlib.import_module(f"bizenv.migrations.versions.{module}"), name)


def downgrade() -> None:
    """Back to 0008; breakdown rows of snapshots have no place there and are dropped."""
    dialect = op.get_bind().dialect.name
    op.execute("drop view if exists mart.v_indicator_latest")
    op.execute("drop view if exists core.v_case_workdays")
    op.execute("delete from mart.indicator_snapshot where breakdown <> ''")
    if dialect == "postgresql":
        op.execute("alter table mart.indicator_snapshot drop constraint indicator_snapshot_pkey")
        op.execute("alter table mart.indicator_snapshot add primary key (run_id, region_code, indicator_code)")
        for column in ("breakdown", *(name for name, _ in SNAPSHOT_MEASURES)):
            op.execute(f"alter table mart.indicator_snapshot drop column {column}")
    else:
        op.execute("alter table mart.indicator_snapshot rename to indicator_snapshot_0009")
        op.execute(_of_revision("0001_initial", "create_table_statement")("mart.indicator_snapshot"))
        op.execute(
            f"insert into mart.indicator_snapshot ({OLD_SNAPSHOT_COLUMNS}) "  # noqa: S608 - constants of this migration
            f"select {OLD_SNAPSHOT_COLUMNS} from mart.indicator_snapshot_0009"
        )
        op.execute("drop table mart.indicator_snapshot_0009")
    for table, column in (("mart.indicator_catalog", "breakdown_name"), ("mart.indicator_catalog", "policy_limit"),
                          ("ops.snapshot_run", "calendar_source"), ("ops.work_calendar", "source")):
        op.execute(f"alter table {table} drop column {column}")
    for dataset, column in DATE_ONLY_FLAGS:
        for table in (f"ops.stage_{dataset}", f"core.{dataset}"):
            op.execute(f"alter table {table} drop column {column}")
    for table in ("ops.stage_registration", "core.registration"):
        op.execute(f"alter table {table} drop column event_type")
    op.execute(_of_revision("0003_case_workdays", "V_CASE_WORKDAYS"))
    op.execute(_of_revision("0002_mart_views", "V_INDICATOR_LATEST"))
