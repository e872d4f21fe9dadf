"""A batch whose process was killed is failed by the next ingest and reloaded from its landing
file with `bizenv reload` (docs/security.md)."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from bizenv import codes
from bizenv.batches import fail_stale_batches
from bizenv.cli import main
from bizenv.ingest import ingest_file
from bizenv.landing import read_landed_batch
from bizenv.simulator.simulate import CHINESE_HEADERS, DefectRates, simulate
from bizenv.warehouse import make_engine

ENTITIES = 500

# kill -9 of the worker half way through the merge transaction: the technique of
# test_ingest_registration.py::test_a_merge_killed_half_way_leaves_no_trace, with a real kill
KILLED_WORKER = r"""
import os, signal, sys
from pathlib import Path
from bizenv import ingest
from bizenv.settings import load_settings

run_sql = ingest.run_sql
def dying_run_sql(conn, path, params=None):
    if path.endswith("close_entity_versions.sql"):
        os.kill(os.getpid(), signal.SIGKILL)
    return run_sql(conn, path, params)
ingest.run_sql = dying_run_sql
ingest.ingest_file(load_settings(), "registration", Path(sys.argv[1]))
"""


def write(data_frame: pd.DataFrame, dataset: str, path: Path) -> Path:
    headers = CHINESE_HEADERS[dataset]
    data_frame[list(headers)].rename(columns=headers).to_csv(path, index=False, encoding="utf-8")
    return path


@pytest.fixture
def delivery(tmp_path: Path) -> dict[str, Path]:
    """A registration file of 500 entities plus an exact duplicate and a row with a wrong USCC
    check character; and a credit file of the same entities (the next ingest)."""
    data = simulate(entities=ENTITIES, months=("2024-01", "2024-06"), seed=3, defects=DefectRates.none())
    bad = data.registration.iloc[[0]].assign(uscc=codes.make_uscc("91", "152921", "MA0N0005")[:-1] + "0",
                                             name="错误校验位有限公司")
    registration = pd.concat([data.registration, data.registration.iloc[[1]], bad], ignore_index=True)
    return {"registration": write(registration, "registration", tmp_path / "registration.csv"),
            "credit_record": write(data.credit_record, "credit_record", tmp_path / "credit.csv")}


@pytest.fixture
def cli_env(warehouse_settings, monkeypatch):
    monkeypatch.setenv("BIZENV_DATA_DIR", str(warehouse_settings.data_dir))
    monkeypatch.setenv("BIZENV_WAREHOUSE_URL", warehouse_settings.warehouse_url)
    return {**os.environ}


def counts(settings) -> dict[str, int]:
    engine = make_engine(settings.warehouse_url)
    with engine.connect() as conn:
        found = {table: conn.execute(text(f"select count(*) from {table}")).scalar_one()
                 for table in ("core.registration", "core.market_entity", "quarantine.registration",
                               "ops.stage_registration", "ops.validation_result")}
    engine.dispose()
    return found


def batch(settings, batch_id: str):
    engine = make_engine(settings.warehouse_url)
    with engine.connect() as conn:
        row = conn.execute(text("select * from ops.batch where batch_id = :b"), {"b": batch_id}).mappings().one()
    engine.dispose()
    return dict(row)


def test_a_killed_batch_is_failed_by_the_next_ingest_and_reloaded(warehouse_settings, delivery, cli_env, capsys):
    worker = subprocess.Popen([sys.executable, "-c", KILLED_WORKER, str(delivery["registration"])], env=cli_env)
    assert worker.wait(timeout=300) == -signal.SIGKILL
    engine = make_engine(warehouse_settings.warehouse_url)
    with engine.connect() as conn:
        (batch_id,) = conn.execute(text("select batch_id from ops.batch")).one()
    engine.dispose()
    killed = batch(warehouse_settings, batch_id)
    assert killed["status"] == "running"
    assert (killed["worker_host"], killed["worker_pid"]) == (socket.gethostname(), worker.pid)
    assert read_landed_batch(killed["landing_path"]).shape[0] == ENTITIES + 2
    assert counts(warehouse_settings) == dict.fromkeys(counts(warehouse_settings), 0)

    # the next ingest, of another dataset, closes the killed batch and keeps its landing file
    credit = ingest_file(warehouse_settings, "credit_record", delivery["credit_record"])
    assert credit.status == "loaded"
    failed = batch(warehouse_settings, batch_id)
    assert failed["status"] == "failed" and failed["finished_at"] is not None
    assert f"worker process {worker.pid} on {socket.gethostname()} is gone" in failed["reason"]
    assert f"`bizenv reload {batch_id}`" in failed["reason"]
    assert failed["landing_path"] == killed["landing_path"] and Path(failed["landing_path"]).exists()

    capsys.readouterr()
    assert main(["reload", batch_id]) == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary == {"batch_id": batch_id, "dataset": "registration", "extracted": ENTITIES + 2,
                       "loaded": ENTITIES, "quarantined": 1, "duplicates": 1, "status": "loaded", "reason": None}
    loaded = batch(warehouse_settings, batch_id)
    assert loaded["status"] == "loaded" and loaded["reason"] is None
    assert (loaded["extracted"], loaded["loaded"], loaded["quarantined"], loaded["duplicates"]) == (
        ENTITIES + 2, ENTITIES, 1, 1)
    assert loaded["worker_pid"] == os.getpid()
    after_reload = counts(warehouse_settings)
    assert after_reload["core.registration"] == ENTITIES and after_reload["core.market_entity"] == ENTITIES
    assert after_reload["quarantine.registration"] == 1 and after_reload["ops.stage_registration"] == 0

    # reloading a loaded batch changes nothing
    assert main(["reload", batch_id]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out) == summary
    assert err == f"note: batch {batch_id} is loaded already; nothing reloaded\n"
    assert counts(warehouse_settings) == after_reload
    assert batch(warehouse_settings, batch_id) == loaded


def insert_running(engine, batch_id: str, host: str | None, pid: int | None, started: dt.datetime,
                   landing: str | None = "landing/x.parquet") -> None:
    with engine.begin() as conn:
        conn.execute(text("insert into ops.batch (batch_id, source, dataset, status, started_at, worker_host, "
                          "worker_pid, landing_path) values (:b, 'file', 'registration', 'running', :s, :h, :p, :l)"),
                     {"b": batch_id, "s": started, "h": host, "p": pid, "l": landing})


def statuses(engine) -> dict[str, str]:
    with engine.connect() as conn:
        return dict(conn.execute(text("select batch_id, status from ops.batch")).all())


def test_only_batches_whose_process_is_gone_are_failed(warehouse_settings, monkeypatch):
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    here = socket.gethostname()
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    engine = make_engine(warehouse_settings.warehouse_url)
    insert_running(engine, "alive-here", here, os.getpid(), now)
    insert_running(engine, "dead-here", here, finished.pid, now)
    # this process began long after this batch: its pid was recycled
    insert_running(engine, "recycled-pid", here, os.getpid(), now - dt.timedelta(days=400))
    insert_running(engine, "elsewhere-recent", "another-host", 4242, now - dt.timedelta(hours=2))
    insert_running(engine, "elsewhere-old", "another-host", 4242, now - dt.timedelta(hours=30))
    insert_running(engine, "never-landed", None, None, now - dt.timedelta(hours=30), landing=None)

    assert sorted(fail_stale_batches(engine)) == ["dead-here", "elsewhere-old", "never-landed", "recycled-pid"]
    assert statuses(engine) == {"alive-here": "running", "dead-here": "failed", "recycled-pid": "failed",
                                "elsewhere-recent": "running", "elsewhere-old": "failed", "never-landed": "failed"}
    with engine.connect() as conn:
        reasons = dict(conn.execute(text("select batch_id, reason from ops.batch where status = 'failed'")).all())
    assert "has not finished it in 24 h (BIZENV_STALE_BATCH_HOURS)" in reasons["elsewhere-old"]
    assert "`bizenv reload elsewhere-old`" in reasons["elsewhere-old"]
    assert reasons["never-landed"].endswith("its raw rows were never landed: deliver it again")

    monkeypatch.setenv("BIZENV_STALE_BATCH_HOURS", "1")
    assert fail_stale_batches(engine) == ["elsewhere-recent"]
    assert fail_stale_batches(engine) == []  # closed once
    assert statuses(engine)["alive-here"] == "running"
    engine.dispose()


def test_reload_refuses_what_it_cannot_reprocess(warehouse_settings, cli_env, capsys):
    engine = make_engine(warehouse_settings.warehouse_url)
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None, microsecond=0)
    insert_running(engine, "alive-here", socket.gethostname(), os.getpid(), now)
    insert_running(engine, "never-landed", None, None, now - dt.timedelta(hours=30), landing=None)
    engine.dispose()
    expected = {
        "no-such-batch": "error: no batch no-such-batch in ops.batch",
        "alive-here": f"error: batch alive-here is still running (process {os.getpid()} on {socket.gethostname()}",
        "never-landed": "error: batch never-landed has no landing file (it failed before landing); deliver it again",
    }
    for batch_id, message in expected.items():
        assert main(["reload", batch_id]) == 1
        err = capsys.readouterr().err
        assert err.startswith(message) and err.count("\n") == 1, err
