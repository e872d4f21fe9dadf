"""Which failures of an ingest task Airflow retries: outages only (DESIGN §8)."""

from __future__ import annotations

import pytest
from airflow.sdk.exceptions import AirflowFailException
from sqlalchemy.exc import IntegrityError, OperationalError

import bizenv.sources
from bizenv.sources import SourceConfigError
from bizenv.sources.database import DatabaseQueryRefused, DatabaseSourceError
from bizenv.sources.drop import DropRejected
from bizenv.sources.files import BatchRejected
from bizenv.sources.http import HttpRequestRefused, HttpSourceError
from bizenv.warehouse import WarehouseNotReady, WarehouseUnavailable
from bizenv_airflow import ingest as ingest_task

FILE_DROP_SOURCE = "amr_registration"  # no connection to look up


def run_task_raising(monkeypatch, error: BaseException) -> None:
    def failing_ingest(*_args, **_kwargs):
        raise error

    monkeypatch.setattr(ingest_task, "task_settings", lambda: None)
    monkeypatch.setattr(bizenv.sources, "ingest_source", failing_ingest)
    ingest_task.ingest_department_source(FILE_DROP_SOURCE)


@pytest.mark.parametrize("error", [
    HttpSourceError("tax_filing_api: HTTP 503 on page 2; gave up after 5 attempts"),
    DatabaseSourceError("bdc_real_estate_db: connection refused"),
    WarehouseUnavailable("cannot connect to warehouse postgresql://…: connection refused"),
    OperationalError("insert …", {}, Exception("server closed the connection unexpectedly")),
], ids=type)
def test_outages_are_raised_for_airflow_to_retry(monkeypatch, error):
    with pytest.raises(type(error)):
        run_task_raising(monkeypatch, error)


@pytest.mark.parametrize("error", [
    BatchRejected("registration.csv: 80 of 100 rows fail validation; batch rejected"),
    DropRejected("amr_registration: 1 file(s) rejected", []),
    HttpRequestRefused("tax_filing_api: HTTP 401 from http://…: check the token"),
    DatabaseQueryRefused("bdc_real_estate_db: relation bdc_cases does not exist"),
    SourceConfigError("sources.yaml: entry 2 has no name"),
    WarehouseNotReady("warehouse duckdb:///… has no bizenv schema; run `bizenv db upgrade`"),
    IntegrityError("insert …", {}, Exception("duplicate key value violates unique constraint")),
    AssertionError("batch does not reconcile"),
], ids=type)
def test_everything_else_fails_without_retry(monkeypatch, error):
    with pytest.raises(AirflowFailException) as failed:
        run_task_raising(monkeypatch, error)
    assert "\n" not in str(failed.value)
