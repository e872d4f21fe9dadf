"""The production topology, natively: PostgreSQL metadata, Redis broker, CeleryExecutor.

The same processes docker-compose.yaml runs — `api-server`, `scheduler`, `dag-processor` and a
`celery worker` — start here as subprocesses against a fresh PostgreSQL metadata database and a
dedicated Redis database. A probe DAG does real bizenv work (migrate a DuckDB warehouse, ingest
a department file) with the warehouse taken from the `bizenv_warehouse` Airflow connection.
The test proves the run succeeded, that the Celery worker executed it, that the run lives in the
PostgreSQL metadata database and that the rows reached the warehouse.

PostgreSQL (BIZENV_TEST_POSTGRES_URL) and Redis (BIZENV_TEST_REDIS_URL, host and port; the test
uses database 5 and flushes only that one) are required: when unreachable the test fails.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit

import pandas as pd
import pytest
import redis
from cryptography.fernet import Fernet
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bizenv import codes
from bizenv.warehouse import make_engine

pytestmark = [pytest.mark.airflow, pytest.mark.postgres, pytest.mark.timeout(420)]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("BIZENV_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
REDIS_DB = 5  # dedicated to this test: flushed before and after, nothing else touched
DAG_ID = "bizenv_celery_topology_probe"
TASK_ID = "ingest_registration"
RUN_TIMEOUT = 240  # seconds from trigger to a finished run
STARTUP_TIMEOUT = 120  # seconds for the api-server to answer and the DAG to be parsed

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
        from bizenv_airflow.runtime import task_settings

        settings = task_settings()
        upgrade(settings)
        summary = ingest_file(settings, "registration", Path({csv_path!r}), max_bad_share=0.5)
        return summary.as_dict() | {{"warehouse_url": settings.warehouse_url, "pid": os.getpid(),
                                     "hostname": socket.gethostname()}}

    ingest_registration()


probe()
'''


def free_port() -> int:
    with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"--- {path.name}: (no log)"
    content = path.read_text(errors="replace").splitlines()[-lines:]
    return f"--- {path.name} (last {len(content)} lines)\n" + "\n".join(content)


@pytest.fixture
def redis_broker() -> Iterator[str]:
    """Redis database REDIS_DB on the test server, empty before and after the test."""
    # The database is the URL's path: redis-py lets a URL's /N win over a db= argument.
    url = urlsplit(REDIS_URL)._replace(path=f"/{REDIS_DB}", query="").geturl()
    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    if client.connection_pool.connection_kwargs.get("db") != REDIS_DB:
        pytest.fail(f"refusing to flush: {url} does not select Redis database {REDIS_DB}")
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        pytest.fail(f"Redis at {REDIS_URL} (Celery broker) is required: {error}")
    client.flushdb()
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


def write_department_file(path: Path) -> Path:
    def row(uscc: str, name: str) -> list[str]:
        return [uscc, "", name, "企业", "张三", REP_ID, "152921", "I6510", "100", "2024-06-03",
                "2024-06-03 09:00:00", "2024-06-03 11:00:00", "全程电子化", "存续", "", "2024-06-30 10:00:00"]

    rows = [row(uscc, f"阿拉善左旗拓扑测试{n}有限公司") for n, uscc in enumerate(GOOD_USCCS, 1)]
    rows.append(row(BAD_USCC, "错误校验位有限公司"))
    pd.DataFrame(rows, columns=HEADERS).to_csv(path, index=False, encoding="utf-8")
    return path


class Topology:
    """The Airflow components as subprocesses, each in its own process group with a log file."""

    def __init__(self, env: dict[str, str], log_dir: Path):
        self.env = env
        self.log_dir = log_dir
        self.processes: dict[str, subprocess.Popen] = {}

    def airflow(self, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
        result = subprocess.run([sys.executable, "-m", "airflow", *args], env=self.env, capture_output=True,
                                text=True, timeout=timeout)
        if result.returncode != 0:
            raise AssertionError(f"airflow {' '.join(args)} exited {result.returncode}\n"
                                 f"{result.stdout[-3000:]}\n{result.stderr[-3000:]}\n{self.logs()}")
        return result

    def start(self, name: str, *args: str) -> None:
        log = (self.log_dir / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args], env=self.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()

    def check_alive(self) -> None:
        dead = {name: p.returncode for name, p in self.processes.items() if p.poll() is not None}
        if dead:
            raise AssertionError(f"component(s) exited early: {dead}\n{self.logs()}")

    def log(self, name: str) -> str:
        path = self.log_dir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def logs(self) -> str:
        return "\n".join(tail(self.log_dir / f"{name}.log") for name in self.processes)

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + 20
        for process in self.processes.values():
            with suppress(subprocess.TimeoutExpired):
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            # SIGKILL the whole group: celery pool children and task supervisors included
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


@contextmanager
def running(topology: Topology) -> Iterator[Topology]:
    try:
        yield topology
    finally:
        topology.stop()


def wait_for(what: str, probe, timeout: float, topology: Topology, interval: float = 1.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        topology.check_alive()
        value = probe()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{topology.logs()}")


def api_server_up(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


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
    fresh = make_url(postgres_database)
    metadata_url = fresh.set(drivername="postgresql+psycopg").render_as_string(hide_password=False)
    metadata_async_url = fresh.set(drivername="postgresql+psycopg_async").render_as_string(hide_password=False)
    api_port = free_port()
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env |= {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        # asyncpg is not installed: without this Airflow derives a postgresql+asyncpg URL
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_async_url,
        "AIRFLOW__CELERY__BROKER_URL": redis_broker,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_url}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_dir),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PROJECT_ROOT / "plugins"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(32).hex(),
        "AIRFLOW__API__SECRET_KEY": os.urandom(16).hex(),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port()),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW_CONN_BIZENV_WAREHOUSE": json.dumps(
            {"conn_type": "generic", "extra": {"sqlalchemy_url": f"duckdb:///{warehouse_file}"}}),
        "BIZENV_DATA_DIR": str(data_dir),
        "BIZENV_PII_KEY": os.urandom(32).hex(),
        "GX_ANALYTICS_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
    }
    for variable in ("BIZENV_WAREHOUSE_URL", "BIZENV_LANDING_ROOT", "BIZENV_PII_KEY_FILE", "BIZENV_DOCS_DIR"):
        env.pop(variable, None)

    metadata = create_engine(metadata_url)
    topology = Topology(env, log_dir)
    try:
        topology.airflow("db", "migrate", timeout=300)
        with running(topology):
            topology.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(api_port),
                           "--workers", "1")
            topology.start("scheduler", "scheduler")
            topology.start("dag-processor", "dag-processor")
            topology.start("celery-worker", "celery", "worker", "--concurrency", "2")

            def dag_parsed() -> bool:
                with metadata.connect() as conn:
                    errors = conn.execute(text("select stacktrace from import_error")).scalars().all()
                    if errors:
                        raise AssertionError(f"the probe DAG does not import: {errors}\n{topology.logs()}")
                    return conn.execute(text("select count(*) from dag where dag_id = :d and not is_stale"),
                                        {"d": DAG_ID}).scalar() == 1

            wait_for(f"the dag-processor to parse {DAG_ID}", dag_parsed, STARTUP_TIMEOUT, topology)
            wait_for("the api-server to listen", lambda: api_server_up(api_port), STARTUP_TIMEOUT, topology)
            wait_for("the celery worker to be ready", lambda: " ready." in topology.log("celery-worker"),
                     STARTUP_TIMEOUT, topology)

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
    assert database == fresh.database
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
