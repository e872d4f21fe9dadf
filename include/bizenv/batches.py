"""Batches whose process is gone, and re-processing a landed batch (`bizenv reload`).

A batch runs under one process, recorded in ops.batch (worker_host, worker_pid). A process
killed mid-batch (kill -9, OOM killer, a machine restart) leaves its batch `running`: nothing of
it reached core (the merge is one transaction), but its raw rows sit in the landing zone. The
next ingest, of any dataset, closes such a batch as failed and says how to re-process it; the
landing file is kept. `reload_batch` then loads it from the landing file, without extracting
from the department again.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import socket
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
from sqlalchemy import Connection, Engine

from bizenv.errors import Refused
from bizenv.settings import env_number
from bizenv.timeutil import utc_now
from bizenv.warehouse import query_df, run_sql

log = logging.getLogger(__name__)

STALE_HOURS_ENV = "BIZENV_STALE_BATCH_HOURS"
DEFAULT_STALE_HOURS = 24.0
# a batch's started_at has whole seconds and the process began before it; a process that began
# later than this after the batch started holds a recycled pid
_PID_START_SLACK = dt.timedelta(seconds=2)


def worker_identity() -> dict[str, object]:
    return {"worker_host": socket.gethostname(), "worker_pid": os.getpid()}


def claim_batch(conn: Connection, batch_id: str) -> None:
    """Record this process as the one running `batch_id`."""
    run_sql(conn, "ops/claim_batch.sql", {"batch_id": batch_id, **worker_identity()})


def stale_batch_hours() -> float:
    """After how long a running batch of another host counts as abandoned
    ($BIZENV_STALE_BATCH_HOURS, default 24): its process cannot be checked from here."""
    return env_number(STALE_HOURS_ENV, DEFAULT_STALE_HOURS, "hours", positive=True)


def _boot_time() -> float | None:
    try:
        for line in Path("/proc/stat").read_text().splitlines():
            if line.startswith("btime "):
                return float(line.split()[1])
    except OSError:
        pass
    return None


def process_alive(pid: int, batch_started: dt.datetime) -> bool:
    """Whether process `pid` of this host still runs the batch started (UTC) at `batch_started`:
    it exists, is not a zombie, and is not a newer process that was given a recycled pid."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    try:
        # fields after the parenthesised command name: state is the first, starttime the 20th
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):  # no procfs: existence is all we can tell
        return True
    if fields[0] in ("Z", "X"):
        return False
    boot = _boot_time()
    if boot is None:
        return True
    started = dt.datetime.fromtimestamp(boot + int(fields[19]) / os.sysconf("SC_CLK_TCK"), dt.UTC)
    return started.replace(tzinfo=None) <= batch_started + _PID_START_SLACK


def _stale_reason(row, host: str, hours: float) -> str | None:
    """Why the running batch `row` is abandoned, or None while it may still be running."""
    started = pd.Timestamp(row.started_at).to_pydatetime()
    if row.worker_host == host and pd.notna(row.worker_pid):
        if process_alive(int(row.worker_pid), started):
            return None
        gone = f"its worker process {int(row.worker_pid)} on {host} is gone (killed or restarted)"
    else:
        if utc_now() - started < dt.timedelta(hours=hours):
            return None
        where = f"on {row.worker_host}" if pd.notna(row.worker_host) else "on an unrecorded host"
        gone = f"its worker {where} has not finished it in {hours:g} h ({STALE_HOURS_ENV})"
    if pd.notna(row.landing_path) and row.landing_path:
        return (f"{gone}; nothing of it was loaded; its landing file is kept: "
                f"re-process it with `bizenv reload {row.batch_id}`")
    return f"{gone}; nothing of it was loaded and its raw rows were never landed: deliver it again"


def fail_stale_batches(engine: Engine) -> list[str]:
    """Close as failed every running batch whose process is gone: on this host, one whose pid
    no longer runs; on another host (or unrecorded), one older than stale_batch_hours(). Returns
    their batch ids."""
    host = socket.gethostname()
    hours = stale_batch_hours()
    with engine.connect() as conn:
        running = query_df(conn, "ops/running_batches.sql")
    failed = []
    for row in running.itertuples(index=False):
        reason = _stale_reason(row, host, hours)
        if reason is None:
            continue
        with engine.begin() as conn:
            closed = run_sql(conn, "ops/fail_stale_batch.sql",
                             {"batch_id": row.batch_id, "reason": reason, "finished_at": utc_now()})
        if closed:
            log.warning("batch %s: %s", row.batch_id, reason)
            failed.append(row.batch_id)
    return failed


class BatchRunningElsewhere(Refused):
    """Another live step holds the batch (a concurrent run took it first): nothing to do here."""


@dataclass(frozen=True)
class ReloadOutcome:
    summary: object  # bizenv.ingest.BatchSummary
    reloaded: bool  # False: the batch was loaded already and nothing changed


def _source_max_bad_share(source: str) -> float | None:
    from bizenv.sources.config import load_sources

    configured = load_sources().get(source)
    return configured.max_bad_share if configured is not None else None


def reload_batch(settings, batch_id: str, *, max_bad_share: float | None = None) -> ReloadOutcome:
    """Re-process a failed batch from its landing file, without extracting again. A loaded
    batch is left as it is (idempotent); a rejected batch, one still running, or one never
    landed is refused with a one-line reason. The batch keeps its id, so its core rows,
    quarantine rows and counts are those of the original delivery. `max_bad_share` defaults
    to the configured source's, else the ingest default."""
    from bizenv.datasets import UnknownDatasetError, get_dataset
    from bizenv.ingest import DEFAULT_MAX_BAD_SHARE, BatchSummary, LandedBatch, load_batch
    from bizenv.landing import landed_row_count
    from bizenv.warehouse import connect

    with connect(settings) as engine:
        fail_stale_batches(engine)
        with engine.connect() as conn:
            found = query_df(conn, "ops/get_batch.sql", {"batch_id": batch_id})
        if found.empty:
            raise Refused(f"no batch {batch_id} in ops.batch")
        batch = found.iloc[0]
        if batch["status"] == "loaded":
            summary = BatchSummary(batch_id, batch["dataset"], int(batch["extracted"]), int(batch["loaded"]),
                                   int(batch["quarantined"]), int(batch["duplicates"]), "loaded")
            return ReloadOutcome(summary, reloaded=False)
        if batch["status"] == "running":
            raise BatchRunningElsewhere(
                f"batch {batch_id} is still running (process {batch['worker_pid']} on {batch['worker_host']}, "
                f"started {batch['started_at']} UTC); reload it once it has failed")
        if batch["status"] == "rejected":
            raise Refused(
                f"batch {batch_id} was rejected for its content and its rows are in quarantine; "
                "deliver a corrected file instead of reloading it")
        if batch["status"] != "failed":
            raise Refused(f"batch {batch_id} has status {batch['status']!r}; only a failed batch is reloaded")
        if pd.isna(batch["landing_path"]) or not batch["landing_path"]:
            raise Refused(f"batch {batch_id} has no landing file (it failed before landing); deliver it again")
        try:
            get_dataset(batch["dataset"])
        except UnknownDatasetError:
            raise Refused(f"batch {batch_id} is a {batch['dataset']} batch, which `bizenv reload` does not "
                                "process; load its file again with its own command") from None
        with engine.begin() as conn:
            taken = run_sql(conn, "ops/reclaim_batch.sql", {"batch_id": batch_id, **worker_identity()})
        if not taken:
            raise Refused(f"batch {batch_id} was taken up by another process meanwhile")
        if max_bad_share is None:
            max_bad_share = _source_max_bad_share(batch["source"])
        landed = LandedBatch(batch_id, batch["dataset"], batch["landing_path"],
                             batch["file_name"] or batch["source"], landed_row_count(batch["landing_path"]))
        summary = load_batch(settings, engine, landed,
                             max_bad_share=DEFAULT_MAX_BAD_SHARE if max_bad_share is None else max_bad_share)
    return ReloadOutcome(summary, reloaded=True)
