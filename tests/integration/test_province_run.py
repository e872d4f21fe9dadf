"""The province-size tool (province_run.py) at small size: 2,000 entities through the production
topology (PostgreSQL metadata and warehouse, Redis broker, api-server, scheduler, dag-processor and
two celery workers of one task each), the four ingest DAGs triggered together.

The figures themselves are not asserted (that is the tool's job at 1,000,000 entities); what is
asserted is that they are there and mean what they say: every run succeeded, every dataset was
loaded and its batch reconciles with its file's rows, tasks ran on both workers, the workers'
memory was sampled, the time accounting adds up, and the JSON holds every documented key.

PostgreSQL (BIZENV_TEST_POSTGRES_URL) and Redis (BIZENV_TEST_REDIS_URL) are required: when
unreachable the test fails. The run's databases and Redis database are its own and are gone
afterwards, which is asserted too.
"""

from __future__ import annotations

import json
import os
import socket

import pytest
import redis
from airflow_stack import REDIS_CLAIM_PREFIX, REDIS_URL, redis_url
from province_run import DATASETS, MEMORY_LIMIT_MB, WORKERS, dag_id, run_province
from sqlalchemy import create_engine, text

from conftest import POSTGRES_ADMIN_URL

pytestmark = [pytest.mark.airflow, pytest.mark.postgres, pytest.mark.timeout(420)]

ENTITIES = 2000
TOP_LEVEL_KEYS = {"command", "entities", "month", "seed", "clean_data", "machine", "settings", "scratch",
                  "setup_seconds", "simulate", "files", "triggered_at", "trigger_spread_s", "run_ids",
                  "wall_seconds", "runs", "tasks", "workers", "memory_samples", "batches", "where_time_goes"}
TASK_KEYS = {"dag_id", "task_id", "map_index", "rendered_map_index", "state", "try_number", "worker", "hostname",
             "pool", "scheduled", "queued", "start", "end", "duration", "waited_for_pool_s", "waited_for_worker_s"}
WORKER_KEYS = {"peak_tree_rss_mb", "peak_tree_pss_mb", "under_1gb", "under_1gb_pss", "idle_tree_rss_mb",
               "idle_tree_pss_mb", "largest_process", "peak_at_s", "processes_at_peak", "tasks", "timeline"}
TIME_KEYS = {"per_task_kind", "task_seconds", "waited_for_pool_s", "waited_for_worker_s", "trigger_to_first_task_s",
             "worker_busy_s", "both_workers_busy_s", "no_worker_busy_s"}
TASK_KINDS = {"extract_and_land", "validate_and_merge", "advance_watermark", "revise_open_months"}


def scratch_databases() -> set[str]:
    admin = create_engine(POSTGRES_ADMIN_URL)
    try:
        with admin.connect() as conn:
            return set(conn.execute(text("select datname from pg_database where datname like 'bizenv_bench_%'"))
                       .scalars())
    finally:
        admin.dispose()


def test_province_run_at_small_size(tmp_path, capsys):
    figures_file = tmp_path / "province.json"
    result = run_province(ENTITIES, POSTGRES_ADMIN_URL, REDIS_URL, figures_file, work_dir=tmp_path / "work")
    printed = capsys.readouterr().out
    figures = json.loads(figures_file.read_text(encoding="utf-8"))
    assert figures == json.loads(json.dumps(result, ensure_ascii=False))

    assert set(figures) >= TOP_LEVEL_KEYS, TOP_LEVEL_KEYS - set(figures)
    assert "error" not in figures
    assert figures["entities"] == ENTITIES
    assert set(figures["files"]) == set(DATASETS)
    assert all(figures["files"][dataset]["rows"] > 0 for dataset in DATASETS), figures["files"]
    assert figures["simulate"]["seconds"] > 0

    # every run succeeded, and each ran its four kinds of task, all successful
    dag_ids = {dag_id(dataset) for dataset in DATASETS}
    assert {(run["dag_id"], run["state"]) for run in figures["runs"]} == {(dag, "success") for dag in dag_ids}
    assert all(set(task) >= TASK_KEYS for task in figures["tasks"])
    assert {(task["dag_id"], task["task_id"]) for task in figures["tasks"]} == {
        (dag, kind) for dag in dag_ids for kind in TASK_KINDS}
    assert {task["state"] for task in figures["tasks"]} == {"success"}
    assert all(task["try_number"] == 1 for task in figures["tasks"]), figures["tasks"]
    assert {task["pool"] for task in figures["tasks"] if task["task_id"] != "extract_and_land"} == {"bizenv_warehouse"}

    # every dataset loaded, and its batch reconciles with its file
    for dataset in DATASETS:
        batch = figures["batches"][dataset]
        rows = figures["files"][dataset]["rows"]
        assert batch["file_rows"] == rows == batch["extracted"], (dataset, batch)
        assert batch["loaded"] + batch["quarantined"] + batch["duplicates"] == rows, (dataset, batch)
        assert batch["loaded"] > 0 and batch["statuses"] == ["loaded"] and batch["reconciles"], (dataset, batch)

    # both workers ran tasks, and every task's worker is known
    workers = {f"celery-worker-{number}" for number in range(1, WORKERS + 1)}
    assert set(figures["workers"]) == workers
    assert {task["worker"] for task in figures["tasks"]} == workers, figures["tasks"]
    for worker, memory in figures["workers"].items():
        assert set(memory) >= WORKER_KEYS, (worker, WORKER_KEYS - set(memory))
        assert memory["tasks"] > 0
        assert 0 < memory["idle_tree_rss_mb"] <= memory["peak_tree_rss_mb"], memory
        assert 0 < memory["peak_tree_pss_mb"] <= memory["peak_tree_rss_mb"], memory
        assert memory["under_1gb"] == (memory["peak_tree_rss_mb"] < MEMORY_LIMIT_MB)
        # the peak came while a task ran: the supervised task process is part of the tree
        assert any(process["command"].startswith("airflow worker") for process in memory["processes_at_peak"]), memory
        assert len(memory["timeline"]) >= 2
    assert figures["memory_samples"] >= 2

    # the time accounting adds up: no worker is busy longer than the wall, two at once at most
    time_goes = figures["where_time_goes"]
    assert set(time_goes) >= TIME_KEYS
    wall = figures["wall_seconds"]
    assert wall > 0
    assert set(time_goes["per_task_kind"]) == TASK_KINDS
    assert time_goes["task_seconds"] == pytest.approx(sum(task["duration"] for task in figures["tasks"]), abs=0.01)
    assert all(0 < busy <= wall for busy in time_goes["worker_busy_s"].values()), time_goes
    assert 0 <= time_goes["both_workers_busy_s"] <= min(time_goes["worker_busy_s"].values())
    assert time_goes["no_worker_busy_s"] >= 0
    # two workers of one task each: task seconds never exceed twice the wall
    assert time_goes["task_seconds"] <= 2 * wall

    assert "reconciles" in printed and "under 1 GB" in printed and "both workers busy" in printed

    # nothing of the run is left behind: its databases are dropped, its Redis database is empty
    # and no longer claimed
    scratch = figures["scratch"]
    assert scratch["metadata_database"] != scratch["warehouse_database"]
    assert not {scratch["metadata_database"], scratch["warehouse_database"]} & scratch_databases()
    broker = redis.Redis.from_url(redis_url(scratch["redis_database"]))
    claims = redis.Redis.from_url(REDIS_URL)
    try:
        claim = claims.get(f"{REDIS_CLAIM_PREFIX}{scratch['redis_database']}")
        if claim is None:
            assert broker.dbsize() == 0
        else:  # another test run has claimed the database since
            assert not claim.startswith(f"{socket.gethostname()}:{os.getpid()}:".encode())
    finally:
        broker.close()
        claims.close()
