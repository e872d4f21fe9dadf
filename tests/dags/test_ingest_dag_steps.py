"""The shape of every ingest DAG: extract_and_land → validate_and_merge mapped over the landed
batch ids → advance_watermark and revise_open_months, warehouse writers in the shared pool, the
Asset on the merge."""

from __future__ import annotations

import pytest

from bizenv.airflow.dag_config import WAREHOUSE_POOL, dataset_asset_uri
from bizenv.sources.config import load_sources
from conftest import PROJECT_ROOT

INGEST_FILE = str(PROJECT_ROOT / "dags" / "ingest_sources.py")


@pytest.fixture(scope="module")
def ingest_dags():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=INGEST_FILE)
    assert bag.import_errors == {}
    dags = {name: bag.dags[f"ingest_{name}"] for name in load_sources()}
    assert {source.kind for source in load_sources().values()} == {"http", "database", "file_drop"}
    return dags


def test_three_steps_in_order(ingest_dags):
    for name, dag in ingest_dags.items():
        tasks = dag.task_dict
        assert set(tasks) == {"extract_and_land", "validate_and_merge", "advance_watermark",
                              "revise_open_months"}, name
        assert tasks["extract_and_land"].upstream_task_ids == set()
        assert tasks["validate_and_merge"].upstream_task_ids == {"extract_and_land"}
        assert tasks["advance_watermark"].upstream_task_ids == {"extract_and_land", "validate_and_merge"}
        # the open months are recomputed from the landed batch ids once every batch merged
        assert tasks["revise_open_months"].upstream_task_ids == {"extract_and_land", "validate_and_merge"}


def test_validate_and_merge_is_mapped_over_the_landed_batch_ids(ingest_dags):
    from airflow.sdk.definitions.mappedoperator import MappedOperator

    for dag in ingest_dags.values():
        merge = dag.task_dict["validate_and_merge"]
        assert isinstance(merge, MappedOperator)
        [(argument, source)] = merge.op_kwargs_expand_input.value.items()
        assert argument == "batch_id"
        assert (source.operator.task_id, source.key) == ("extract_and_land", "return_value")
        assert merge.map_index_template == "{{ task.op_kwargs['batch_id'] }}"  # the UI names each batch
        assert merge.max_active_tis_per_dagrun == 1
        for task_id in ("extract_and_land", "advance_watermark", "revise_open_months"):
            assert not isinstance(dag.task_dict[task_id], MappedOperator)


def test_warehouse_writers_share_the_pool_and_extraction_holds_no_slot(ingest_dags):
    for dag in ingest_dags.values():
        assert dag.task_dict["validate_and_merge"].pool == WAREHOUSE_POOL
        assert dag.task_dict["advance_watermark"].pool == WAREHOUSE_POOL
        assert dag.task_dict["revise_open_months"].pool == WAREHOUSE_POOL
        assert dag.task_dict["extract_and_land"].pool != WAREHOUSE_POOL


def test_only_the_merge_emits_the_core_asset_and_the_watermark_waits_for_every_batch(ingest_dags):
    for name, dag in ingest_dags.items():
        dataset = load_sources()[name].dataset
        assert [a.uri for a in dag.task_dict["validate_and_merge"].outlets] == [dataset_asset_uri(dataset)]
        for task_id in ("extract_and_land", "advance_watermark", "revise_open_months"):
            assert not dag.task_dict[task_id].outlets, task_id
        # a failed batch stops the watermark and the revision; no landed batch (a skipped mapped
        # task) does not
        assert dag.task_dict["advance_watermark"].trigger_rule == "none_failed"
        assert dag.task_dict["revise_open_months"].trigger_rule == "none_failed"
        assert dag.task_dict["extract_and_land"].retries > 0  # outages are retried from the source
        assert dag.task_dict["validate_and_merge"].retries > 0  # ... and from the landing file


def test_doc_says_ingest_follows_the_stored_watermark(ingest_dags):
    for dag in ingest_dags.values():
        assert "stored watermark" in dag.doc_md and "not the run's data interval" in dag.doc_md


def test_the_monthly_snapshot_writers_share_the_warehouse_pool():
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags" / "monthly_indicators.py"))
    assert bag.import_errors == {}
    dag = bag.dags["monthly_indicators"]
    for task_id in ("compute_snapshot", "validate_snapshot", "publish_snapshot"):
        assert dag.task_dict[task_id].pool == WAREHOUSE_POOL
    assert dag.task_dict["wait_for_departments"].pool != WAREHOUSE_POOL
