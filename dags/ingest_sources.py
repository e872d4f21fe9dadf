"""
### 部门数据归集 · department ingest

One DAG per entry of `include/config/sources.yaml` (`ingest_<source>`): extract what changed
since the stored watermark (REST API, department database or file drop), land it as an
immutable raw batch, standardize and validate it (Great Expectations + code checks),
quarantine bad rows with reasons and merge the rest into `core` in one transaction. The
watermark advances only after the merge commits. Its outlet is the core dataset's Asset.

Outages of the source or the warehouse are retried with exponential backoff. Anything else
fails at once: a batch rejected for its content (missing columns, too many bad rows: see
`bizenv quarantine list`), a refused request (HTTP 4xx, a TLS certificate that does not
verify, a missing table), an unwritable directory or a defect. A run is stopped after the
source's `execution_timeout_minutes` (default 120). An invalid entry of `sources.yaml` gets no
DAG and is reported among this file's import warnings; the other sources keep theirs.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.sdk import Asset, dag, task

from bizenv_airflow.dag_config import dataset_asset_uri, department_sources


def build_ingest_dag(source):
    @dag(
        dag_id=f"ingest_{source.name}",
        schedule=source.schedule,
        start_date=pendulum.datetime(2024, 1, 1, tz="Asia/Shanghai"),
        catchup=False,
        max_active_runs=1,
        doc_md=__doc__,
        tags=["bizenv", "ingest", source.dataset, source.kind],
        default_args={
            "owner": "data-platform",
            "retries": 3,
            "retry_delay": dt.timedelta(minutes=2),
            "retry_exponential_backoff": True,
            "max_retry_delay": dt.timedelta(minutes=30),
        },
    )
    def ingest_dag():
        @task(task_id="extract_validate_merge", outlets=[Asset(dataset_asset_uri(source.dataset))],
              execution_timeout=source.execution_timeout)
        def extract_validate_merge() -> list[dict]:
            from bizenv_airflow.ingest import ingest_department_source

            return ingest_department_source(source.name)

        extract_validate_merge()

    return ingest_dag()


for department_source in department_sources():
    build_ingest_dag(department_source)
