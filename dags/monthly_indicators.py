"""
### 月度营商环境指标 · monthly business-environment indicators

Runs at 03:00 Asia/Shanghai on the 1st of each month; its data interval is the previous
month, which is the month it reports on (a run's logical date is that month's 1st, 03:00).
Backfill past months one at a time, so each month sees the previous one published:

    airflow backfill create --dag-id monthly_indicators --max-active-runs 1 \
        --from-date 2024-04-01T00:00:00+08:00 --to-date 2024-06-30T23:59:59+08:00

1. **wait_for_departments** – freshness gate: all four department datasets must cover the
   month (a department update on or after the month's last statutory working day). Reschedules itself while waiting and
   fails naming the stale departments once the deadline passes. It fails at once when the working-day calendar
   lacks the month's year or the one before, and from 1 December warns while the next year is missing.
2. **compute_snapshot** – a new immutable snapshot version (`sql/indicators/*.sql`).
3. **validate_snapshot** – the Great Expectations snapshot suite; a broken snapshot stops here.
4. **publish_snapshot** – dashboards read it through `mart.v_indicator_trend` / `mart.v_indicator_latest`
   (on the embedded DuckDB, the copy `published/mart.duckdb`; docs/dashboard-contract.md).
5. **write_report** – the month's HTML report (`bizenv report`), in `$BIZENV_REPORTS_DIR`
   (default `<data dir>/reports/indicators-YYYY-MM.html`).

Alerts (告警): a task that fails for good (data late past the deadline, a calendar year missing, a
snapshot failing its checks, anything else after its retries) and the December warning of a
missing next year are sent through the Connection `$BIZENV_ALERT_CONN_ID` (default
`bizenv_alerts`: e-mail for an `smtp` Connection, a JSON webhook for `http`/`https`; README,
"Alerts"). Without that Connection an alert is one warning line in the task log.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import Asset, CronDataIntervalTimetable, dag, task

from bizenv.airflow.dag_config import MONTHLY_DISPLAY_NAME, WAREHOUSE_POOL, FailureAlert

INDICATOR_SNAPSHOT = Asset("bizenv://mart/indicator_snapshot")
FRESHNESS_DEADLINE = dt.timedelta(hours=12)


@dag(
    dag_id="monthly_indicators",
    dag_display_name=MONTHLY_DISPLAY_NAME,
    schedule=CronDataIntervalTimetable("0 3 1 * *", timezone="Asia/Shanghai"),
    start_date=pendulum.datetime(2024, 1, 1, tz="Asia/Shanghai"),
    catchup=False,
    max_active_runs=1,
    doc_md=__doc__,
    tags=["bizenv", "indicators", "monthly"],
    default_args={
        "owner": "data-platform",
        "retries": 2,
        "retry_delay": dt.timedelta(minutes=5),
        # late data, a missing calendar year, a failed snapshot check: every failure alerts
        "on_failure_callback": FailureAlert(),
    },
)
def monthly_indicators():
    @task.sensor(poke_interval=600, timeout=FRESHNESS_DEADLINE.total_seconds() + 3600, mode="reschedule")
    def wait_for_departments(data_interval_start=None, data_interval_end=None):
        from bizenv.airflow.monthly import freshness_gate

        return freshness_gate(data_interval_start, data_interval_end, FRESHNESS_DEADLINE, alert_warnings=True)

    # the snapshot's writers share the ingest merges' pool (one slot on the embedded DuckDB)
    @task(pool=WAREHOUSE_POOL)
    def compute_snapshot(data_interval_start=None) -> str:
        from bizenv.airflow.monthly import compute_month

        return compute_month(data_interval_start)

    @task(retries=0, pool=WAREHOUSE_POOL)
    def validate_snapshot(snapshot_run_id: str) -> str:
        from bizenv.airflow.monthly import validate_run

        return validate_run(snapshot_run_id)

    @task(outlets=[INDICATOR_SNAPSHOT], pool=WAREHOUSE_POOL)
    def publish_snapshot(snapshot_run_id: str) -> dict:
        from bizenv.airflow.monthly import publish_run

        return publish_run(snapshot_run_id)

    @task
    def write_report(data_interval_start=None) -> dict:
        from bizenv.airflow.monthly import report_month

        return report_month(data_interval_start)

    snapshot_run_id = compute_snapshot()
    wait_for_departments() >> snapshot_run_id
    publish_snapshot(validate_snapshot(snapshot_run_id)) >> write_report()


monthly_indicators()
