"""Task bodies of the generated ingest DAGs: the three steps `bizenv ingest` runs
(bizenv.sources: extract_and_land, validate_and_merge, advance_source_watermark), one task each,
and `revise_open_months`: the published, still open months the merged batches touch are
recomputed (bizenv.indicators.revisions).

Which failures Airflow retries: outages of the source or the warehouse only. Anything else
fails without retry (AirflowFailException), because a rerun would meet the same refusal, batch
content or defect: a batch rejected for its content, a refused request, a configuration error,
an unwritable directory, a bug (docs/architecture.md).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from bizenv.airflow.runtime import task_settings

log = logging.getLogger(__name__)

T = TypeVar("T")


def _classified(what: str, step: Callable[[], T]) -> T:
    """Run a step, re-raising an outage for Airflow to retry and turning everything else into a
    one-line AirflowFailException naming `what` (the source or the batch)."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException
    from sqlalchemy.exc import OperationalError

    from bizenv.errors import Refused, Retryable

    try:
        return step()
    except AirflowSkipException:
        raise
    except Refused as refused:
        raise AirflowFailException(str(refused).splitlines()[0] if str(refused) else what) from None
    except (Retryable, OperationalError):  # an outage of the source or the warehouse
        raise
    except OSError as error:  # a read-only or full landing root / data directory: fix it, then rerun
        from bizenv.cli import describe_os_error

        raise AirflowFailException(f"{what}: {describe_os_error(error)}") from None
    except Exception as error:
        raise AirflowFailException(f"{what}: {type(error).__name__}: {error}".splitlines()[0]) from error


def extract_and_land(source_name: str) -> dict:
    """Task `extract_and_land`: the landed batch ids (the mapped step's inputs) and the one-line
    refusal of unreadable dropped files ("" when none), which fails the run's last step."""
    from airflow.sdk import BaseHook

    import bizenv.sources
    from bizenv.sources import Connection, get_source

    source = get_source(source_name)
    connection = None
    if source.connection_id:
        airflow_connection = BaseHook.get_connection(source.connection_id)
        connection = Connection.from_uri(source.connection_id, airflow_connection.get_uri())
    extraction = _classified(source_name, lambda: bizenv.sources.extract_and_land(
        task_settings(), source_name, connection=connection))
    log.info("%s: %d batch(es) landed: %s", source_name, len(extraction.batch_ids),
             ", ".join(extraction.batch_ids) or "none")
    return extraction.as_dict()


def validate_and_merge(batch_id: str) -> dict:
    """Task `validate_and_merge`, one mapped instance per landed batch: its summary (batch id
    and reconciled counts), which the task also attaches to the Asset event. A batch rejected
    for its content fails the instance without retry."""
    from airflow.sdk.exceptions import AirflowFailException, AirflowSkipException

    import bizenv.sources
    from bizenv.batches import BatchRunningElsewhere

    def merge():
        try:
            return bizenv.sources.validate_and_merge(task_settings(), batch_id)
        except BatchRunningElsewhere as taken:
            # a run over the same source at the same time took the batch first and merges it:
            # nothing failed here, and advance_watermark (none_failed) still runs
            raise AirflowSkipException(str(taken).splitlines()[0]) from None

    summary = _classified(f"batch {batch_id}", merge)
    if summary.status != "loaded":
        raise AirflowFailException(summary.reason or f"batch {batch_id}: {summary.status}")
    return summary.as_dict()


def advance_watermark(source_name: str, batch_ids: list[str], refusal: str) -> str | None:
    """Task `advance_watermark`, after every mapped instance succeeded (or none was needed): the
    source's watermark moves to the latest change among the merged batches. Then the run fails
    if dropped files could not be read (they are in the archive's `rejected/`)."""
    from airflow.sdk.exceptions import AirflowFailException

    import bizenv.sources

    mark = _classified(source_name, lambda: bizenv.sources.advance_source_watermark(
        task_settings(), source_name, list(batch_ids)))
    if mark is not None:
        log.info("%s: watermark at %s", source_name, mark)
    if refusal:
        raise AirflowFailException(refusal)
    return mark.isoformat(sep=" ") if mark is not None else None


def revise_open_months(source_name: str, batch_ids: list[str]) -> list[str]:
    """Task `revise_open_months`, after every mapped instance succeeded (or none was needed): each
    published month still 初步 that the merged batches touch is recomputed, checked and published,
    its changed values logged in mart.snapshot_revision; no other month. Returns the new run ids
    (none when no such month is touched). A month that fails its checks fails the task without
    retry; clearing it recomputes the month again."""
    from bizenv.indicators import revise_open_months as revise
    from bizenv.warehouse import connect

    def recompute() -> list[str]:
        with connect(task_settings()) as engine:
            return [run.run_id for run in revise(engine, list(batch_ids), triggered_by="airflow")]

    runs = _classified(source_name, recompute)
    log.info("%s: %s", source_name, f"months recomputed: {', '.join(runs)}" if runs else "no open month touched")
    return runs
