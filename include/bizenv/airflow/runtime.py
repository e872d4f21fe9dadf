"""What a task needs from Airflow: settings whose warehouse comes from a Connection.

Imported inside task callables only, so DAG parsing never touches Connections.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace

import pendulum

from bizenv.settings import Settings, load_settings

WAREHOUSE_CONN_ID = "bizenv_warehouse"
TIMEZONE = "Asia/Shanghai"


def warehouse_url_from_connection(conn) -> str:
    """A SQLAlchemy URL from an Airflow Connection: `extra.sqlalchemy_url` when given (DuckDB,
    other drivers), otherwise a postgres-type connection's fields."""
    from sqlalchemy.engine import URL

    extra = conn.extra_dejson or {}
    if extra.get("sqlalchemy_url"):
        return extra["sqlalchemy_url"]
    if conn.conn_type not in ("postgres", "postgresql"):
        raise ValueError(f"connection {conn.conn_id!r}: type {conn.conn_type!r} needs extra.sqlalchemy_url")
    url = URL.create(
        "postgresql+psycopg",
        username=conn.login or None,
        password=conn.password or None,
        host=conn.host or None,
        port=conn.port or None,
        database=conn.schema or None,
    )
    return url.render_as_string(hide_password=False)


def task_settings() -> Settings:
    """Settings for a running task; the `bizenv_warehouse` connection wins over the environment."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    settings = load_settings()
    try:
        conn = BaseHook.get_connection(WAREHOUSE_CONN_ID)
    except AirflowNotFoundException:
        return settings
    return replace(settings, warehouse_url=warehouse_url_from_connection(conn))


def reporting_month(data_interval_start: dt.datetime) -> str:
    """The month a monthly run reports on: its data interval starts on that month's 1st."""
    return pendulum.instance(data_interval_start).in_timezone(TIMEZONE).format("YYYY-MM")
