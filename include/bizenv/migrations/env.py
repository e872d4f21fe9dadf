"""Alembic environment: the connection is handed in by bizenv.warehouse.upgrade()."""

from alembic import context
from alembic.ddl.impl import DefaultImpl
from sqlalchemy import text


class DuckDBImpl(DefaultImpl):
    """Alembic has no DuckDB dialect of its own; DuckDB's DDL is transactional."""

    __dialect__ = "duckdb"
    transactional_ddl = True


connection = context.config.attributes["connection"]
connection.execute(text("create schema if not exists ops"))
context.configure(connection=connection, version_table_schema="ops", transactional_ddl=True)
with context.begin_transaction():
    context.run_migrations()
