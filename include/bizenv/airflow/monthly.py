"""Task bodies of the monthly_indicators DAG; each calls the same functions as the CLI."""

from __future__ import annotations

import datetime as dt

import pendulum

from bizenv.airflow.runtime import reporting_month, task_settings


def freshness_gate(
    data_interval_start: dt.datetime, data_interval_end: dt.datetime, deadline_after_interval: dt.timedelta,
    *, alert_warnings: bool = False,
):
    """One poke of `wait_for_departments`. Fails (and so alerts, bizenv.airflow.notify) when the
    calendar lacks a year the month needs or the data is still stale after the deadline, naming
    each stale source and the units that wait for it (docs/indicators.md, "Coverage per source
    and reporting unit"); with `alert_warnings`, the missing next year (from 1 December) is also
    sent as an alert, once per run."""
    import logging

    from airflow.sdk import PokeReturnValue
    from airflow.sdk.exceptions import AirflowFailException

    from bizenv import calendar
    from bizenv.indicators.freshness import describe_stale, stale_sources
    from bizenv.warehouse import connect

    month = reporting_month(data_interval_start)
    year = int(month[:4])
    try:
        calendar.require_years([year - 1, year])
    except ValueError as error:  # a missing year or a broken calendar file: waiting or retrying fixes neither
        raise AirflowFailException(f"cannot compute the indicators of {month}: {error}") from error
    # today's Shanghai date, not the data interval's: the warning is for the operators, who act now
    warning = calendar.next_year_warning(pendulum.now("Asia/Shanghai").date())
    if warning:
        logging.getLogger(__name__).warning("%s", warning)
        if alert_warnings:
            _alert_once_per_run(warning)
    with connect(task_settings()) as engine:
        stale = stale_sources(engine, month)
    if not stale:
        return PokeReturnValue(is_done=True, xcom_value=month)
    if pendulum.now("UTC") > pendulum.instance(data_interval_end) + deadline_after_interval:
        raise AirflowFailException(
            f"department data for {month} is stale after the deadline: {describe_stale(stale)}"
        )
    return PokeReturnValue(is_done=False)


def _alert_once_per_run(warning: str) -> None:
    from airflow.sdk import get_current_context

    from bizenv.airflow.notify import send_warning

    context = get_current_context()
    # a reschedule-mode sensor pokes every ten minutes: only its first poke of the first try alerts
    if int(context.get("task_reschedule_count") or 0) == 0 and (context["ti"].try_number or 1) <= 1:
        send_warning(context, "calendar_warning", warning)


def compute_month(data_interval_start: dt.datetime) -> str:
    from airflow.sdk.exceptions import AirflowFailException

    from bizenv.indicators import MonthFinal, compute
    from bizenv.indicators.revisions import require_open
    from bizenv.warehouse import connect

    month = reporting_month(data_interval_start)
    with connect(task_settings()) as engine:
        try:  # a final (正式) month changes only through `bizenv indicators revise`: retrying cannot help
            with engine.connect() as conn:
                require_open(conn, month)
        except MonthFinal as final:
            raise AirflowFailException(str(final)) from None
        return compute(engine, month, triggered_by="airflow").run_id


def validate_run(run_id: str) -> str:
    from bizenv.indicators import validate_snapshot
    from bizenv.warehouse import connect

    with connect(task_settings()) as engine:
        validate_snapshot(engine, run_id)
    return run_id


def publish_run(run_id: str) -> dict:
    from bizenv.indicators import publish
    from bizenv.warehouse import connect

    with connect(task_settings()) as engine:
        run = publish(engine, run_id)
    return {"run_id": run.run_id, "month": run.month, "version": run.version, "rows": run.row_count}


def report_month(data_interval_start: dt.datetime) -> dict:
    from bizenv.report import scheduled_report_path, write_report
    from bizenv.warehouse import connect

    settings = task_settings()
    month = reporting_month(data_interval_start)
    with connect(settings) as engine:
        return write_report(engine, month, scheduled_report_path(settings.reports_dir, month))
