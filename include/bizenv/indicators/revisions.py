"""Revisions of published months (docs/history.md, "Revisions").

A month is first published as 初步 (provisional). Its first publish sets the end of its revision
window, `final_from` = publish time + BIZENV_REVISION_WINDOW_DAYS (default 15 days), which every
later run of the month carries; from then on the month is 正式 (final). While a month is open, a
late or corrected delivery that touches it recomputes it (`revise_open_months`, run after every
merge): the months are found from the changed rows' own dates (sql/snapshot/touched_months.sql),
never by recomputing the others. A final month changes only through `revise` with a reason.

Every publish of a later version logs the values it changed against the month's previous
published version in mart.snapshot_revision, with the batches whose changes the new version read
and the old one did not (`caused_by`), and the reason of a revision by hand.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import pandas as pd
from sqlalchemy import Connection, Engine

from bizenv.errors import Refused
from bizenv.indicators.runs import SnapshotRun
from bizenv.settings import env_number
from bizenv.timeutil import month_bounds, utc_now
from bizenv.warehouse import query_df, run_sql, stored_datetime

log = logging.getLogger(__name__)

REVISION_WINDOW_ENV = "BIZENV_REVISION_WINDOW_DAYS"
DEFAULT_REVISION_WINDOW_DAYS = 15.0
# a window beyond this is a typo, and beyond the calendar a timestamp can hold
MAX_REVISION_WINDOW_DAYS = 3660.0
PROVISIONAL = "初步"
FINAL = "正式"


class RevisionWindowInvalid(Refused):
    """BIZENV_REVISION_WINDOW_DAYS is not a number of days the window can be."""


class MonthFinal(Refused):
    """The month is 正式: only `bizenv indicators revise` changes it."""


class RevisionRefused(Refused):
    """A revision that cannot be made: no reason given, or nothing published to revise."""


def revision_window() -> dt.timedelta:
    """How long a month stays 初步 after its first publish, from BIZENV_REVISION_WINDOW_DAYS (days,
    fractions allowed; 0: final at once)."""
    try:
        days = env_number(REVISION_WINDOW_ENV, DEFAULT_REVISION_WINDOW_DAYS, "days")
    except ValueError as error:
        raise RevisionWindowInvalid(str(error)) from None
    if days > MAX_REVISION_WINDOW_DAYS:
        raise RevisionWindowInvalid(
            f"{REVISION_WINDOW_ENV}={days:g} is longer than {MAX_REVISION_WINDOW_DAYS:g} days; give the "
            "revision window in days, e.g. 15"
        )
    return dt.timedelta(days=days)


def release_stage(final_from: dt.datetime | None, now: dt.datetime) -> str:
    """初步 before `final_from`, 正式 from then on. A published month without one was published
    before revision windows were recorded and counts as final."""
    if final_from is None or now >= final_from:
        return FINAL
    return PROVISIONAL


@dataclass(frozen=True)
class MonthState:
    """A month's release state, as a publish of run `run_id` (or none) sees it."""

    month: str
    published_runs: int  # published runs of the month other than the one being published
    previous_run_id: str | None
    previous_cutoff: dt.datetime | None
    final_from: dt.datetime | None
    run_cutoff: dt.datetime | None

    def stage(self, now: dt.datetime) -> str | None:
        """初步 or 正式, or None while nothing of the month is published."""
        return release_stage(self.final_from, now) if self.published_runs else None


def _month(month: str) -> str:
    return f"{month_bounds(month)[0]:%Y-%m}"


def month_state(conn: Connection, month: str, run_id: str = "") -> MonthState:
    month = _month(month)
    row = query_df(conn, "snapshot/revision_state.sql", {"month": month, "run_id": run_id}).iloc[0]
    return MonthState(
        month=month,
        published_runs=int(row["published_runs"]),
        previous_run_id=None if row["previous_run_id"] is None or pd.isna(row["previous_run_id"])
        else str(row["previous_run_id"]),
        previous_cutoff=stored_datetime(row["previous_cutoff"]),
        final_from=stored_datetime(row["final_from"]),
        run_cutoff=stored_datetime(row["run_cutoff"]),
    )


def _final_refusal(state: MonthState) -> MonthFinal:
    since = (f"since {state.final_from:%Y-%m-%d %H:%M} UTC" if state.final_from is not None
             else "published before revision windows were recorded")
    return MonthFinal(
        f"{state.month} is final ({FINAL}, {since}); change it with "
        f"`bizenv indicators revise --month {state.month} --reason TEXT`"
    )


def require_open(conn: Connection, month: str, *, now: dt.datetime | None = None) -> None:
    """Refuse (MonthFinal) when the month is published and final; a month never published, or
    still 初步, passes."""
    state = month_state(conn, month)
    if state.stage(now or utc_now()) == FINAL:
        raise _final_refusal(state)


def _touched(
    conn: Connection,
    *,
    batch_id: str | None = None,
    changed_after: dt.datetime | None = None,
    changed_until: dt.datetime | None = None,
) -> pd.DataFrame:
    frame = query_df(conn, "snapshot/touched_months.sql", {
        "batch_id": batch_id, "changed_after": changed_after, "changed_until": changed_until})
    frame["first_month"] = [pd.Timestamp(v).date() for v in frame["first_month"]]
    frame["last_month"] = [None if v is None or pd.isna(v) else pd.Timestamp(v).date() for v in frame["last_month"]]
    frame["changed_at"] = [pd.Timestamp(v).to_pydatetime() for v in frame["changed_at"]]
    return frame


def _touching(frame: pd.DataFrame, month: str) -> pd.DataFrame:
    """The rows of a touched_months frame whose span holds `month`."""
    first = month_bounds(month)[0]
    holds = [start <= first and (end is None or first <= end)
             for start, end in zip(frame["first_month"], frame["last_month"], strict=True)]
    return frame[pd.Series(holds, index=frame.index, dtype=bool)]


def causing_batches(
    conn: Connection, month: str, after: dt.datetime | None, until: dt.datetime | None
) -> list[str]:
    """The batches whose changes stamped in (after, until] touch `month`: what a run with cut-off
    `until` read of the month that a run with cut-off `after` did not."""
    return sorted(set(_touching(_touched(conn, changed_after=after, changed_until=until), month)["batch_id"]))


def record_publication(
    conn: Connection, run: SnapshotRun, *, revision_reason: str | None, now: dt.datetime
) -> int:
    """In the transaction that publishes `run`: refuse a final month unless this is a revision
    with a reason, give the run its month's revision window (the month's first publish sets it),
    and log every value it changes against the month's previous published version. Returns how
    many values changed."""
    state = month_state(conn, run.month, run.run_id)
    if state.stage(now) == FINAL and revision_reason is None:
        raise _final_refusal(state)
    final_from = state.final_from if state.published_runs else now + revision_window()
    run_sql(conn, "snapshot/set_revision_window.sql",
            {"run_id": run.run_id, "final_from": final_from, "revision_reason": revision_reason})
    if state.previous_run_id is None:
        return 0
    batches = causing_batches(conn, run.month, state.previous_cutoff, state.run_cutoff)
    changed = run_sql(conn, "snapshot/insert_revision_rows.sql", {
        "month": run.month,
        "old_run_id": state.previous_run_id,
        "new_run_id": run.run_id,
        "caused_by": ", ".join(batches) or None,
        "reason": revision_reason,
        "revised_at": now,
    })
    log.info("%s: %d value(s) changed against %s (batches: %s)", run.run_id, changed, state.previous_run_id,
             ", ".join(batches) or "none")
    return changed


@dataclass(frozen=True)
class PublishedMonth:
    month: str
    run_id: str
    data_cutoff: dt.datetime | None
    final_from: dt.datetime | None


def published_months(conn: Connection) -> list[PublishedMonth]:
    frame = query_df(conn, "snapshot/revision_months.sql")
    return [PublishedMonth(str(r.month), str(r.run_id), stored_datetime(r.data_cutoff), stored_datetime(r.final_from))
            for r in frame.itertuples(index=False)]


def months_to_revise(conn: Connection, batch_ids: Iterable[str], *, now: dt.datetime) -> list[str]:
    """The published, still open months whose latest version did not read the changes of
    `batch_ids` that touch them."""
    batch_ids = list(dict.fromkeys(batch_ids))
    open_months = [m for m in published_months(conn) if release_stage(m.final_from, now) == PROVISIONAL]
    if not batch_ids or not open_months:
        return []
    # only changes after the oldest cut-off can be news to an open month (changed_at is indexed)
    cutoffs = [m.data_cutoff for m in open_months]
    after = None if None in cutoffs else min(cutoffs)
    found = pd.concat([_touched(conn, batch_id=b, changed_after=after) for b in batch_ids], ignore_index=True)
    months = []
    for published in open_months:
        touching = _touching(found, published.month)
        if published.data_cutoff is not None:
            touching = touching[[changed > published.data_cutoff for changed in touching["changed_at"]]]
        if not touching.empty:
            months.append(published.month)
    return months


def revise_open_months(
    engine: Engine, batch_ids: Iterable[str], *, triggered_by: str = "ingest", now: dt.datetime | None = None
) -> list[SnapshotRun]:
    """After a delivery: recompute, check and publish each published, still open month the
    changes of `batch_ids` touch (and no other), logging what changed. Nothing when no such month
    is touched. A month that turned final meanwhile is left to `revise`."""
    from bizenv.indicators.publishing import compute_snapshot

    with engine.connect() as conn:
        months = months_to_revise(conn, batch_ids, now=now or utc_now())
    runs = []
    for month in months:
        try:
            runs.append(compute_snapshot(engine, month, triggered_by=triggered_by))
        except MonthFinal as final:
            log.warning("%s", final)
    for run in runs:
        log.info("revised %s after a delivery: %s", run.month, run.run_id)
    return runs


def revise(engine: Engine, month: str, reason: str, *, triggered_by: str = "cli") -> SnapshotRun:
    """Recompute, check and publish a published month, final or open, as a revision with its
    reason (ops.snapshot_run.revision_reason and every mart.snapshot_revision row it logs)."""
    from bizenv.indicators.publishing import compute_snapshot

    month = _month(month)
    reason = " ".join((reason or "").split())
    if not reason:
        raise RevisionRefused(f"a revision of {month} needs a reason: --reason TEXT")
    with engine.connect() as conn:
        state = month_state(conn, month)
    if not state.published_runs:
        raise RevisionRefused(
            f"{month} has no published snapshot to revise; publish it with `bizenv indicators compute --month {month}`"
        )
    return compute_snapshot(engine, month, triggered_by=triggered_by, revision_reason=reason)
