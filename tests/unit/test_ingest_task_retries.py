"""Which failures of an ingest task Airflow retries: outages only (docs/architecture.md). Every
step of the ingest DAG (extract_and_land, each mapped validate_and_merge, advance_watermark)
classifies the same way."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException
from sqlalchemy.exc import IntegrityError, OperationalError

import bizenv.sources
from bizenv.airflow import ingest as ingest_task
from bizenv.errors import Refused
from bizenv.ingest import BatchSummary
from bizenv.sources import SourceConfigError
from bizenv.sources.database import DatabaseQueryRefused, DatabaseSourceError
from bizenv.sources.drop import DropRejected
from bizenv.sources.files import BatchRejected
from bizenv.sources.http import HttpRequestRefused, HttpSourceError
from bizenv.warehouse import WarehouseUnavailable

FILE_DROP_SOURCE = "amr_registration"  # no connection to look up
BATCH = "registration-20240630T010203-0123abcd"

# step name in bizenv.sources -> how its task is called
STEPS = {
    "extract_and_land": lambda: ingest_task.extract_and_land(FILE_DROP_SOURCE),
    "validate_and_merge": lambda: ingest_task.validate_and_merge(BATCH),
    "advance_source_watermark": lambda: ingest_task.advance_watermark(FILE_DROP_SOURCE, [BATCH], ""),
}


def run_step_raising(monkeypatch, step: str, error: BaseException) -> None:
    def failing(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(ingest_task, "task_settings", lambda: None)
    monkeypatch.setattr(bizenv.sources, step, failing)
    STEPS[step]()


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("error", [
    HttpSourceError("tax_filing_api: HTTP 503 on page 2; gave up after 5 attempts"),
    DatabaseSourceError("bdc_real_estate_db: connection refused"),
    WarehouseUnavailable("cannot connect to warehouse postgresql://…: connection refused"),
    OperationalError("insert …", {}, Exception("server closed the connection unexpectedly")),
], ids=type)
def test_outages_are_raised_for_airflow_to_retry(monkeypatch, step, error):
    with pytest.raises(type(error)):
        run_step_raising(monkeypatch, step, error)


@pytest.mark.parametrize("step", STEPS)
@pytest.mark.parametrize("error", [
    BatchRejected("registration.csv: 80 of 100 rows fail validation; batch rejected"),
    DropRejected("amr_registration: 1 file(s) rejected", []),
    HttpRequestRefused("tax_filing_api: HTTP 401 from http://…: check the token"),
    DatabaseQueryRefused("bdc_real_estate_db: relation bdc_cases does not exist"),
    SourceConfigError("sources.yaml: entry 2 has no name"),
    Refused("warehouse duckdb:///… has no bizenv schema; run `bizenv db upgrade`"),
    Refused(f"batch {BATCH} was rejected for its content and its rows are in quarantine"),
    IntegrityError("insert …", {}, Exception("duplicate key value violates unique constraint")),
    AssertionError("batch does not reconcile"),
], ids=type)
def test_everything_else_fails_without_retry(monkeypatch, step, error):
    with pytest.raises(AirflowFailException) as failed:
        run_step_raising(monkeypatch, step, error)
    assert "\n" not in str(failed.value)


def test_a_batch_rejected_for_its_content_fails_its_mapped_task_without_retry(monkeypatch):
    rejected = BatchSummary(BATCH, "registration", 100, 0, 80, 20, "rejected",
                            "登记.csv: 80 of 100 rows fail validation (80.0% > 5% allowed); batch rejected")
    monkeypatch.setattr(ingest_task, "task_settings", lambda: None)
    monkeypatch.setattr(bizenv.sources, "validate_and_merge", lambda *_a, **_k: rejected)
    with pytest.raises(AirflowFailException, match="80 of 100 rows fail validation"):
        ingest_task.validate_and_merge(BATCH)


def test_unreadable_dropped_files_fail_the_run_after_the_watermark_moved(monkeypatch):
    advanced = []
    monkeypatch.setattr(ingest_task, "task_settings", lambda: None)
    monkeypatch.setattr(bizenv.sources, "advance_source_watermark", lambda *args, **_k: advanced.append(args))
    with pytest.raises(AirflowFailException, match="1 file\\(s\\) rejected"):
        ingest_task.advance_watermark(FILE_DROP_SOURCE, [BATCH], "amr_registration: 1 file(s) rejected and moved")
    assert advanced == [(None, FILE_DROP_SOURCE, [BATCH])]


def test_a_batch_another_run_is_merging_skips_its_mapped_task(monkeypatch):
    """Two runs over one source at once: the run that finds its landed batch taken skips that
    instance (advance_watermark, none_failed, still runs) instead of failing the run."""
    from airflow.sdk.exceptions import AirflowSkipException

    from bizenv.batches import BatchRunningElsewhere

    taken = BatchRunningElsewhere(f"batch {BATCH} is being merged by process 4242 on worker-2")
    with pytest.raises(AirflowSkipException, match=f"^batch {BATCH} is being merged by process 4242"):
        run_step_raising(monkeypatch, "validate_and_merge", taken)
