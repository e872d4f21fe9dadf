"""
### 部门数据归集 · department ingest

One DAG per entry of `include/config/sources.yaml` (`ingest_<source>`): the three steps of
`bizenv ingest SOURCE` (`bizenv.sources`), then the revision of the open months the delivery
touches (`bizenv.indicators.revisions`):

1. **extract_and_land**: extract what changed since the source's **stored watermark** (REST
   API, department database) or the new files of a file drop, and land each batch as an
   immutable raw Parquet file in the landing zone, recorded in `ops.batch`. Returns the landed
   batch ids. An outage of the source is retried here, from the source.
2. **validate_and_merge**, one mapped task per landed batch (named by its batch id): re-read the
   batch's landing file, standardize and validate it (Great Expectations + code checks),
   quarantine bad rows with reasons and merge the rest into `core` in one transaction. It never
   extracts: a retry, a cleared task or `bizenv reload BATCH_ID` re-processes the landed file.
   Each merged batch emits an event of the core dataset's Asset whose `extra` holds the batch id
   and its counts (extracted = loaded + quarantined + duplicates). Warehouse writers share the
   Airflow pool `bizenv_warehouse` (one slot on the embedded DuckDB warehouse).
3. **advance_watermark**: only once every batch is merged, move the stored watermark to the
   latest change among them.
4. **revise_open_months**: only once every batch is merged, recompute each published month still
   初步 (provisional) that the merged rows' own dates touch, and no other; what changed goes to
   `mart.snapshot_revision` (docs/history.md, "Revisions"). A 正式 (final) month is left as it is.

Ingest follows the **stored watermark** (`ops.watermark`), not the run's data interval: a run
reads whatever changed since the last merged change, so a late, cleared or manual run neither
skips nor re-reads a period, and a backfill of an ingest DAG re-reads nothing old.

Outages of the source or the warehouse are retried with exponential backoff. Anything else
fails at once: a batch rejected for its content (missing columns, too many bad rows: see
`bizenv quarantine list`), a refused request (HTTP 4xx, a TLS certificate that does not
verify, a missing table), an unreadable dropped file (the run fails at its last step, after the
readable files were merged), an unwritable directory or a defect. Each task is stopped after the
source's `execution_timeout_minutes` (default 120). An invalid entry of `sources.yaml` gets no
DAG and is reported among this file's import warnings; the other sources keep theirs.

A task that fails for good (after its retries, or at once) sends an alert through the Connection
`$BIZENV_ALERT_CONN_ID` (default `bizenv_alerts`: e-mail for an `smtp` Connection, a JSON webhook
for `http`/`https`; README, "Alerts"); without that Connection, one warning line in the task log.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import Asset, TriggerRule, dag, task

from bizenv.airflow.dag_config import (
    WAREHOUSE_POOL,
    FailureAlert,
    dataset_asset_uri,
    department_sources,
    ingest_display_names,
    ingest_doc_md,
)


def build_ingest_dag(source, display_name: str):
    asset = Asset(dataset_asset_uri(source.dataset))

    @dag(
        dag_id=f"ingest_{source.name}",
        dag_display_name=display_name,
        schedule=source.schedule,
        start_date=pendulum.datetime(2024, 1, 1, tz="Asia/Shanghai"),
        catchup=False,
        max_active_runs=1,
        doc_md=ingest_doc_md(source, display_name, __doc__),
        tags=["bizenv", "ingest", source.dataset, source.kind],
        default_args={
            "owner": "data-platform",
            "retries": 3,
            "retry_delay": dt.timedelta(minutes=2),
            "retry_exponential_backoff": True,
            "max_retry_delay": dt.timedelta(minutes=30),
            "execution_timeout": source.execution_timeout,
            # a task that fails for good (not a retried attempt) alerts through the alert Connection
            "on_failure_callback": FailureAlert(source.name),
        },
    )
    def ingest_dag():
        @task(task_id="extract_and_land")
        def extract_and_land(*, ti=None) -> list[str]:
            from bizenv.airflow.ingest import extract_and_land

            landed = extract_and_land(source.name)
            # beside the return value, which alone can be mapped over
            ti.xcom_push(key="refusal", value=landed["refusal"])
            return landed["batch_ids"]

        # one instance at a time per run: merges of one dataset wait for each other anyway (the
        # merge lock), so more would only hold pool slots other DAGs' writers need. Late, older
        # rows slot into history, so a batch retried after the next one merges the same.
        @task(task_id="validate_and_merge", outlets=[asset], pool=WAREHOUSE_POOL,
              max_active_tis_per_dagrun=1, map_index_template="{{ task.op_kwargs['batch_id'] }}")
        def validate_and_merge(batch_id: str, *, outlet_events=None) -> dict:
            from bizenv.airflow.ingest import validate_and_merge

            summary = validate_and_merge(batch_id)
            outlet_events[asset].extra = summary
            return summary

        # none_failed: also when no batch was landed (the mapped task is skipped), never after a
        # failed batch
        @task(task_id="advance_watermark", pool=WAREHOUSE_POOL, trigger_rule=TriggerRule.NONE_FAILED)
        def advance_watermark(batch_ids: list[str], refusal: str) -> str | None:
            from bizenv.airflow.ingest import advance_watermark

            return advance_watermark(source.name, batch_ids, refusal)

        # none_failed, like the watermark: after every batch merged, or none was landed
        @task(task_id="revise_open_months", pool=WAREHOUSE_POOL, trigger_rule=TriggerRule.NONE_FAILED)
        def revise_open_months(batch_ids: list[str]) -> list[str]:
            from bizenv.airflow.ingest import revise_open_months

            return revise_open_months(source.name, batch_ids)

        landed = extract_and_land()
        merged = validate_and_merge.expand(batch_id=landed)
        merged >> advance_watermark(landed, landed["refusal"])
        merged >> revise_open_months(landed)

    return ingest_dag()


_sources = department_sources()
_display_names = ingest_display_names(_sources)
for department_source in _sources:
    build_ingest_dag(department_source, _display_names[department_source.name])
