"""Schemas ops, quarantine, core and mart with their tables.

The schema as this revision made it (portable between DuckDB and PostgreSQL; business
timestamps are Asia/Shanghai local time, ops timestamps UTC). Later revisions change it and
never this text: 0004 and 0009 take table definitions of this revision from `statements()`.

Revision ID: 0001
Revises:
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMA = """
create schema if not exists ops;
create schema if not exists quarantine;
create schema if not exists core;
create schema if not exists mart;

create table ops.batch (
    batch_id varchar primary key,
    source varchar not null,
    dataset varchar not null,
    file_name varchar,
    checksum varchar,
    landing_path varchar,
    extracted integer,
    loaded integer,
    quarantined integer,
    duplicates integer,
    status varchar not null,
    reason varchar,
    watermark_from timestamp,
    watermark_to timestamp,
    started_at timestamp not null,
    finished_at timestamp
);

create table ops.watermark (
    source varchar primary key,
    dataset varchar not null,
    watermark timestamp not null,
    batch_id varchar not null,
    advanced_at timestamp not null
);

create table ops.validation_result (
    batch_id varchar not null,
    dataset varchar not null,
    suite varchar not null,
    rule varchar not null,
    column_name varchar not null,
    severity varchar not null,
    success boolean not null,
    element_count integer not null,
    unexpected_count integer not null,
    checked_at timestamp not null,
    primary key (batch_id, rule, column_name)
);

create table ops.snapshot_run (
    run_id varchar primary key,
    month varchar(7) not null,
    version integer not null,
    status varchar not null,
    row_count integer,
    reason varchar,
    started_at timestamp not null,
    finished_at timestamp,
    unique (month, version)
);

create table ops.work_calendar (
    day date primary key,
    is_working_day boolean not null
);

create table ops.office_period (
    period_no integer primary key,
    start_time time not null,
    end_time time not null
);

-- staging: the standardized, validated rows of one batch, replaced per batch
create table ops.stage_registration (
    batch_id varchar not null,
    source_row integer not null,
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
    primary key (batch_id, source_row)
);

create table ops.stage_tax_filing (
    batch_id varchar not null,
    source_row integer not null,
    filing_id varchar not null,
    uscc varchar not null,
    region_code varchar not null,
    tax_period varchar(7) not null,
    filed_at timestamp not null,
    channel varchar not null,
    tax_amount numeric(18, 2),
    refund_requested_at timestamp,
    refund_completed_at timestamp,
    updated_at timestamp not null,
    primary key (batch_id, source_row)
);

create table ops.stage_credit_record (
    batch_id varchar not null,
    source_row integer not null,
    record_id varchar not null,
    uscc varchar not null,
    region_code varchar not null,
    record_type varchar not null,
    record_date date not null,
    removal_date date,
    authority varchar,
    updated_at timestamp not null,
    primary key (batch_id, source_row)
);

create table ops.stage_real_estate_case (
    batch_id varchar not null,
    source_row integer not null,
    case_id varchar not null,
    unit_code varchar not null,
    applicant_type varchar not null,
    applicant_uscc varchar,
    applicant_id_hash varchar,
    applicant_id_masked varchar,
    registration_type varchar not null,
    region_code varchar not null,
    submitted_at timestamp not null,
    completed_at timestamp,
    channel varchar,
    updated_at timestamp not null,
    primary key (batch_id, source_row)
);

-- core: the unified platform, one row per department record key
create table core.registration (
    uscc varchar primary key,
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
    changed_at timestamp not null
);

-- the golden enterprise record with full history (scd type 2); registration is authoritative
create table core.market_entity (
    uscc varchar not null,
    valid_from timestamp not null,
    valid_to timestamp,
    is_current boolean not null,
    name varchar not null,
    name_key varchar not null,
    entity_type varchar not null,
    region_code varchar not null,
    industry_code varchar,
    status varchar not null,
    status_date date,
    established_date date not null,
    legal_rep_name varchar,
    legal_rep_id_hash varchar,
    legal_rep_id_masked varchar,
    batch_id varchar not null,
    changed_at timestamp not null,
    primary key (uscc, valid_from)
);

create table core.legacy_code_crosswalk (
    legacy_reg_no varchar primary key,
    uscc varchar not null,
    batch_id varchar not null,
    changed_at timestamp not null
);

create table core.entity_conflict (
    uscc varchar not null,
    dataset varchar not null,
    record_key varchar not null,
    field varchar not null,
    core_value varchar,
    department_value varchar,
    batch_id varchar not null,
    detected_at timestamp not null,
    primary key (uscc, dataset, record_key, field)
);

create table core.tax_filing (
    filing_id varchar primary key,
    uscc varchar not null,
    region_code varchar not null,
    tax_period varchar(7) not null,
    filed_at timestamp not null,
    channel varchar not null,
    tax_amount numeric(18, 2),
    refund_requested_at timestamp,
    refund_completed_at timestamp,
    updated_at timestamp not null,
    batch_id varchar not null,
    changed_at timestamp not null
);

create table core.credit_record (
    record_id varchar primary key,
    uscc varchar not null,
    region_code varchar not null,
    record_type varchar not null,
    record_date date not null,
    removal_date date,
    authority varchar,
    updated_at timestamp not null,
    batch_id varchar not null,
    changed_at timestamp not null
);

create table core.real_estate_case (
    case_id varchar primary key,
    unit_code varchar not null,
    applicant_type varchar not null,
    applicant_uscc varchar,
    applicant_id_hash varchar,
    applicant_id_masked varchar,
    registration_type varchar not null,
    region_code varchar not null,
    submitted_at timestamp not null,
    completed_at timestamp,
    channel varchar,
    updated_at timestamp not null,
    batch_id varchar not null,
    changed_at timestamp not null
);

-- quarantine: rejected rows with their reasons; personal ids are masked before they land here
create table quarantine.registration (
    batch_id varchar not null,
    source_row integer not null,
    record_key varchar,
    region_code varchar,
    record varchar not null,
    failures varchar not null,
    reason_zh varchar not null,
    reason_en varchar not null,
    quarantined_at timestamp not null,
    resolved_at timestamp,
    resolved_by_batch varchar,
    primary key (batch_id, source_row)
);

create table quarantine.tax_filing (
    batch_id varchar not null,
    source_row integer not null,
    record_key varchar,
    region_code varchar,
    record varchar not null,
    failures varchar not null,
    reason_zh varchar not null,
    reason_en varchar not null,
    quarantined_at timestamp not null,
    resolved_at timestamp,
    resolved_by_batch varchar,
    primary key (batch_id, source_row)
);

create table quarantine.credit_record (
    batch_id varchar not null,
    source_row integer not null,
    record_key varchar,
    region_code varchar,
    record varchar not null,
    failures varchar not null,
    reason_zh varchar not null,
    reason_en varchar not null,
    quarantined_at timestamp not null,
    resolved_at timestamp,
    resolved_by_batch varchar,
    primary key (batch_id, source_row)
);

create table quarantine.real_estate_case (
    batch_id varchar not null,
    source_row integer not null,
    record_key varchar,
    region_code varchar,
    record varchar not null,
    failures varchar not null,
    reason_zh varchar not null,
    reason_en varchar not null,
    quarantined_at timestamp not null,
    resolved_at timestamp,
    resolved_by_batch varchar,
    primary key (batch_id, source_row)
);

-- mart: what dashboards read
create table mart.indicator_catalog (
    indicator_code varchar primary key,
    name_zh varchar not null,
    name_en varchar not null,
    unit varchar not null,
    direction varchar not null,
    target double precision,
    target_operator varchar,
    definition varchar not null,
    policy_reference varchar
);

create table mart.indicator_snapshot (
    run_id varchar not null,
    version integer not null,
    month varchar(7) not null,
    region_code varchar not null,
    indicator_code varchar not null,
    value double precision,
    numerator double precision,
    denominator double precision,
    sample_size integer not null,
    target double precision,
    meets_target boolean,
    previous_value double precision,
    last_year_value double precision,
    computed_at timestamp not null,
    primary key (run_id, region_code, indicator_code)
);
"""


def statements() -> list[str]:
    """The statements of SCHEMA, without comment lines."""
    lines = [line for line in SCHEMA.splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in "\n".join(lines).split(";") if s.strip()]


def create_table_statement(table: str) -> str:
    """This revision's create statement of `table` (schema-qualified)."""
    return next(s for s in statements() if s.startswith(f"create table {table} ("))


def upgrade() -> None:
    for statement in statements():
        op.execute(statement)


def downgrade() -> None:
    for schema in ("mart", "quarantine", "core"):
        op.execute(f"drop schema if exists {schema} cascade")
