"""A production-like Airflow stack for integration tests: PostgreSQL metadata, Redis broker,
CeleryExecutor, with `api-server`, `scheduler`, `dag-processor` and a `celery worker` started as
subprocesses (the processes docker-compose.yaml runs), each in its own process group and with a
log file whose tail goes into every failure message.

Used by test_celery_topology.py, test_backfill.py and province_run.py (which starts two celery
workers of one task each side by side, named with `-H`). PostgreSQL (the `postgres_database`
fixture of conftest.py) and Redis (BIZENV_TEST_REDIS_URL, host and port) are required: when
unreachable the tests fail, they never skip.

Two test runs on one machine share nothing: each stack has its own metadata database (a fresh
`bizenv_test_…` database, dropped afterwards), its own Redis database (claimed below), its own
AIRFLOW_HOME, ports, Fernet key and JWT secret. Two stacks on one Redis database would consume
each other's Celery messages: a worker then runs the other stack's workload with a token its own
api-server never signed (authentication errors), or the other run's flush loses the message (a
run that never starts).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing, contextmanager, suppress
from pathlib import Path
from typing import TypeVar
from urllib.parse import urlsplit

import pytest
import redis
from cryptography.fernet import Fernet
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

PROJECT_ROOT = Path(__file__).resolve().parents[2]
REDIS_URL = os.environ.get("BIZENV_TEST_REDIS_URL", "redis://127.0.0.1:6379/0")
STARTUP_TIMEOUT = 120  # seconds for the api-server to answer, the DAGs to be parsed, the worker to be ready

# bizenv settings a developer's shell may carry; tasks must see only what the test passes
BIZENV_VARIABLES_TO_DROP = ("BIZENV_WAREHOUSE_URL", "BIZENV_LANDING_ROOT", "BIZENV_PII_KEY_FILE", "BIZENV_DOCS_DIR",
                            "BIZENV_REPORTS_DIR")

T = TypeVar("T")


# The claims on Redis databases live in the database of BIZENV_TEST_REDIS_URL (0 by default),
# one key per claimed database; a claim expires on its own so a killed run frees its database.
REDIS_CLAIM_PREFIX = "bizenv:test:redis-db-claim:"
REDIS_CLAIM_SECONDS = 3600  # longer than any test's timeout (420 s)
# Written into a claimed database: only a database that is empty or holds this key is ever
# flushed, so a developer's own data in another database of the same server is never touched.
REDIS_MARKER = "bizenv:test:broker-db"
_RELEASE_CLAIM = "if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) end return 0"


def free_port(avoid: frozenset[int] = frozenset()) -> int:
    """A port nothing listens on now; `avoid` keeps two ports of one stack apart."""
    while True:
        with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        if port not in avoid:
            return port


def tail(path: Path, lines: int = 40) -> str:
    if not path.exists():
        return f"--- {path.name}: (no log)"
    content = path.read_text(errors="replace").splitlines()[-lines:]
    return f"--- {path.name} (last {len(content)} lines)\n" + "\n".join(content)


def api_server_up(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False


def redis_url(db: int, base_url: str | None = None) -> str:
    # The database is the URL's path: redis-py lets a URL's /N win over a db= argument.
    return urlsplit(base_url or REDIS_URL)._replace(path=f"/{db}", query="").geturl()


def shown_url(url: str) -> str:
    parts = urlsplit(url)
    return parts._replace(netloc=f"{parts.hostname}:{parts.port or 6379}").geturl()  # no password in test output


def redis_client(url: str) -> redis.Redis:
    client = redis.Redis.from_url(url, socket_connect_timeout=5)
    try:
        client.ping()
    except redis.RedisError as error:
        client.close()
        pytest.fail(f"Redis at {shown_url(url)} (Celery broker) is required: {error}")
    return client


@contextmanager
def claimed_redis_database(candidates: Iterable[int] | None = None, base_url: str | None = None) -> Iterator[str]:
    """The URL of a Redis database no other test run uses, empty before and after the block.

    A database is taken with SET NX on its claim key (with expiry), so two runs at once never get
    the same one; it is used only when it is empty or a test run's leftover (holds REDIS_MARKER).
    The claims live in the database of `base_url` (default BIZENV_TEST_REDIS_URL), which is never
    handed out.
    """
    base_url = base_url or REDIS_URL
    claims = redis_client(base_url)
    base_db = claims.connection_pool.connection_kwargs.get("db", 0)
    try:
        count = int(claims.config_get("databases")["databases"])
    except (redis.ResponseError, KeyError, ValueError):  # CONFIG disabled: Redis's default
        count = 16
    token = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex}"
    try:
        for db in candidates if candidates is not None else range(count):
            key = f"{REDIS_CLAIM_PREFIX}{db}"
            if db == base_db or not claims.set(key, token, nx=True, ex=REDIS_CLAIM_SECONDS):
                continue
            url = redis_url(db, base_url)
            client = redis.Redis.from_url(url, socket_connect_timeout=5)
            try:
                if client.connection_pool.connection_kwargs.get("db") != db:
                    pytest.fail(f"refusing to flush: {shown_url(url)} does not select Redis database {db}")
                if client.dbsize() and not client.exists(REDIS_MARKER):
                    continue  # someone else's data
                client.flushdb()
                client.set(REDIS_MARKER, token)
                try:
                    yield url
                finally:
                    client.flushdb()
                return
            finally:
                client.close()
                claims.eval(_RELEASE_CLAIM, 1, key, token)
        pytest.fail(f"no free Redis database on {shown_url(base_url)}: every database but {base_db} is claimed "
                    f"by another test run ({REDIS_CLAIM_PREFIX}N keys) or holds data of its own")
    finally:
        claims.close()


def metadata_urls(postgres_database: str) -> tuple[str, str]:
    """Sync and async SQLAlchemy URLs of a fresh PostgreSQL database, both through psycopg 3."""
    fresh = make_url(postgres_database)
    return (fresh.set(drivername="postgresql+psycopg").render_as_string(hide_password=False),
            fresh.set(drivername="postgresql+psycopg_async").render_as_string(hide_password=False))


def airflow_environment(
    *,
    airflow_home: Path,
    dags_folder: Path,
    metadata_url: str,
    metadata_async_url: str,
    broker_url: str,
    api_port: int,
    warehouse_url: str,
    data_dir: Path,
    pii_key: str | None = None,
    extra: dict[str, str] | None = None,
) -> dict[str, str]:
    """The environment of every component: this process's environment without any AIRFLOW*
    variable or bizenv path override, plus the production settings (CeleryExecutor, PostgreSQL
    metadata, the `bizenv_warehouse` connection as JSON with extra.sqlalchemy_url)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("AIRFLOW")}
    env |= {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": metadata_url,
        # asyncpg is not installed: without this Airflow derives a postgresql+asyncpg URL
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC": metadata_async_url,
        "AIRFLOW__CELERY__BROKER_URL": broker_url,
        "AIRFLOW__CELERY__RESULT_BACKEND": f"db+{metadata_url}",
        "AIRFLOW__CELERY__WORKER_CONCURRENCY": "2",
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        # Airflow's default is one directory under /tmp for every installation on the machine
        "AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH": str(airflow_home / "dag-bundles"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__CORE__FERNET_KEY": Fernet.generate_key().decode(),
        "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"http://127.0.0.1:{api_port}/execution/",
        "AIRFLOW__API__BASE_URL": f"http://127.0.0.1:{api_port}",
        "AIRFLOW__API_AUTH__JWT_SECRET": os.urandom(32).hex(),
        "AIRFLOW__API__SECRET_KEY": os.urandom(16).hex(),
        "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
        "AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port(avoid=frozenset({api_port}))),
        "AIRFLOW__SCHEDULER__SCHEDULER_HEARTBEAT_SEC": "2",
        "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": "5",
        "AIRFLOW_CONN_BIZENV_WAREHOUSE": json.dumps(
            {"conn_type": "generic", "extra": {"sqlalchemy_url": warehouse_url}}),
        "BIZENV_DATA_DIR": str(data_dir),
        "BIZENV_PII_KEY": pii_key or os.urandom(32).hex(),
        "GX_ANALYTICS_ENABLED": "false",
        "PYTHONUNBUFFERED": "1",
    }
    for variable in BIZENV_VARIABLES_TO_DROP:
        env.pop(variable, None)
    env |= extra or {}
    return env


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

    def start(self, name: str, *args: str, env: dict[str, str] | None = None) -> None:
        log = (self.log_dir / f"{name}.log").open("wb")
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", "airflow", *args], env={**self.env, **(env or {})}, stdout=log,
            stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True,
        )
        log.close()

    def start_components(self, api_port: int, celery_workers: int = 1, worker_concurrency: int = 2) -> None:
        """api-server, scheduler, dag-processor and `celery_workers` celery workers, as
        docker-compose.yaml runs them. One worker is `celery-worker`; several are `celery-worker-1`,
        `celery-worker-2`, ..., each with its Celery hostname (`-H celery-worker-N@<host>`: two
        workers of one name on one broker refuse to start) and its own log-server port, as
        workers on separate machines have."""
        self.start("api-server", "api-server", "--host", "127.0.0.1", "--port", str(api_port), "--workers", "1")
        self.start("scheduler", "scheduler")
        self.start("dag-processor", "dag-processor")
        if celery_workers == 1:
            self.start("celery-worker", "celery", "worker", "--concurrency", str(worker_concurrency))
            return
        taken = {api_port, int(self.env.get("AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT", 0))}
        for number in range(1, celery_workers + 1):
            name = f"celery-worker-{number}"
            port = free_port(avoid=frozenset(taken))
            taken.add(port)
            self.start(name, "celery", "worker", "--concurrency", str(worker_concurrency),
                       "--celery-hostname", f"{name}@{socket.gethostname()}",
                       env={"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(port)})

    @property
    def celery_workers(self) -> list[str]:
        """Names (and log names) of the started celery workers."""
        return [name for name in self.processes if name.startswith("celery-worker")]

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


def wait_for(what: str, probe: Callable[[], T], timeout: float, topology: Topology, interval: float = 1.0) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        topology.check_alive()
        value = probe()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}\n{topology.logs()}")


def wait_until_ready(topology: Topology, metadata: Engine, api_port: int, dag_ids: list[str]) -> None:
    """Block until the dag-processor has parsed `dag_ids` (any import error fails at once), the
    api-server listens and every celery worker is ready."""

    def dags_parsed() -> bool:
        with metadata.connect() as conn:
            errors = conn.execute(text("select stacktrace from import_error")).scalars().all()
            if errors:
                raise AssertionError(f"DAG files do not import: {errors}\n{topology.logs()}")
            found = conn.execute(text("select count(*) from dag where dag_id = any(:ids) and not is_stale"),
                                 {"ids": list(dag_ids)}).scalar()
        return found == len(dag_ids)

    wait_for(f"the dag-processor to parse {', '.join(dag_ids)}", dags_parsed, STARTUP_TIMEOUT, topology)
    wait_for("the api-server to listen", lambda: api_server_up(api_port), STARTUP_TIMEOUT, topology)
    for worker in topology.celery_workers:
        wait_for(f"the {worker} to be ready", lambda worker=worker: " ready." in topology.log(worker),
                 STARTUP_TIMEOUT, topology)
