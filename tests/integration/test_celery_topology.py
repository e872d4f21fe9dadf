"""The production topology, natively: PostgreSQL metadata, Redis broker, CeleryExecutor.

The same processes docker-compose.yaml runs — `api-server`, `scheduler`, `dag-processor` and a
`celery worker` — start here as subprocesses against a fresh PostgreSQL metadata database and a
dedicated Redis database. A probe DAG does real bizenv work (migrate a DuckDB warehouse, ingest
a department file) with the warehouse taken from the `bizenv_warehouse` Airflow connection.
The test proves the run succeeded, that the Celery worker executed it, that the run lives in the
PostgreSQL metadata database and that the rows reached the warehouse.

PostgreSQL (BIZENV_TEST_POSTGRES_URL) and Redis (BIZENV_TEST_REDIS_URL, host and port; the test
claims a free database of its own and flushes only that one) are required: when unreachable the
test fails. Two runs at once do not interfere (see airflow_stack.py).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pytest
from airflow_stack import (
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
from sqlalchemy.engine import make_url

from bizenv import codes
from bizenv.warehouse import make_engine

pytestmark = [pytest.mark.airflow, pytest.mark.postgres, pytest.mark.timeout(420)]

DAG_ID = "bizenv_celery_topology_probe"
TASK_ID = "ingest_registration"
RUN_TIMEOUT = 240  # seconds from trigger to a finished run

HEADERS = ["统一社会信用代码", "注册号", "企业名称", "市场主体类型", "法定代表人", "法定代表人证件号码",
           "所属区划代码", "行业代码", "注册资本(万元)", "成立日期", "申请时间", "核准时间", "办理方式",
           "登记状态", "状态日期", "更新时间"]
GOOD_USCCS = [codes.make_uscc("91", "152921", f"MA0C{n:04d}") for n in (1, 2, 3)]
BAD_USCC = codes.make_uscc("91", "152921", "MA0C0004")[:-1] + "0"  # wrong check character
REP_ID = "152921199001011235"  # valid GB 11643 check digit

PROBE_DAG = '''\
"""Written by tests/integration/test_celery_topology.py: one task of real bizenv work."""

import pendulum
from airflow.sdk import dag, task


@dag(dag_id={dag_id!r}, schedule=None, start_date=pendulum.datetime(2024, 1, 1, tz="UTC"), catchup=False,
     tags=["bizenv", "test"])
def probe():
    @task(task_id={task_id!r}, retries=0)
    def ingest_registration() -> dict:
        import os
        import socket
        from pathlib import Path

        from bizenv.ingest import ingest_file
        from bizenv.warehouse import upgrade
        from bizenv.airflow.runtime import task_settings

        settings = task_settings()
        upgrade(settings)
        summary = ingest_file(settings, "registration", Path({csv_path!r}), max_bad_share=0.5)
        return summary.as_dict() | {{"warehouse_url": settings.warehouse_url, "pid": os.getpid(),
                                     "hostname": socket.gethostname()}}

    ingest_registration()


probe()
'''


@pytest.fixture
def redis_broker() -> Iterator[str]:
    """A Redis database of this run alone, empty before and after the test."""
    with claimed_redis_database() as url:
        yield url


def write_department_file(path: Path) -> Path:
    def row(uscc: str, name: str) -> list[str]:
        return [uscc, "", name, "企业", "张三", REP_ID, "152921", "I6510", "100", "2024-06-03",
                "2024-06-03 09:00:00", "2024-06-03 11:00:00", "全程电子化", "存续", "", "2024-06-30 10:00:00"]

    rows = [row(uscc, f"阿拉善左旗拓扑测试{n}有限公司") for n, uscc in enumerate(GOOD_USCCS, 1)]
    rows.append(row(BAD_USCC, "错误校验位有限公司"))
    pd.DataFrame(rows, columns=HEADERS).to_csv(path, index=False, encoding="utf-8")
    return path


def test_dag_runs_on_celery_worker_with_postgres_metadata(tmp_path, postgres_database, redis_broker):
    airflow_home = tmp_path / "airflow-home"
    dags_dir = tmp_path / "dags"
    data_dir = tmp_path / "data"
    log_dir = tmp_path / "component-logs"
    for folder in (airflow_home, dags_dir, data_dir, log_dir):
        folder.mkdir()
    warehouse_file = tmp_path / "connection-warehouse.duckdb"  # not the default under BIZENV_DATA_DIR
    csv_path = write_department_file(tmp_path / "市场监管_登记_拓扑.csv")
    (dags_dir / "celery_topology_probe.py").write_text(
        PROBE_DAG.format(dag_id=DAG_ID, task_id=TASK_ID, csv_path=str(csv_path)), encoding="utf-8")

    # a fresh bizenv_test_… database; Airflow talks to it through psycopg 3 (sync and async)
    metadata_url, metadata_async_url = metadata_urls(postgres_database)
    api_port = free_port()
    env = airflow_environment(
        airflow_home=airflow_home, dags_folder=dags_dir, metadata_url=metadata_url,
        metadata_async_url=metadata_async_url, broker_url=redis_broker, api_port=api_port,
        warehouse_url=f"duckdb:///{warehouse_file}", data_dir=data_dir)

    metadata = create_engine(metadata_url)
    topology = Topology(env, log_dir)
    try:
        topology.airflow("db", "migrate", timeout=300)
        with running(topology):
            topology.start_components(api_port)
            wait_until_ready(topology, metadata, api_port, [DAG_ID])

            topology.airflow("dags", "unpause", DAG_ID)
            topology.airflow("dags", "trigger", DAG_ID)

            def run_finished():
                with metadata.connect() as conn:
                    state = conn.execute(text("select state from dag_run where dag_id = :d"),
                                         {"d": DAG_ID}).scalar()
                return state if state in ("success", "failed") else None

            state = wait_for(f"the {DAG_ID} run to finish", run_finished, RUN_TIMEOUT, topology, interval=2)
            if state != "success":
                raise AssertionError(f"run of {DAG_ID} ended {state!r}\n{topology.logs()}")

            listed = topology.airflow("dags", "list-runs", DAG_ID, "--output", "json").stdout
            # log warnings share stdout with the JSON document, which is one line
            runs = json.loads(next(line for line in listed.splitlines() if line.startswith("[")))

            # The run turns success once the task reports its state; the Celery task itself ends
            # a moment later (the supervisor finishes its log first): wait for that line too.
            with metadata.connect() as conn:
                celery_task_id = conn.execute(text(
                    "select external_executor_id from task_instance where dag_id = :d and task_id = :t"),
                    {"d": DAG_ID, "t": TASK_ID}).scalar()
            if celery_task_id:
                wait_for(f"the celery worker to finish execute_workload[{celery_task_id}]",
                         lambda: f"execute_workload[{celery_task_id}] succeeded" in topology.log("celery-worker"),
                         60, topology)
            worker_log = topology.log("celery-worker")
            failure_context = topology.logs()
        with metadata.connect() as conn:
            dag_runs = conn.execute(text("select run_id, state, run_type from dag_run where dag_id = :d"),
                                    {"d": DAG_ID}).mappings().all()
            instances = conn.execute(text(
                "select task_id, state, queue, hostname, external_executor_id, try_number from task_instance "
                "where dag_id = :d"), {"d": DAG_ID}).mappings().all()
            database = conn.execute(text("select current_database()")).scalar()
    finally:
        metadata.dispose()

    # The CLI sees the run, and it lives in this PostgreSQL database (no SQLite file anywhere).
    assert [(run["dag_id"], run["state"]) for run in runs] == [(DAG_ID, "success")], runs
    assert database == make_url(postgres_database).database
    assert [(run["state"], run["run_type"]) for run in dag_runs] == [("success", "manual")]
    assert dag_runs[0]["run_id"] == runs[0]["run_id"]
    assert not list(airflow_home.glob("*.db")), "a SQLite metadata database was created"

    # The task went through Celery: the executor recorded the Celery task id, and the worker
    # process logged executing exactly that workload.
    assert len(instances) == 1, instances
    instance = instances[0]
    assert instance["state"] == "success" and instance["queue"] == "default", instance
    assert celery_task_id and instance["external_executor_id"] == celery_task_id, (
        f"no Celery task id recorded: {instance}\n{failure_context}")
    executed = [line for line in worker_log.splitlines()
                if celery_task_id in line and "Executing workload in Celery" in line]
    assert executed, f"the celery worker never ran {celery_task_id}\n{failure_context}"
    assert DAG_ID in executed[0] and TASK_ID in executed[0], executed[0]
    assert f"execute_workload[{celery_task_id}] succeeded" in worker_log, failure_context

    # The warehouse came from the `bizenv_warehouse` connection and received the batch.
    assert warehouse_file.exists(), failure_context
    assert not (data_dir / "warehouse.duckdb").exists(), "the task ignored the bizenv_warehouse connection"
    engine = make_engine(f"duckdb:///{warehouse_file}")
    try:
        with engine.connect() as conn:
            core = sorted(conn.execute(text("select uscc from core.registration")).scalars())
            quarantined = conn.execute(text("select count(*) from quarantine.registration")).scalar()
            batch = conn.execute(text("select extracted, loaded, quarantined, duplicates, status "
                                      "from ops.batch")).mappings().all()
    finally:
        engine.dispose()
    assert core == sorted(GOOD_USCCS)
    assert quarantined == 1
    assert [dict(row) for row in batch] == [
        {"extracted": 4, "loaded": 3, "quarantined": 1, "duplicates": 0, "status": "loaded"}]
