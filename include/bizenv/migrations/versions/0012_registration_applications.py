"""Registration applications as events (docs/indicators.md, "Registration applications"):
`core.registration` keeps every application a department delivered, one row per
(uscc, event_type, event_key), instead of one row per entity overwritten by the newest delivery.
A July 变更, 迁移 or 注销 of an entity approved in June is a row of its own, so June's 设立 event,
its 办理方式 and its region at approval stay as they were and a recomputed June does not move.

`event_key` names the application within its entity and type: '' for 设立 (a USCC is established
once; a later 设立 delivery corrects that event), else the application's own time (申请时间, else
核准时间, 状态日期, 更新时间) as text. The golden record and its history (core.market_entity) are
unchanged.

PostgreSQL swaps the primary key in place; DuckDB cannot alter a primary key, so there the table
is created anew and its rows copied.

Revision ID: 0012
Revises: 0011
"""

from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_COLUMNS = """
    uscc varchar not null,
    legacy_reg_no varchar,
    name varchar not null,
    name_key varchar not null,
    entity_type varchar not null,
    legal_rep_name varchar,
    legal_rep_id_hash varchar,
    legal_rep_id_masked varchar,
    region_code varchar not null,
    industry_code varchar,
    registered_capital numeric(18, 4),
    established_date date not null,
    submitted_at timestamp,
    issued_at timestamp,
    channel varchar,
    status varchar not null,
    status_date date,
    updated_at timestamp not null,
    batch_id varchar not null,
    changed_at timestamp not null,
    event_type varchar{event_type_not_null},
    submitted_at_date_only boolean not null default false,
    issued_at_date_only boolean not null default false{event_key}
"""
# the statements below are composed of these constants only (S608 is about untrusted values)
_COPIED = (
    "uscc, legacy_reg_no, name, name_key, entity_type, legal_rep_name, legal_rep_id_hash, legal_rep_id_masked, "
    "region_code, industry_code, registered_capital, established_date, submitted_at, issued_at, channel, status, "
    "status_date, updated_at, batch_id, changed_at, event_type, submitted_at_date_only, issued_at_date_only"
)
# the same rule as sql/merge/registration/upsert_registration.sql, frozen here
_EVENT_KEY = (
    "case when event_type = '设立' then '' "
    "else cast(coalesce(submitted_at, issued_at, cast(status_date as timestamp), updated_at) as varchar) end"
)


def _is_duckdb() -> bool:
    return op.get_bind().dialect.name == "duckdb"


def _recreate(columns: str, primary_key: str, select: str) -> None:
    op.execute(f"create table core.registration_rebuilt ({columns}, primary key ({primary_key}))")
    op.execute(f"insert into core.registration_rebuilt select {select} from core.registration")  # noqa: S608
    op.execute("drop table core.registration")
    op.execute("alter table core.registration_rebuilt rename to registration")


def upgrade() -> None:
    # every row has its 业务类型 since 0009; a key column cannot be null
    op.execute("update core.registration set event_type = '设立' where event_type is null")
    if _is_duckdb():
        columns = _COLUMNS.format(event_type_not_null=" not null",
                                  event_key=",\n    event_key varchar not null default ''")
        _recreate(columns, "uscc, event_type, event_key", f"{_COPIED}, {_EVENT_KEY}")
        return
    op.execute("alter table core.registration alter column event_type set not null")
    op.execute("alter table core.registration add column event_key varchar not null default ''")
    op.execute(f"update core.registration set event_key = {_EVENT_KEY}")  # noqa: S608
    op.execute("alter table core.registration drop constraint registration_pkey")
    op.execute("alter table core.registration add primary key (uscc, event_type, event_key)")


def downgrade() -> None:
    # back to one row per entity: its latest application
    ranked = (
        "select r.*, row_number() over (partition by r.uscc order by r.updated_at desc, r.changed_at desc, "
        "r.event_key desc) as recency from core.registration as r"
    )
    latest = f"select {_COPIED} from ({ranked}) as ranked where recency = 1"  # noqa: S608
    if _is_duckdb():
        op.execute("create table core.registration_latest as " + latest)
        op.execute("delete from core.registration")
        columns = _COLUMNS.format(event_type_not_null="", event_key="")
        op.execute(f"create table core.registration_rebuilt ({columns}, primary key (uscc))")
        op.execute(f"insert into core.registration_rebuilt select {_COPIED} from core.registration_latest")  # noqa: S608
        op.execute("drop table core.registration_latest")
        op.execute("drop table core.registration")
        op.execute("alter table core.registration_rebuilt rename to registration")
        return
    op.execute("create temporary table registration_latest on commit drop as " + latest)
    op.execute("delete from core.registration")
    op.execute("alter table core.registration drop constraint registration_pkey")
    op.execute("alter table core.registration drop column event_key")
    op.execute("alter table core.registration alter column event_type drop not null")
    op.execute(f"insert into core.registration ({_COPIED}) select {_COPIED} from registration_latest")  # noqa: S608
    op.execute("alter table core.registration add primary key (uscc)")
