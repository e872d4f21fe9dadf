"""End-to-end DAG runs with `dag.test()`: SQLite metadata database, DuckDB warehouse."""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd
import pendulum
import pytest
from sqlalchemy import text

from bizenv.indicators import compute_snapshot, show
from bizenv.ingest import ingest_file
from bizenv.settings import load_settings
from bizenv.simulate import DefectRates, simulate, write_files
from bizenv.sources import drop
from bizenv.warehouse import make_engine, upgrade
from conftest import PROJECT_ROOT

pytestmark = pytest.mark.airflow


@pytest.fixture
def department_files(tmp_path: Path) -> dict[str, Path]:
    data = simulate(entities=120, months=("2024-05", "2024-06"), seed=11, defects=DefectRates())
    return write_files(data, tmp_path / "departments")


def _task_environment(tmp_path: Path, monkeypatch, warehouse_url: str):
    data_dir = tmp_path / "var"
    monkeypatch.setenv("BIZENV_DATA_DIR", str(data_dir))
    monkeypatch.setenv("BIZENV_WAREHOUSE_URL", warehouse_url)
    monkeypatch.delenv("AIRFLOW_CONN_BIZENV_WAREHOUSE", raising=False)
    settings = load_settings()
    upgrade(settings)
    return settings


@pytest.fixture
def embedded_warehouse(tmp_path: Path, monkeypatch, airflow_db):
    return _task_environment(tmp_path, monkeypatch, f"duckdb:///{tmp_path / 'var' / 'warehouse.duckdb'}")


@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def task_warehouse(request, tmp_path: Path, monkeypatch, airflow_db):
    """The warehouse the DAG tasks use: embedded DuckDB, or PostgreSQL through the
    `bizenv_warehouse` Airflow connection (as in production)."""
    if request.param == "duckdb":
        return _task_environment(tmp_path, monkeypatch, f"duckdb:///{tmp_path / 'var' / 'warehouse.duckdb'}")
    url = request.getfixturevalue("postgres_database")
    settings = _task_environment(tmp_path, monkeypatch, url)
    # tasks must take the warehouse from the Connection, not from the environment
    monkeypatch.setenv("BIZENV_WAREHOUSE_URL", "duckdb:///" + str(tmp_path / "not-this-one.duckdb"))
    monkeypatch.setenv("AIRFLOW_CONN_BIZENV_WAREHOUSE", url.replace("postgresql+psycopg://", "postgres://"))
    return settings


def _dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.get_dag(dag_id)


def _drop(settings, path: Path) -> Path:
    drop_dir = settings.data_dir / "drop" / "registration"
    drop_dir.mkdir(parents=True, exist_ok=True)
    target = drop_dir / path.name
    target.write_bytes(path.read_bytes())
    drop.done_marker(target).touch()  # the department marks a finished upload
    return target


def test_registration_ingest_dag_and_monthly_dag(task_warehouse, department_files):
    settings = task_warehouse
    _drop(settings, department_files["registration"])
    run = _dag("ingest_amr_registration").test()
    assert run.state == "success"

    engine = make_engine(settings.warehouse_url)
    with engine.connect() as conn:
        batch = conn.execute(text("select source, extracted, loaded, quarantined, duplicates, status "
                                  "from ops.batch where dataset = 'registration'")).one()
        core_rows = conn.execute(text("select count(*) from core.registration")).scalar_one()
    assert batch[0] == "amr_registration" and batch[5] == "loaded"
    assert batch[1] == batch[2] + batch[3] + batch[4] and batch[2] > 100
    assert core_rows == batch[2]
    assert not list((settings.data_dir / "drop" / "registration").glob("*.csv"))  # archived

    for dataset in ("tax_filing", "credit_record", "real_estate_case"):
        assert ingest_file(settings, dataset, department_files[dataset]).status == "loaded"

    # the June run is the one due on 2024-07-01 03:00: its data interval is [06-01 03:00, 07-01 03:00)
    monthly = _dag("monthly_indicators").test(logical_date=pendulum.datetime(2024, 7, 1, 3, tz="Asia/Shanghai"))
    assert monthly.state == "success"
    from_dag = show(engine, "2024-06")
    assert set(from_dag["region_code"]) == {"152900", "152921", "152922", "152923"}
    # one row per region and indicator, plus the 登记类型 rows of 企业不动产登记时长
    assert (from_dag["breakdown"] == "").sum() == 4 * 10
    assert set(from_dag.loc[from_dag["breakdown"] != "", "indicator_code"]) == {"re_enterprise_workdays_median"}
    every_dag_row = from_dag
    from_dag = from_dag[from_dag["breakdown"] == ""]
    prefecture_new = from_dag.query("region_code == '152900' and indicator_code == 'new_entities'")["value"].iloc[0]
    with engine.connect() as conn:
        expected_new = conn.execute(text(
            "select count(*) from core.registration where established_date >= date '2024-06-01' "
            "and established_date < date '2024-07-01'")).scalar_one()
    assert prefecture_new == expected_new

    # the run's last task wrote the month's report from the snapshot it published
    report = (settings.reports_dir / "indicators-2024-06.html").read_text(encoding="utf-8")
    prefecture_row = re.search(r"<tr><td class=\"name\">新设市场主体数（户）<br>.*?</tr>", report).group(0)
    assert re.search(r"<td>([\d,]+)</td>", prefecture_row).group(1).replace(",", "") == str(expected_new)
    assert "snapshot version 1," in report

    # the CLI path computes the same numbers as a new version
    cli_run = compute_snapshot(engine, "2024-06")
    assert cli_run.version == 2
    from_cli = show(engine, "2024-06")
    columns = ["region_code", "indicator_code", "breakdown", "value", "numerator", "denominator",
               "sample_size", "within_limit_share", "p90_value", "cases_without_time", "backlog_open"]
    pd.testing.assert_frame_equal(every_dag_row[columns].reset_index(drop=True),
                                  from_cli[columns].reset_index(drop=True))
    engine.dispose()


def test_freshness_gate_names_the_stale_department(embedded_warehouse, department_files):
    settings = embedded_warehouse
    for dataset in ("registration", "tax_filing", "real_estate_case"):
        ingest_file(settings, dataset, department_files[dataset])
    run = _dag("monthly_indicators").test(logical_date=pendulum.datetime(2024, 7, 1, 3, tz="Asia/Shanghai"))
    assert run.state == "failed"
    gate = next(ti for ti in run.get_task_instances() if ti.task_id == "wait_for_departments")
    assert gate.state == "failed"
    engine = make_engine(settings.warehouse_url)
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from ops.snapshot_run")).scalar_one() == 0
    engine.dispose()


def test_freshness_gate_message(embedded_warehouse, department_files):
    import datetime as dt

    from airflow.sdk.exceptions import AirflowFailException

    from bizenv_airflow.monthly import freshness_gate

    ingest_file(embedded_warehouse, "registration", department_files["registration"])
    start = pendulum.datetime(2024, 6, 1, 3, tz="Asia/Shanghai")
    end = pendulum.datetime(2024, 7, 1, 3, tz="Asia/Shanghai")
    with pytest.raises(AirflowFailException, match=r"stale after the deadline: tax_filing, credit_record, "
                                                   r"real_estate_case"):
        freshness_gate(start, end, dt.timedelta(hours=12))
    waiting = freshness_gate(start, pendulum.now("UTC"), dt.timedelta(hours=12))
    assert waiting.is_done is False
