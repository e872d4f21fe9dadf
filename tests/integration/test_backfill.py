"""`airflow backfill create` over three past months, on the production topology.

A DuckDB warehouse holds simulated department data for 2024-03..2024-06. The project's real
dags/ folder is served by api-server, scheduler, dag-processor and a Celery worker against a
fresh PostgreSQL metadata database and a Redis database of this run alone (airflow_stack.py). The CLI backfills
monthly_indicators for the reporting months April, May and June 2024; the test proves the three
backfill runs succeeded, one after the other, with the data intervals of those months, and that
each month has a published snapshot whose previous_value is the month before's value.

Dates: monthly_indicators runs on CronDataIntervalTimetable("0 3 1 * *", Asia/Shanghai). A
scheduled or backfill run's logical date is its data interval's start, the 1st of the reporting
month at 03:00 +08:00 (a manual `dag.test(logical_date=...)` instead infers the interval that
ends at the logical date). `backfill create` keeps the runs whose logical date lies in
[--from-date, --to-date], and naive dates are read as UTC: `--from-date 2024-04-01` is 08:00 in
Shanghai, after April's 03:00 tick, and would silently drop April. Hence offsets below.

Pitfalls this test pins down:
- backfill runs are only started for an unpaused DAG (Airflow 3.3), so monthly_indicators is
  unpaused; scheduled runs are switched off (scheduler.use_job_schedule) so unpausing does not
  add a run for the latest month, and the ingest DAGs stay paused as created;
- a backfill does not honour the DAG's max_active_runs=1 (its own default is 10): without
  `--max-active-runs 1` the months run concurrently, May may be computed before April is
  published (previous_value empty) and two task processes contend for the DuckDB file lock.

PostgreSQL and Redis are required: when unreachable the test fails.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterator
from itertools import pairwise
from pathlib import Path

import pandas as pd
import pendulum
import pytest
from airflow_stack import (
    PROJECT_ROOT,
    Topology,
    airflow_environment,
    claimed_redis_database,
    free_port,
    metadata_urls,
    running,
    wait_for,
    wait_until_ready,
)
from sqlalchemy import create_engine, text

from bizenv.indicators import DATASETS, load_catalog, show, stale_datasets
from bizenv.ingest import ingest_file
from bizenv.settings import Settings
from bizenv.simulator.simulate import DefectRates, simulate, write_files
from bizenv.sources.config import load_sources
from bizenv.warehouse import make_engine, upgrade
from conftest import make_settings

pytestmark = [pytest.mark.airflow, pytest.mark.postgres, pytest.mark.timeout(420)]

DAG_ID = "monthly_indicators"
TIMEZONE = "Asia/Shanghai"
MONTHS = ("2024-04", "2024-05", "2024-06")
# inclusive bounds on the logical date (= data interval start = the month's 1st 03:00 +08:00)
FROM_DATE = "2024-04-01T00:00:00+08:00"
TO_DATE = "2024-06-30T23:59:59+08:00"
RUN_TIMEOUT = 300  # seconds from `backfill create` to three successful runs
REGIONS = {"152900", "152921", "152922", "152923"}
INDICATORS_PER_REGION = len(load_catalog())
WAREHOUSE_POOL = "bizenv_warehouse"  # the pool of the DAGs' warehouse writers
MONTHLY_TASK_IDS = ("wait_for_departments", "compute_snapshot", "validate_snapshot", "publish_snapshot", "write_report")


@pytest.fixture
def redis_broker() -> Iterator[str]:
    with claimed_redis_database() as url:
        yield url


@pytest.fixture
def warehouse(tmp_path: Path) -> Settings:
    """A DuckDB warehouse outside BIZENV_DATA_DIR with clean department data for 2024-03..06,
    fresh enough for the gate of every backfilled month."""
    settings = make_settings(tmp_path, f"duckdb:///{tmp_path / 'backfill-warehouse.duckdb'}")
    upgrade(settings)
    data = simulate(entities=150, months=("2024-03", "2024-06"), defects=DefectRates.none())
    files = write_files(data, tmp_path / "departments")
    for dataset in DATASETS:
        assert ingest_file(settings, dataset, files[dataset]).status == "loaded", dataset
    engine = make_engine(settings.warehouse_url)
    try:
        stale = {month: stale_datasets(engine, month) for month in MONTHS}
    finally:
        engine.dispose()
    assert stale == {month: [] for month in MONTHS}, f"the freshness gate would wait: {stale}"
    return settings


def month_tick(month: str) -> dt.datetime:
    """03:00 Asia/Shanghai on the 1st of `month`, in UTC."""
    year, number = map(int, month.split("-"))
    return pendulum.datetime(year, number, 1, 3, tz=TIMEZONE).in_timezone("UTC")


def next_month(month: str) -> str:
    return pendulum.from_format(month, "YYYY-MM").add(months=1).format("YYYY-MM")


def same(a: float | None, b: float | None) -> bool:
    missing_a = a is None or (isinstance(a, float) and math.isnan(a))
    missing_b = b is None or (isinstance(b, float) and math.isnan(b))
    return (missing_a and missing_b) or (not missing_a and not missing_b and math.isclose(a, b))


def test_backfill_three_months_on_celery(tmp_path, postgres_database, redis_broker, warehouse):
    airflow_home = tmp_path / "airflow-home"
    log_dir = tmp_path / "component-logs"
    for folder in (airflow_home, log_dir):
        folder.mkdir()
    ingest_dag_ids = sorted(f"ingest_{name}" for name in load_sources())
    metadata_url, metadata_async_url = metadata_urls(postgres_database)
    api_port = free_port()
    env = airflow_environment(
        airflow_home=airflow_home, dags_folder=PROJECT_ROOT / "dags",
        metadata_url=metadata_url, metadata_async_url=metadata_async_url, broker_url=redis_broker,
        api_port=api_port, warehouse_url=warehouse.warehouse_url, data_dir=warehouse.data_dir,
        pii_key=warehouse.pii_key.decode(),
        extra={
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            # the backfill's runs are the only runs: no scheduled run once monthly_indicators is unpaused
            "AIRFLOW__SCHEDULER__USE_JOB_SCHEDULE": "False",
        })

    metadata = create_engine(metadata_url)
    topology = Topology(env, log_dir)
    try:
        topology.airflow("db", "migrate", timeout=300)
        # as a deployment does: the scheduler never starts a task whose pool does not exist
        topology.airflow("pools", "set", WAREHOUSE_POOL, "1", "bizenv warehouse writers")
        with running(topology):
            topology.start_components(api_port)
            wait_until_ready(topology, metadata, api_port, [DAG_ID, *ingest_dag_ids])
            with metadata.connect() as conn:
                paused = dict(conn.execute(text("select dag_id, is_paused from dag")).all())
            assert paused == dict.fromkeys([DAG_ID, *ingest_dag_ids], True), paused

            # backfill runs start only for an unpaused DAG
            topology.airflow("dags", "unpause", DAG_ID)
            created = topology.airflow("backfill", "create", "--dag-id", DAG_ID, "--from-date", FROM_DATE,
                                       "--to-date", TO_DATE, "--max-active-runs", "1")

            def backfill_done() -> bool:
                with metadata.connect() as conn:
                    broken = conn.execute(text(
                        "select run_id, task_id, state, try_number from task_instance where dag_id = :d "
                        "and state in ('failed', 'up_for_retry', 'upstream_failed')"), {"d": DAG_ID}).all()
                    states = conn.execute(text("select state from dag_run where dag_id = :d"),
                                          {"d": DAG_ID}).scalars().all()
                if broken or "failed" in states:
                    raise AssertionError(f"backfill of {DAG_ID} broke: runs {states}, task instances {broken}\n"
                                         f"{created.stdout[-2000:]}\n{topology.logs()}")
                return len(states) == len(MONTHS) and set(states) == {"success"}

            wait_for(f"the {DAG_ID} backfill of {', '.join(MONTHS)} to succeed", backfill_done, RUN_TIMEOUT,
                     topology, interval=2)
            failure_context = topology.logs()
        with metadata.connect() as conn:
            runs = conn.execute(text(
                "select run_id, run_type, state, logical_date, data_interval_start, data_interval_end, "
                "start_date, end_date, backfill_id from dag_run where dag_id = :d order by logical_date"),
                {"d": DAG_ID}).mappings().all()
            backfills = conn.execute(text("select id, dag_id, max_active_runs from backfill")).mappings().all()
            other_runs = conn.execute(text("select dag_id, run_id from dag_run where dag_id <> :d"),
                                      {"d": DAG_ID}).all()
            paused_after = dict(conn.execute(text("select dag_id, is_paused from dag")).all())
            instances = conn.execute(text(
                "select run_id, task_id, state, queue, external_executor_id from task_instance "
                "where dag_id = :d"), {"d": DAG_ID}).mappings().all()
    finally:
        metadata.dispose()

    # Exactly three backfill runs, one per reporting month, run one after the other.
    assert [(run["run_type"], run["state"]) for run in runs] == [("backfill", "success")] * 3, (
        f"{runs}\n{failure_context}")
    assert [dict(b) for b in backfills] == [{"id": runs[0]["backfill_id"], "dag_id": DAG_ID, "max_active_runs": 1}]
    assert {run["backfill_id"] for run in runs} == {backfills[0]["id"]}
    for run, month in zip(runs, MONTHS, strict=True):
        assert run["logical_date"] == run["data_interval_start"] == month_tick(month), run
        assert run["data_interval_end"] == month_tick(next_month(month)), run
    for earlier, later in pairwise(runs):
        assert earlier["end_date"] <= later["start_date"], f"backfill runs overlapped: {earlier} {later}"
    # Every task went through Celery; the ingest DAGs were never run nor unpaused.
    assert sorted((ti["run_id"], ti["task_id"]) for ti in instances) == sorted(
        (run["run_id"], task_id) for run in runs for task_id in MONTHLY_TASK_IDS), instances
    assert all(ti["state"] == "success" and ti["queue"] == "default" and ti["external_executor_id"]
               for ti in instances), instances
    assert other_runs == []
    assert paused_after == {DAG_ID: False} | dict.fromkeys(ingest_dag_ids, True)

    # The warehouse came from the `bizenv_warehouse` connection, not BIZENV_DATA_DIR.
    assert not (warehouse.data_dir / "warehouse.duckdb").exists(), "a task ignored the bizenv_warehouse connection"
    engine = make_engine(warehouse.warehouse_url)
    try:
        with engine.connect() as conn:
            snapshot_runs = conn.execute(text(
                "select month, version, status, row_count from ops.snapshot_run order by month, version")).all()
            latest_rows = dict(conn.execute(text(
                "select strftime(month, '%Y-%m'), count(*) from mart.v_indicator_trend group by 1")).all())
            breakdown_rows = dict(conn.execute(text(
                "select strftime(month, '%Y-%m'), count(*) from mart.v_indicator_trend where breakdown <> ''"
                " group by 1")).all())
            established = dict(conn.execute(text(
                "select strftime(established_date, '%Y-%m'), count(*) from core.registration "
                "group by 1")).all())
        shown = {month: show(engine, month) for month in MONTHS}
    finally:
        engine.dispose()

    # Each run's last task wrote its own month's report.
    for month in MONTHS:
        report = (warehouse.reports_dir / f"indicators-{month}.html").read_text(encoding="utf-8")
        assert f"· {month}</title>" in report and "snapshot version 1," in report, month

    # one row per region and indicator, plus the 登记类型 breakdown of 企业不动产登记时长
    rows_per_month = len(REGIONS) * INDICATORS_PER_REGION
    assert all(breakdown_rows.get(month, 0) > 0 for month in MONTHS), breakdown_rows
    assert [tuple(r) for r in snapshot_runs] == [
        (month, 1, "published", rows_per_month + breakdown_rows[month]) for month in MONTHS]
    assert latest_rows == {month: rows_per_month + breakdown_rows[month] for month in MONTHS}
    shown = {month: frame[frame["breakdown"] == ""] for month, frame in shown.items()}
    for month, frame in shown.items():
        assert set(frame["region_code"]) == REGIONS, month
        assert len(frame) == rows_per_month and (frame["run_id"] == f"{month}-v1").all(), month
        new_entities = frame.query("region_code == '152900' and indicator_code == 'new_entities'")["value"]
        assert new_entities.tolist() == [established.get(month, 0)], month

    # previous_value of May and June is the month before's published value, row by row.
    for month, previous in (("2024-05", "2024-04"), ("2024-06", "2024-05")):
        merged = pd.merge(shown[month], shown[previous], on=["region_code", "indicator_code"],
                          suffixes=("", "_before"), validate="one_to_one")
        assert len(merged) == rows_per_month
        mismatched = merged[[not same(a, b) for a, b in zip(merged["previous_value"], merged["value_before"],
                                                             strict=True)]]
        assert mismatched.empty, mismatched[["region_code", "indicator_code", "previous_value", "value_before"]]
        prefecture = merged.query("region_code == '152900' and indicator_code == 'new_entities'").iloc[0]
        assert prefecture["previous_value"] == prefecture["value_before"] == established.get(previous, 0)
