"""The province-size run: one simulated month through the production topology, measured.

    .venv/bin/python tests/integration/province_run.py --entities 1000000 \\
        --postgres postgresql+psycopg://postgres@127.0.0.1:5432/postgres --redis redis://127.0.0.1:6379 \\
        --json var/bench/province-1000000.json

What it does, in order (every database, Redis database and directory is its own and goes away at
the end, also after a failure or Ctrl-C):

1. claims a free Redis database (airflow_stack.claimed_redis_database) and creates two scratch
   PostgreSQL databases (bizenv.simulator.bench.scratch_postgres): the Airflow metadata and the
   warehouse;
2. simulates one month (`--month`, default 2024-06) for N entities exactly as `bizenv bench` does
   (seed 1, clean data, the four department files in their departments' encodings), in its own
   process, timed;
3. runs `airflow db migrate`, creates the pool `bizenv_warehouse` with `--pool-slots` slots (default
   4, as docker-compose.yaml: twice what two workers can run, so a writer waits for the pool only
   while queued writers, which hold a slot, wait for a worker) and migrates the warehouse with
   `bizenv db upgrade`;
4. starts the production topology natively (airflow_stack.Topology): api-server, scheduler,
   dag-processor and two celery workers of concurrency 1 (`-H celery-worker-1@host`,
   `celery-worker-2@host`), so at most two tasks run at once; the DAG file is the real
   dags/ingest_sources.py, reading a sources file of this run (BIZENV_SOURCES_FILE) with one
   file-drop source per dataset (`<dataset>_drop`, triggered only: no schedule), because in the
   shipped sources.yaml only registration arrives as a file drop;
5. moves each file into its drop folder with a `.done` marker, unpauses the four
   `ingest_<dataset>_drop` DAGs and triggers them through the REST API within milliseconds of
   each other, then waits until all four runs end (a failed or retried task fails the run at once,
   with the tail of its task log and of every component's log);
6. samples every 0.5 s the summed RSS of each worker's whole process tree (the celery main
   process, its log server, its stale-bundle cleanup process, the pool process, which supervises
   the task, and the task process), and its summed PSS: every one of them is a fork of the main
   process or of the pool process, and RSS counts each page they still share once per process,
   PSS once in all; also the tree when idle, before the trigger, and the largest single process;
7. reads from the metadata database every task instance (which worker ran it, from the Celery task
   id in that worker's log; queued, start, end, duration) and from the warehouse's ops.batch the
   rows extracted, loaded, quarantined and duplicate per dataset, which must reconcile with the
   file's rows; prints a table and writes every figure as JSON (`--json`), also the ones measured
   before a failure (with `error`).

`wall_seconds` runs from the first trigger to the end of the last run. "Where the time goes":
task seconds per task kind; per task the wait for the pool or the executor (scheduled -> queued)
and the wait for a free worker and the task process start (queued -> running); per worker the
seconds it ran a task; the seconds both workers were busy at once, and none.

The module is also imported by test_province_run.py, which runs `run_province` at small size.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager, suppress
from pathlib import Path
from urllib.parse import urlsplit

import psutil
import pytest
import yaml
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
from sqlalchemy.engine import make_url
from sqlalchemy.exc import SQLAlchemyError

from bizenv.simulator import bench
from bizenv.sources.config import DEFAULT_SOURCES_FILE
from bizenv.sources.drop import done_marker

DEFAULT_REDIS = "redis://127.0.0.1:6379"
DATASETS = bench.DATASET_ORDER
WORKERS = 2
WORKER_CONCURRENCY = 1
MEMORY_LIMIT_MB = 1024.0
SAMPLE_SECONDS = 0.5
POOL = "bizenv_warehouse"  # bizenv.airflow.dag_config.WAREHOUSE_POOL; that module imports Airflow
DEFAULT_POOL_SLOTS = 4
DEFAULT_RUN_TIMEOUT = 3600
BROKEN_STATES = ("failed", "up_for_retry", "upstream_failed")
_WORKLOAD_LINE = re.compile(r"\[([0-9a-fA-F-]{36})\] Executing workload in Celery")


def default_redis_url() -> str:
    return os.environ.get("BIZENV_TEST_REDIS_URL", DEFAULT_REDIS)


def source_name(dataset: str) -> str:
    return f"{dataset}_drop"


def dag_id(dataset: str) -> str:
    return f"ingest_{source_name(dataset)}"


def write_sources_file(path: Path, shipped: Path = DEFAULT_SOURCES_FILE) -> Path:
    """One file-drop source per dataset, with the department, bad-row share and task time limit
    of the shipped source of that dataset; triggered only, so unpausing starts nothing."""
    shipped_entries = {entry["dataset"]: entry
                       for entry in yaml.safe_load(shipped.read_text(encoding="utf-8"))["sources"]}
    entries = []
    for dataset in DATASETS:
        origin = shipped_entries[dataset]
        entries.append({
            "name": source_name(dataset), "department": origin["department"], "dataset": dataset,
            "kind": "file_drop", "connection_id": None, "schedule": None, "incremental_field": "updated_at",
            "overlap_minutes": 0, "encoding": "auto", "columns": {},
            "max_bad_share": origin.get("max_bad_share", 0.05),
            "execution_timeout_minutes": origin.get("execution_timeout_minutes", 120),
            "file_drop": {"directory": f"drop/{dataset}", "archive_directory": f"drop/{dataset}_archive",
                          "pattern": ["*.csv"]},
        })
    path.write_text(yaml.safe_dump({"sources": entries}, allow_unicode=True, sort_keys=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------------------------
# Memory of each worker's process tree


class TreeSampler(threading.Thread):
    """Every `interval` seconds, the summed RSS and PSS of each root process and all its
    descendants; keeps each tree's peak and what it was made of."""

    def __init__(self, roots: dict[str, int], interval: float = SAMPLE_SECONDS) -> None:
        super().__init__(name="worker-memory-sampler", daemon=True)
        self.roots, self.interval = roots, interval
        self.started_at = time.monotonic()
        self.peaks = {name: {"rss_mb": 0.0, "pss_mb": 0.0, "at_s": None, "processes": [],
                             "largest_process": {"rss_mb": 0.0}} for name in roots}
        self.idle: dict[str, dict] = {}
        self.timeline: dict[str, list[list[float]]] = {name: [] for name in roots}
        self.samples = 0
        self._halt = threading.Event()

    @staticmethod
    def tree(pid: int) -> list[dict]:
        try:
            root = psutil.Process(pid)
            members = [root, *root.children(recursive=True)]
        except psutil.Error:
            return []
        measured = []
        for process in members:
            try:
                with process.oneshot():
                    rss = process.memory_info().rss
                    try:
                        pss = process.memory_full_info().pss
                    except (psutil.AccessDenied, AttributeError):
                        pss = rss
                    title = " ".join(process.cmdline()[:6])[:120] or process.name()
            except psutil.Error:  # ended between the listing and the reading
                continue
            measured.append({"pid": process.pid, "command": title, "rss_mb": round(rss / 2**20, 1),
                             "pss_mb": round(pss / 2**20, 1)})
        return measured

    def measure_idle(self) -> None:
        """The trees before any task: what a worker holds whatever the data."""
        for name, pid in self.roots.items():
            processes = self.tree(pid)
            self.idle[name] = {"rss_mb": round(sum(p["rss_mb"] for p in processes), 1),
                               "pss_mb": round(sum(p["pss_mb"] for p in processes), 1), "processes": processes}
        self.started_at = time.monotonic()

    def sample(self) -> None:
        elapsed = round(time.monotonic() - self.started_at, 2)
        for name, pid in self.roots.items():
            processes = self.tree(pid)
            if not processes:
                continue
            rss = round(sum(p["rss_mb"] for p in processes), 1)
            pss = round(sum(p["pss_mb"] for p in processes), 1)
            peak = self.peaks[name]
            if rss > peak["rss_mb"]:
                peak.update(rss_mb=rss, at_s=elapsed, processes=processes)
            peak["pss_mb"] = max(peak["pss_mb"], pss)
            largest = max(processes, key=lambda process: process["rss_mb"])
            if largest["rss_mb"] > peak["largest_process"]["rss_mb"]:
                peak["largest_process"] = largest | {"at_s": elapsed}
            self.timeline[name].append([elapsed, rss, pss])
        self.samples += 1

    def run(self) -> None:
        while not self._halt.is_set():
            self.sample()
            self._halt.wait(self.interval)

    def stop(self) -> None:
        self._halt.set()
        self.join(timeout=10)


# ---------------------------------------------------------------------------------------------
# The REST API of the api-server (the simple auth manager hands every caller an admin token)


class Api:
    def __init__(self, port: int) -> None:
        self.base = f"http://127.0.0.1:{port}"
        self.token = self._call("GET", "/auth/token", authorised=False)["access_token"]

    def _call(self, method: str, path: str, body: dict | None = None, authorised: bool = True) -> dict:
        request = urllib.request.Request(self.base + path, method=method,
                                         data=json.dumps(body).encode() if body is not None else None)
        request.add_header("Content-Type", "application/json")
        if authorised:
            request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with urllib.request.urlopen(request, timeout=30) as answer:
                return json.loads(answer.read() or b"{}")
        except urllib.error.HTTPError as error:
            raise RuntimeError(f"api-server: {method} {path} answered {error.code}: "
                               f"{error.read()[:500].decode(errors='replace')}") from None

    def unpause(self, dag: str) -> None:
        self._call("PATCH", f"/api/v2/dags/{dag}", {"is_paused": False})

    def trigger(self, dag: str) -> str:
        return self._call("POST", f"/api/v2/dags/{dag}/dagRuns", {"logical_date": None})["dag_run_id"]


# ---------------------------------------------------------------------------------------------
# Reading what happened


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _seconds(later: dt.datetime | None, earlier: dt.datetime | None) -> float | None:
    return round((later - earlier).total_seconds(), 3) if later is not None and earlier is not None else None


def celery_task_owners(topology: Topology) -> dict[str, str]:
    """Celery task id -> the worker whose log says it executed that workload. Both workers run on
    this machine, so the hostname Airflow records is the same for both; the log is not."""
    owners = {}
    for worker in topology.celery_workers:
        for match in _WORKLOAD_LINE.finditer(topology.log(worker)):
            owners[match.group(1)] = worker
    return owners


def read_task_instances(metadata, dag_ids: list[str], owners: dict[str, str]) -> list[dict]:
    with metadata.connect() as conn:
        rows = conn.execute(text(
            "select dag_id, task_id, map_index, rendered_map_index, state, try_number, hostname, pool, "
            "external_executor_id, scheduled_dttm, queued_dttm, start_date, end_date, duration "
            "from task_instance where dag_id = any(:ids) order by start_date nulls last, dag_id, task_id, map_index"),
            {"ids": dag_ids}).mappings().all()
    return [{
        "dag_id": row["dag_id"], "task_id": row["task_id"], "map_index": row["map_index"],
        "rendered_map_index": row["rendered_map_index"], "state": row["state"], "try_number": row["try_number"],
        "worker": owners.get(row["external_executor_id"] or ""), "hostname": row["hostname"], "pool": row["pool"],
        "scheduled": _iso(row["scheduled_dttm"]), "queued": _iso(row["queued_dttm"]),
        "start": _iso(row["start_date"]), "end": _iso(row["end_date"]),
        "duration": round(row["duration"], 3) if row["duration"] is not None else None,
        "waited_for_pool_s": _seconds(row["queued_dttm"], row["scheduled_dttm"]),
        "waited_for_worker_s": _seconds(row["start_date"], row["queued_dttm"]),
    } for row in rows]


def read_runs(metadata, dag_ids: list[str]) -> list[dict]:
    with metadata.connect() as conn:
        rows = conn.execute(text(
            "select dag_id, run_id, state, queued_at, start_date, end_date from dag_run "
            "where dag_id = any(:ids) order by dag_id"), {"ids": dag_ids}).mappings().all()
    return [{"dag_id": row["dag_id"], "run_id": row["run_id"], "state": row["state"],
             "queued_at": _iso(row["queued_at"]), "start": _iso(row["start_date"]), "end": _iso(row["end_date"]),
             "seconds": _seconds(row["end_date"], row["start_date"])} for row in rows]


def read_batches(warehouse_url: str, file_rows: dict[str, int]) -> dict[str, dict]:
    engine = create_engine(warehouse_url)
    try:
        with engine.connect() as conn:
            rows = conn.execute(text(
                "select dataset, source, status, extracted, loaded, quarantined, duplicates, started_at, finished_at "
                "from ops.batch order by started_at")).mappings().all()
    finally:
        engine.dispose()
    batches: dict[str, dict] = {}
    for row in rows:
        counts = batches.setdefault(row["dataset"], {"batches": 0, "statuses": [], "extracted": 0, "loaded": 0,
                                                     "quarantined": 0, "duplicates": 0})
        counts["batches"] += 1
        counts["statuses"].append(row["status"])
        for key in ("extracted", "loaded", "quarantined", "duplicates"):
            counts[key] += row[key] or 0
        counts["seconds"] = _seconds(row["finished_at"], row["started_at"])
    for dataset in DATASETS:
        counts = batches.setdefault(dataset, {"batches": 0, "statuses": [], "extracted": 0, "loaded": 0,
                                              "quarantined": 0, "duplicates": 0, "seconds": None})
        counts["file_rows"] = file_rows[dataset]
        counts["reconciles"] = (counts["extracted"] == file_rows[dataset]
                                == counts["loaded"] + counts["quarantined"] + counts["duplicates"])
    return batches


def _union(intervals: list[tuple[float, float]]) -> list[tuple[float, float]]:
    merged: list[tuple[float, float]] = []
    for start, end in sorted(intervals):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def _length(intervals: list[tuple[float, float]]) -> float:
    return sum(end - start for start, end in intervals)


def _intersection(first: list[tuple[float, float]], second: list[tuple[float, float]]) -> float:
    return sum(max(0.0, min(a_end, b_end) - max(a_start, b_start))
               for a_start, a_end in first for b_start, b_end in second)


def where_time_goes(tasks: list[dict], workers: list[str], triggered: dt.datetime, wall: float | None) -> dict:
    """Task seconds per task kind, waits before a task ran, and how busy the workers were
    between the first trigger and the last run's end."""
    kinds: dict[str, dict] = {}
    for task in tasks:
        kind = kinds.setdefault(task["task_id"], {"tasks": 0, "task_seconds": 0.0, "longest_s": 0.0,
                                                  "waited_for_pool_s": 0.0, "waited_for_worker_s": 0.0})
        kind["tasks"] += 1
        kind["task_seconds"] += task["duration"] or 0.0
        kind["longest_s"] = max(kind["longest_s"], task["duration"] or 0.0)
        kind["waited_for_pool_s"] += task["waited_for_pool_s"] or 0.0
        kind["waited_for_worker_s"] += task["waited_for_worker_s"] or 0.0
    for kind in kinds.values():
        for key in ("task_seconds", "longest_s", "waited_for_pool_s", "waited_for_worker_s"):
            kind[key] = round(kind[key], 3)

    def offset(stamp: str) -> float:
        return (dt.datetime.fromisoformat(stamp) - triggered).total_seconds()

    busy = {worker: _union([(offset(t["start"]), offset(t["end"])) for t in tasks
                            if t["worker"] == worker and t["start"] and t["end"]]) for worker in workers}
    either = _union([interval for intervals in busy.values() for interval in intervals])
    both = _intersection(*busy.values()) if len(workers) == 2 else None
    starts = [offset(t["start"]) for t in tasks if t["start"]]
    return {
        "per_task_kind": kinds,
        "task_seconds": round(sum(t["duration"] or 0.0 for t in tasks), 3),
        "waited_for_pool_s": round(sum(t["waited_for_pool_s"] or 0.0 for t in tasks), 3),
        "waited_for_worker_s": round(sum(t["waited_for_worker_s"] or 0.0 for t in tasks), 3),
        "trigger_to_first_task_s": round(min(starts), 3) if starts else None,
        "worker_busy_s": {worker: round(_length(intervals), 3) for worker, intervals in busy.items()},
        "both_workers_busy_s": round(both, 3) if both is not None else None,
        "no_worker_busy_s": round(wall - _length(either), 3) if wall is not None else None,
    }


# ---------------------------------------------------------------------------------------------
# The run


def _print(line: str = "") -> None:
    print(line, flush=True)


@contextmanager
def _work_directory(work_dir: Path | None) -> Iterator[Path]:
    """`work_dir` as given (kept), else a temporary directory removed afterwards: it holds the
    landing zone, where resident IDs are kept as delivered."""
    if work_dir is not None:
        if work_dir.exists() and any(work_dir.iterdir()):
            raise SystemExit(f"province run: --work-dir {work_dir} is not empty")
        work_dir.mkdir(parents=True, exist_ok=True)
        yield work_dir.resolve()
        return
    with tempfile.TemporaryDirectory(prefix="bizenv-province-") as temporary:
        yield Path(temporary)


def _last_json(stdout: str) -> dict:
    return json.loads(next(line for line in reversed(stdout.splitlines()) if line.startswith("{")))


def _task_log_tail(airflow_home: Path, task: dict, lines: int = 40) -> str:
    logs = sorted((airflow_home / "logs" / f"dag_id={task['dag_id']}").glob(f"**/task_id={task['task_id']}/**/*.log"))
    if not logs:
        return f"--- task log of {task['dag_id']}.{task['task_id']}: (none found)"
    content = logs[-1].read_text(errors="replace").splitlines()[-lines:]
    return f"--- {logs[-1].relative_to(airflow_home)} (last {len(content)} lines)\n" + "\n".join(content)


def wait_for_runs(topology: Topology, metadata, dag_ids: list[str], airflow_home: Path, timeout: float) -> None:
    """Until every DAG run ended; a task that failed or waits for a retry fails the run at once:
    a retried attempt would measure the retry delay, not the ingest."""

    def finished() -> bool:
        with metadata.connect() as conn:
            broken = conn.execute(text(
                "select dag_id, task_id, map_index, state, try_number from task_instance "
                "where dag_id = any(:ids) and state = any(:broken)"),
                {"ids": dag_ids, "broken": list(BROKEN_STATES)}).mappings().all()
            states = dict(conn.execute(text("select dag_id, state from dag_run where dag_id = any(:ids)"),
                                       {"ids": dag_ids}).all())
        if broken or "failed" in states.values():
            tails = "\n".join(_task_log_tail(airflow_home, dict(task)) for task in broken)
            raise AssertionError(f"ingest runs failed: tasks {[dict(task) for task in broken]}, runs {states}\n"
                                 f"{tails}\n{topology.logs()}")
        return len(states) == len(dag_ids) and all(state == "success" for state in states.values())

    wait_for(f"the runs of {', '.join(dag_ids)} to finish", finished, timeout, topology, interval=1.0)


def upgrade_warehouse(env: dict[str, str], warehouse_url: str, logs: Path) -> None:
    """`bizenv db upgrade` under the tasks' own environment and personal-ID key."""
    log = logs / "bizenv-db-upgrade.log"
    with log.open("wb") as output:
        finished = subprocess.run([*bench._bizenv(), "db", "upgrade"],
                                  env={**env, "BIZENV_WAREHOUSE_URL": warehouse_url},
                                  stdout=output, stderr=subprocess.STDOUT, timeout=600, check=False)
    if finished.returncode != 0:
        raise RuntimeError(f"bizenv db upgrade exited {finished.returncode}\n"
                           + "\n".join(log.read_text(errors="replace").splitlines()[-20:]))


def collect(result: dict, metadata, warehouse_url: str, topology: Topology, sampler: TreeSampler,
            triggered: dt.datetime, file_rows: dict[str, int]) -> None:
    """Runs, task instances, worker memory, batches and where the time went, into `result`.
    Runs still going (after a failure) leave `wall_seconds` empty."""
    dag_ids = result["settings"]["dag_ids"]
    workers = list(topology.celery_workers)
    runs = result["runs"] = read_runs(metadata, dag_ids)
    tasks = result["tasks"] = read_task_instances(metadata, dag_ids, celery_task_owners(topology))
    ends = [run["end"] for run in runs]
    wall = None
    if len(runs) == len(dag_ids) and all(ends):
        wall = round((max(dt.datetime.fromisoformat(end) for end in ends) - triggered).total_seconds(), 3)
    result["wall_seconds"] = wall
    result["workers"] = {worker: {
        "peak_tree_rss_mb": sampler.peaks[worker]["rss_mb"],
        "peak_tree_pss_mb": sampler.peaks[worker]["pss_mb"],
        "under_1gb": sampler.peaks[worker]["rss_mb"] < MEMORY_LIMIT_MB,
        "under_1gb_pss": sampler.peaks[worker]["pss_mb"] < MEMORY_LIMIT_MB,
        "idle_tree_rss_mb": sampler.idle[worker]["rss_mb"],
        "idle_tree_pss_mb": sampler.idle[worker]["pss_mb"],
        "largest_process": sampler.peaks[worker]["largest_process"],
        "peak_at_s": sampler.peaks[worker]["at_s"],
        "processes_at_peak": sampler.peaks[worker]["processes"],
        "tasks": sum(1 for task in tasks if task["worker"] == worker),
        "timeline": sampler.timeline[worker],
    } for worker in workers}
    result["memory_samples"] = sampler.samples
    result["batches"] = read_batches(warehouse_url, file_rows)
    result["where_time_goes"] = where_time_goes(tasks, workers, triggered, wall)


def run_province(entities: int, postgres: str, redis: str, json_path: Path | None = None, month: str = "2024-06",
                 pool_slots: int = DEFAULT_POOL_SLOTS, run_timeout: float = DEFAULT_RUN_TIMEOUT,
                 work_dir: Path | None = None, argv: list[str] | None = None) -> dict:
    if entities < 1:
        raise ValueError("province run: --entities must be at least 1")
    dag_ids = [dag_id(dataset) for dataset in DATASETS]
    try:
        machine = bench._machine(postgres)
    except SQLAlchemyError as error:  # the message must say what is missing, in one line
        reason = (str(getattr(error, "orig", None) or error).splitlines() or [type(error).__name__])[0]
        raise RuntimeError(f"PostgreSQL at {make_url(postgres).render_as_string()} is required: {reason}") from None
    result: dict = {
        "command": ["tests/integration/province_run.py", *(argv or [])], "entities": entities, "month": month,
        "seed": bench.SEED, "clean_data": True, "machine": machine,
        "settings": {"celery_workers": WORKERS, "worker_concurrency": WORKER_CONCURRENCY, "pool": POOL,
                     "pool_slots": pool_slots, "sample_interval_s": SAMPLE_SECONDS, "memory_limit_mb": MEMORY_LIMIT_MB,
                     "chunk_rows": int(os.environ.get("BIZENV_CHUNK_ROWS", "100000")), "dag_ids": dag_ids},
        "setup_seconds": {},
    }
    _print(f"province run: {entities:,} entities, month {month}, {WORKERS} celery workers x concurrency "
           f"{WORKER_CONCURRENCY}, pool {POOL} {pool_slots} slots; {result['machine']['cpus']} CPUs, "
           f"load average {result['machine']['load_average_start']}")
    try:
        with ExitStack() as stack:
            work = stack.enter_context(_work_directory(work_dir))
            broker = stack.enter_context(claimed_redis_database(base_url=redis))
            metadata_database = stack.enter_context(bench.scratch_postgres(postgres, "airflow"))
            warehouse_url = stack.enter_context(bench.scratch_postgres(postgres, "warehouse"))
            result["scratch"] = {"metadata_database": make_url(metadata_database).database,
                                 "warehouse_database": make_url(warehouse_url).database,
                                 "redis_database": int(urlsplit(broker).path.strip("/"))}
            airflow_home, data_dir, logs, files_dir = (work / "airflow-home", work / "data", work / "logs",
                                                       work / "files")
            for folder in (airflow_home, data_dir, logs):
                folder.mkdir(mode=0o700)
            _print(f"work directory {work}; component logs in {logs}")

            seconds, rss, out = bench.run_measured(
                "simulate", bench._child("simulate", "--entities", str(entities), "--first", month, "--last", month,
                                         "--out", str(files_dir)), dict(os.environ), logs)
            file_rows = _last_json(out)["rows"]
            files = {dataset: files_dir / f"{dataset}.csv" for dataset in DATASETS}
            result["simulate"] = {"seconds": round(seconds, 3), "peak_rss_mb": round(rss, 1)}
            result["files"] = {dataset: {"rows": file_rows[dataset],
                                         "mb": round(files[dataset].stat().st_size / 2**20, 2)}
                               for dataset in DATASETS}
            _print(f"simulated in {seconds:.1f} s: " + ", ".join(f"{d} {file_rows[d]:,} rows" for d in DATASETS))

            metadata_url, metadata_async_url = metadata_urls(metadata_database)
            api_port = free_port()
            env = airflow_environment(
                airflow_home=airflow_home, dags_folder=PROJECT_ROOT / "dags", metadata_url=metadata_url,
                metadata_async_url=metadata_async_url, broker_url=broker, api_port=api_port,
                warehouse_url=warehouse_url, data_dir=data_dir,
                extra={"BIZENV_SOURCES_FILE": str(write_sources_file(work / "sources.yaml")),
                       "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True"})
            topology = Topology(env, logs)
            metadata = create_engine(metadata_url)
            stack.callback(metadata.dispose)

            def timed(name: str, action) -> None:
                started = time.perf_counter()
                action()
                result["setup_seconds"][name] = round(time.perf_counter() - started, 3)

            timed("airflow_db_migrate", lambda: topology.airflow("db", "migrate", timeout=600))
            timed("pool_set", lambda: topology.airflow("pools", "set", POOL, str(pool_slots),
                                                       "bizenv warehouse writers"))
            timed("warehouse_upgrade", lambda: upgrade_warehouse(env, warehouse_url, logs))
            _print("setup: " + ", ".join(f"{k} {v:.1f} s" for k, v in result["setup_seconds"].items()))

            with running(topology):
                timed("components_ready", lambda: (
                    topology.start_components(api_port, celery_workers=WORKERS, worker_concurrency=WORKER_CONCURRENCY),
                    wait_until_ready(topology, metadata, api_port, dag_ids)))
                _print(f"api-server, scheduler, dag-processor and {', '.join(topology.celery_workers)} ready in "
                       f"{result['setup_seconds']['components_ready']:.1f} s")

                for dataset in DATASETS:
                    drop = data_dir / "drop" / dataset
                    drop.mkdir(mode=0o700, parents=True)
                    target = drop / files[dataset].name
                    os.replace(files[dataset], target)  # one file system: the department's upload, whole
                    done_marker(target).touch()

                api = Api(api_port)
                for dag in dag_ids:
                    api.unpause(dag)
                sampler = TreeSampler({worker: topology.processes[worker].pid for worker in topology.celery_workers})
                sampler.measure_idle()
                sampler.start()
                triggered = dt.datetime.now(dt.UTC)
                try:
                    result["run_ids"] = {dag: api.trigger(dag) for dag in dag_ids}
                    result["triggered_at"] = triggered.isoformat()
                    result["trigger_spread_s"] = round((dt.datetime.now(dt.UTC) - triggered).total_seconds(), 3)
                    _print(f"triggered {', '.join(dag_ids)} within {result['trigger_spread_s']:.3f} s")
                    wait_for_runs(topology, metadata, dag_ids, airflow_home, run_timeout)
                    # a run ends when its last task reports; the worker's task process exits a
                    # moment later, and its memory belongs to the measurement
                    with metadata.connect() as conn:
                        celery_ids = conn.execute(text(
                            "select external_executor_id from task_instance where dag_id = any(:ids) "
                            "and external_executor_id is not null"), {"ids": dag_ids}).scalars().all()
                    wait_for("the celery workers to finish every workload", lambda: all(
                        any(f"execute_workload[{celery_id}] succeeded" in topology.log(worker)
                            for worker in topology.celery_workers) for celery_id in celery_ids), 120, topology)
                    sampler.stop()
                    collect(result, metadata, warehouse_url, topology, sampler, triggered, file_rows)
                except BaseException:
                    # what a failed run (a task killed for its memory, say) got to is the figure
                    # most wanted: collected as far as it goes, and the failure raised as it was
                    sampler.stop()
                    with suppress(Exception):
                        collect(result, metadata, warehouse_url, topology, sampler, triggered, file_rows)
                    raise
            print_summary(result)
    except BaseException as error:  # the figures measured so far are written all the same
        result["error"] = (str(error).splitlines() or [type(error).__name__])[0]
        raise
    finally:
        result["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
        if json_path is not None:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            _print(f"figures written to {json_path}")
    return result


def print_summary(result: dict) -> None:
    _print(f"\nwall {result['wall_seconds']:.1f} s from the trigger to the end of the last run "
           f"(simulate {result['simulate']['seconds']:.1f} s and setup "
           f"{sum(result['setup_seconds'].values()):.1f} s not included)")
    _print(f"\n{'dataset':<18}{'file rows':>12}{'extracted':>12}{'loaded':>12}{'quarantined':>13}"
           f"{'duplicates':>12}  reconciles")
    for dataset, batch in result["batches"].items():
        _print(f"{dataset:<18}{batch['file_rows']:>12,}{batch['extracted']:>12,}{batch['loaded']:>12,}"
               f"{batch['quarantined']:>13,}{batch['duplicates']:>12,}  {'yes' if batch['reconciles'] else 'NO'}")
    _print(f"\n{'dag_id':<32}{'task':<20}{'map':>5}  {'worker':<17}{'pool wait':>10}{'worker wait':>12}"
           f"{'seconds':>9}  state")
    for task in result["tasks"]:
        _print(f"{task['dag_id']:<32}{task['task_id']:<20}{task['map_index']:>5}  {task['worker'] or '-':<17}"
               f"{task['waited_for_pool_s'] or 0:>10.1f}{task['waited_for_worker_s'] or 0:>12.1f}"
               f"{task['duration'] or 0:>9.1f}  {task['state']}")
    _print(f"\n{'worker':<18}{'tasks':>6}{'busy s':>9}{'idle RSS/PSS MB':>17}{'peak tree RSS MB':>18}"
           f"{'peak tree PSS MB':>18}{'largest process MB':>20}  under 1 GB: RSS / PSS")
    time_goes = result["where_time_goes"]
    for worker, figures in result["workers"].items():
        idle = f"{figures['idle_tree_rss_mb']:,.0f}/{figures['idle_tree_pss_mb']:,.0f}"
        _print(f"{worker:<18}{figures['tasks']:>6}{time_goes['worker_busy_s'][worker]:>9.1f}{idle:>17}"
               f"{figures['peak_tree_rss_mb']:>18,.1f}{figures['peak_tree_pss_mb']:>18,.1f}"
               f"{figures['largest_process']['rss_mb']:>20,.1f}  "
               f"{'yes' if figures['under_1gb'] else 'NO'} / {'yes' if figures['under_1gb_pss'] else 'NO'}")
    _print(f"\n{'task kind':<22}{'tasks':>6}{'task s':>9}{'longest s':>11}{'pool wait s':>13}{'worker wait s':>15}")
    for kind, figures in time_goes["per_task_kind"].items():
        _print(f"{kind:<22}{figures['tasks']:>6}{figures['task_seconds']:>9.1f}{figures['longest_s']:>11.1f}"
               f"{figures['waited_for_pool_s']:>13.1f}{figures['waited_for_worker_s']:>15.1f}")
    _print(f"\nboth workers busy {time_goes['both_workers_busy_s']:.1f} s, no worker busy "
           f"{time_goes['no_worker_busy_s']:.1f} s of {result['wall_seconds']:.1f} s; first task started "
           f"{time_goes['trigger_to_first_task_s']:.1f} s after the trigger")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="province_run.py", description=__doc__.split("\n\n")[0],
        epilog="example: .venv/bin/python tests/integration/province_run.py --entities 1000000 "
               "--json var/bench/province-1000000.json")
    parser.add_argument("--entities", type=int, default=1_000_000, help="simulated entities (default 1,000,000)")
    parser.add_argument("--month", default="2024-06", help="the simulated month, YYYY-MM (default 2024-06)")
    parser.add_argument("--postgres", default=bench.default_postgres_url(),
                        help="admin URL of the PostgreSQL server; the run creates and drops its own databases "
                             "(default $BIZENV_TEST_POSTGRES_URL or %(default)s)")
    parser.add_argument("--redis", default=default_redis_url(),
                        help="Redis server; the run claims a free database of it and flushes only that one "
                             "(default $BIZENV_TEST_REDIS_URL or %(default)s)")
    parser.add_argument("--json", type=Path, help="write every figure to this file")
    parser.add_argument("--pool-slots", type=int, default=DEFAULT_POOL_SLOTS,
                        help=f"slots of the Airflow pool {POOL} (default %(default)s)")
    parser.add_argument("--run-timeout", type=float, default=DEFAULT_RUN_TIMEOUT,
                        help="seconds from the trigger until every run must have ended (default %(default)s)")
    parser.add_argument("--work-dir", type=Path,
                        help="an empty directory for files, landing zone and logs, kept afterwards "
                             "(default: a temporary directory, removed)")
    args = parser.parse_args(argv)

    def stop(signum, _frame):
        raise KeyboardInterrupt(f"signal {signum}")  # unwinds through the cleanup as Ctrl-C does

    signal.signal(signal.SIGTERM, stop)
    # also when started from a shell that made its background jobs ignore SIGINT
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        run_province(args.entities, args.postgres, args.redis, args.json, month=args.month,
                     pool_slots=args.pool_slots, run_timeout=args.run_timeout, work_dir=args.work_dir,
                     argv=list(argv if argv is not None else sys.argv[1:]))
    except KeyboardInterrupt:
        _print("province run: interrupted; scratch databases dropped, Redis database flushed")
        return 130
    except (AssertionError, RuntimeError, OSError, subprocess.SubprocessError, pytest.fail.Exception) as error:
        print(f"province run failed: {error}", file=sys.stderr, flush=True)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
