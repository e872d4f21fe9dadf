"""Shared fixtures: a fresh warehouse per test on DuckDB and on the real PostgreSQL server.

PostgreSQL tests never skip: when the server at BIZENV_TEST_POSTGRES_URL is unreachable they
fail, so a CI run without it is red rather than quietly smaller.
"""

from __future__ import annotations

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bizenv.settings import Settings
from bizenv.warehouse import upgrade

PROJECT_ROOT = Path(__file__).resolve().parents[1]

# Airflow reads its configuration once, at import: point it at a throw-away home with a SQLite
# metadata database before any test imports it.
AIRFLOW_HOME = Path(tempfile.mkdtemp(prefix="bizenv-airflow-home-"))
os.environ["AIRFLOW_HOME"] = str(AIRFLOW_HOME)
os.environ["AIRFLOW__CORE__DAGS_FOLDER"] = str(PROJECT_ROOT / "dags")
os.environ["AIRFLOW__CORE__LOAD_EXAMPLES"] = "False"
os.environ["AIRFLOW__CORE__UNIT_TEST_MODE"] = "False"
os.environ["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = f"sqlite:///{AIRFLOW_HOME / 'airflow.db'}"
os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")

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
        reports_dir=data_dir / "reports",
    )


@pytest.fixture
def duckdb_settings(tmp_path: Path) -> Settings:
    settings = make_settings(tmp_path, f"duckdb:///{tmp_path / 'data' / 'warehouse.duckdb'}")
    upgrade(settings)
    return settings


@contextmanager
def new_postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database (its URL), dropped afterwards."""
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
def postgres_database() -> Iterator[str]:
    """A new, empty PostgreSQL database for one test, dropped afterwards."""
    with new_postgres_database() as url:
        yield url


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


@pytest.fixture(scope="session")
def airflow_db() -> Path:
    """Airflow's own metadata database (SQLite), migrated once per session.

    It lives in this session's own AIRFLOW_HOME, so two pytest runs at once never share it; the
    stacks of tests/integration/airflow_stack.py get a PostgreSQL database of their own instead."""
    subprocess.run([sys.executable, "-m", "airflow", "db", "migrate"], check=True, capture_output=True,
                   env=os.environ.copy(), timeout=600)
    return AIRFLOW_HOME


@pytest.fixture(scope="session", autouse=True)
def _remove_airflow_home() -> Iterator[None]:
    # not an atexit handler: _exit_without_finalization below ends the process before later ones run
    yield
    shutil.rmtree(AIRFLOW_HOME, ignore_errors=True)


_session_status: dict[str, int] = {}


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    _session_status["code"] = int(exitstatus)


@atexit.register
def _exit_without_finalization() -> None:
    """DuckDB's nanobind bindings print spurious 'leaked instance' reports during interpreter
    finalization once Great Expectations is loaded; end with pytest's own status instead."""
    if "code" in _session_status:
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(_session_status["code"])
