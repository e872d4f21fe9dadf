"""Unified platform: staging for bulk merges, crosswalk staging, 一企一档 profile view.

Staging tables are scratch space, refilled from the immutable landing zone and emptied inside
each batch's merge transaction: they lose their primary key (source rows are unique by
construction; the index only cost time on every bulk load) and, on PostgreSQL, become
unlogged (no WAL for rows that never outlive a transaction).

Revision ID: 0004
Revises: 0003
"""

import importlib

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

DATASET_STAGES = (
    "ops.stage_registration",
    "ops.stage_tax_filing",
    "ops.stage_credit_record",
    "ops.stage_real_estate_case",
)
STAGE_TABLES = (*DATASET_STAGES, "ops.stage_legacy_code_crosswalk")
STAGE_KEY = ",\n    primary key (batch_id, source_row)"
# the view as of this revision; later revisions replace it
V_ENTERPRISE_PROFILE = """
create or replace view mart.v_enterprise_profile as
with tax as (
    select
        t.uscc,
        count(*) as tax_filing_count,
        max(t.tax_period) as latest_tax_period,
        sum(t.tax_amount) as total_tax_amount,
        sum(case when t.channel in ('电子税务局', '移动端') then 1 else 0 end) as online_filing_count
    from core.tax_filing as t
    group by t.uscc
),
credit as (
    select
        c.uscc,
        sum(
            case
                when c.record_type = '严重失信主体名单'
                    and c.record_date <= current_date
                    and (c.removal_date is null or c.removal_date > current_date)
                then 1 else 0
            end
        ) as dishonest_listings,
        sum(case when c.record_type = '履约践诺' then 1 else 0 end) as fulfilment_count
    from core.credit_record as c
    group by c.uscc
),
real_estate as (
    select
        r.applicant_uscc as uscc,
        count(*) as real_estate_case_count,
        count(r.completed_at) as real_estate_completed_count,
        max(r.completed_at) as latest_real_estate_completed_at
    from core.real_estate_case as r
    where r.applicant_type = '企业'
        and r.applicant_uscc is not null
    group by r.applicant_uscc
)
select
    m.uscc,
    m.name,
    m.entity_type,
    m.region_code,
    m.industry_code,
    m.status,
    m.status_date,
    m.established_date,
    cast(coalesce(t.tax_filing_count, 0) as bigint) as tax_filing_count,
    t.latest_tax_period,
    cast(t.total_tax_amount as numeric(20, 2)) as total_tax_amount,
    cast(t.online_filing_count as double precision)
        / cast(nullif(t.tax_filing_count, 0) as double precision) as online_filing_share,
    coalesce(c.dishonest_listings, 0) > 0 as on_dishonest_list,
    cast(coalesce(c.fulfilment_count, 0) as bigint) as fulfilment_count,
    cast(coalesce(r.real_estate_case_count, 0) as bigint) as real_estate_case_count,
    cast(coalesce(r.real_estate_completed_count, 0) as bigint) as real_estate_completed_count,
    r.latest_real_estate_completed_at,
    m.valid_from as record_valid_from,
    m.batch_id,
    m.changed_at
from core.market_entity as m
left join tax as t on t.uscc = m.uscc
left join credit as c on c.uscc = m.uscc
left join real_estate as r on r.uscc = m.uscc
where m.is_current
"""


def _stage_ddl(table: str) -> str:
    """The stage table's create statement as revision 0001 made it."""
    return importlib.import_module("bizenv.migrations.versions.0001_initial").create_table_statement(table)


def _drop_stage_keys(dialect: str) -> None:
    for table in DATASET_STAGES:
        if dialect == "postgresql":
            op.execute(f"alter table {table} drop constraint {table.split('.')[1]}_pkey")
            continue
        # duckdb cannot drop a constraint: rebuild the (empty between batches) table without it
        ddl = _stage_ddl(table)
        if STAGE_KEY not in ddl:
            raise RuntimeError(f"unexpected staging table definition for {table}")
        op.execute(f"alter table {table} rename to {table.split('.')[1]}_keyed")
        op.execute(ddl.replace(STAGE_KEY, ""))
        op.execute(f"insert into {table} select * from {table}_keyed")  # noqa: S608 - table names of this migration
        op.execute(f"drop table {table}_keyed")


def upgrade() -> None:
    op.execute(
        """
        create table ops.stage_legacy_code_crosswalk (
            batch_id varchar not null,
            source_row integer not null,
            legacy_reg_no varchar not null,
            uscc varchar not null,
            primary key (batch_id, legacy_reg_no)
        )
        """
    )
    dialect = op.get_bind().dialect.name
    _drop_stage_keys(dialect)
    if dialect == "postgresql":
        for table in STAGE_TABLES:
            op.execute(f"alter table {table} set unlogged")
    op.execute(V_ENTERPRISE_PROFILE)


def downgrade() -> None:
    op.execute("drop view if exists mart.v_enterprise_profile")
    op.execute("drop table if exists ops.stage_legacy_code_crosswalk")
    for table in DATASET_STAGES:
        if op.get_bind().dialect.name == "postgresql":
            op.execute(f"alter table {table} set logged")
        op.execute(f"alter table {table} add primary key (batch_id, source_row)")
