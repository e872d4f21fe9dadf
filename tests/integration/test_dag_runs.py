"""End-to-end DAG runs with `dag.test()`: SQLite metadata database, DuckDB warehouse."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

import pandas as pd
import pendulum
import pytest
from sqlalchemy import text

from bizenv.indicators import compute_snapshot, show
from bizenv.ingest import ingest_file
from bizenv.settings import load_settings
from bizenv.simulator.simulate import DefectRates, simulate, write_files
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
    from airflow.sdk.exceptions import AirflowFailException

    from bizenv.airflow.monthly import freshness_gate

    ingest_file(embedded_warehouse, "registration", department_files["registration"])
    start = pendulum.datetime(2024, 6, 1, 3, tz="Asia/Shanghai")
    end = pendulum.datetime(2024, 7, 1, 3, tz="Asia/Shanghai")
    with pytest.raises(AirflowFailException, match=r"stale after the deadline: tax_filing, credit_record, "
                                                   r"real_estate_case"):
        freshness_gate(start, end, dt.timedelta(hours=12))
    waiting = freshness_gate(start, pendulum.now("UTC"), dt.timedelta(hours=12))
    assert waiting.is_done is False


# --- the ingest DAG's three steps: one mapped validate_and_merge per landed batch -------------

INGEST_DAG = "ingest_amr_registration"


@pytest.fixture
def two_drop_files(task_warehouse, monkeypatch) -> tuple[pd.DataFrame, list[Path]]:
    """Two settled registration files with their `.done` markers in the source's drop directory."""
    from bizenv.simulator.simulate import CHINESE_HEADERS

    monkeypatch.setenv("BIZENV_DROP_STABLE_SECONDS", "0")
    frame = simulate(entities=30, months=("2024-05", "2024-06"), seed=4, defects=DefectRates.none()).registration
    headers = CHINESE_HEADERS["registration"]
    drop_dir = task_warehouse.data_dir / "drop" / "registration"
    drop_dir.mkdir(parents=True, exist_ok=True)
    paths = []
    for name, part in (("登记_a.csv", frame.iloc[:20]), ("登记_b.csv", frame.iloc[20:])):
        path = drop_dir / name
        part[list(headers)].rename(columns=headers).to_csv(path, index=False, encoding="utf-8-sig")
        drop.done_marker(path).touch()
        paths.append(path)
    return frame, paths


def _task_instances(run, task_id: str) -> list:
    return sorted((ti for ti in run.get_task_instances() if ti.task_id == task_id), key=lambda ti: ti.map_index)


def _asset_event_extras(dag_id: str, run_id: str) -> list[dict]:
    from airflow.models.asset import AssetEvent
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        events = session.scalars(select(AssetEvent).where(AssetEvent.source_dag_id == dag_id,
                                                          AssetEvent.source_run_id == run_id))
        return sorted((dict(e.extra) for e in events), key=lambda extra: extra["batch_id"])


def _batches(settings) -> list[tuple]:
    engine = make_engine(settings.warehouse_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(
                "select batch_id, file_name, extracted, loaded, quarantined, duplicates, status from ops.batch "
                "order by file_name")).fetchall()]
    finally:
        engine.dispose()


def test_a_file_drop_run_merges_each_landed_file_as_a_mapped_task(task_warehouse, two_drop_files):
    settings = task_warehouse
    frame, _paths = two_drop_files
    run = _dag(INGEST_DAG).test()
    assert run.state == "success"

    [extract] = _task_instances(run, "extract_and_land")
    merges = _task_instances(run, "validate_and_merge")
    [advance] = _task_instances(run, "advance_watermark")
    assert extract.state == advance.state == "success"
    batches = _batches(settings)
    assert [(b[1], b[2], b[3], b[6]) for b in batches] == [("登记_a.csv", 20, 20, "loaded"),
                                                          ("登记_b.csv", 10, 10, "loaded")]
    # one mapped instance per landed batch, in delivery order, named by its batch id in the UI
    assert [(ti.map_index, ti.state, ti.rendered_map_index) for ti in merges] == [
        (0, "success", batches[0][0]), (1, "success", batches[1][0])]

    engine = make_engine(settings.warehouse_url)
    with engine.connect() as conn:
        assert {r[0] for r in conn.execute(text("select uscc from core.registration"))} == set(frame["uscc"])
        watermark = conn.execute(text("select watermark, batch_id from ops.watermark "
                                      "where source = 'amr_registration'")).one()
    engine.dispose()
    assert pd.Timestamp(watermark[0]) == pd.Timestamp(frame["updated_at"].max())

    # every merged batch is one event of the core dataset's Asset, carrying its batch id and counts
    extras = _asset_event_extras(INGEST_DAG, run.run_id)
    assert [(e["batch_id"], e["extracted"], e["loaded"], e["quarantined"], e["duplicates"], e["status"])
            for e in extras] == sorted((b[0], *b[2:]) for b in batches)


def test_a_batch_failing_on_an_outage_is_retried_from_its_landing_file_without_extracting_again(
        task_warehouse, two_drop_files, monkeypatch):
    from sqlalchemy.exc import OperationalError

    import bizenv.ingest

    settings = task_warehouse
    frame, _paths = two_drop_files
    files_read = []
    read_drop_file = drop.load_drop_file

    def counting_read(path):
        files_read.append(path.name)
        return read_drop_file(path)

    merges_tried = []
    process = bizenv.ingest._process

    def warehouse_drops_once(settings, engine, dataset, raw, landed, max_bad_share):
        merges_tried.append(landed.batch_id)
        if len(merges_tried) == 1:  # the first batch's first attempt: the server goes away mid-merge
            raise OperationalError("insert into core.registration", {}, Exception("server closed the connection"))
        return process(settings, engine, dataset, raw, landed, max_bad_share)

    monkeypatch.setattr(drop, "load_drop_file", counting_read)
    monkeypatch.setattr(bizenv.ingest, "_process", warehouse_drops_once)
    ingest = _dag(INGEST_DAG)
    ingest.task_dict["validate_and_merge"].retry_delay = dt.timedelta(0)  # no two-minute wait in a test
    run = ingest.test()
    assert run.state == "success"

    batches = _batches(settings)
    first, second = batches[0][0], batches[1][0]
    assert [b[6] for b in batches] == ["loaded", "loaded"]  # no third batch: nothing was landed again
    assert sorted(files_read) == ["登记_a.csv", "登记_b.csv"]  # each department file read once
    # the batch whose merge failed is re-read from its landing file on its retry (which of the two
    # mapped instances runs first, and so fails, is the executor's choice)
    failed_once = merges_tried[0]
    other = second if failed_once == first else first
    assert sorted(merges_tried) == sorted([failed_once, failed_once, other])
    merges = _task_instances(run, "validate_and_merge")
    assert {ti.rendered_map_index: (ti.try_number, ti.state) for ti in merges} == {
        failed_once: (2, "success"), other: (1, "success")}
    engine = make_engine(settings.warehouse_url)
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from core.registration")).scalar_one() == len(frame)
    engine.dispose()
