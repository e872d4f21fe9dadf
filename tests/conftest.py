"""Shared fixtures: a fresh warehouse per test on DuckDB and on the real PostgreSQL server.

PostgreSQL tests never skip: when the server at BIZENV_TEST_POSTGRES_URL is unreachable they
fail, so a CI run without it is red rather than quietly smaller.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from bizenv.settings import Settings
from bizenv.warehouse import upgrade
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

POSTGRES_ADMIN_URL = os.environ.get(
    "BIZENV_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
)


def make_settings(tmp_path: Path, warehouse_url: str) -> Settings:
    data_dir = tmp_path / "data"
    return Settings(
        data_dir=data_dir,
        warehouse_url=warehouse_url,
        landing_root=str(data_dir / "landing"),
        pii_key_file=data_dir / "pii.key",
        docs_dir=data_dir / "docs",
    )


@pytest.fixture
def duckdb_settings(tmp_path: Path) -> Settings:
    settings = make_settings(tmp_path, f"duckdb:///{tmp_path / 'data' / 'warehouse.duckdb'}")
    upgrade(settings)
    return settings


@pytest.fixture
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    name = f"bizenv_test_{uuid.uuid4().hex[:12]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'create database "{name}"'))
    except Exception as error:  # the message must say what is missing, in one line
        admin.dispose()
        pytest.fail(f"PostgreSQL at {make_url(POSTGRES_ADMIN_URL).render_as_string()} is required: {error}")
    url = make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)
    try:
        yield url
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


@pytest.fixture
def postgres_settings(tmp_path: Path, postgres_database: str) -> Settings:
    settings = make_settings(tmp_path, postgres_database)
    upgrade(settings)
    return settings


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def warehouse_settings(request: pytest.FixtureRequest) -> Settings:
    """The same test on the embedded warehouse and on PostgreSQL."""
    name = "duckdb_settings" if request.param == "duckdb" else "postgres_settings"
    return request.getfixturevalue(name)
