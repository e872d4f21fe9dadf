"""Two Airflow test stacks on one machine share nothing (airflow_stack.py).

These checks are fast; the proof with real stacks is running test_celery_topology.py and
test_backfill.py in two pytest processes at once. Redis (BIZENV_TEST_REDIS_URL) is required.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import redis
from _pytest.outcomes import Failed
from airflow_stack import (
    REDIS_CLAIM_PREFIX,
    REDIS_MARKER,
    REDIS_URL,
    airflow_environment,
    claimed_redis_database,
    free_port,
)


def db_of(url: str) -> int:
    return redis.Redis.from_url(url).connection_pool.connection_kwargs["db"]


def claim_holder(db: int) -> bytes | None:
    claims = redis.Redis.from_url(REDIS_URL)
    try:
        return claims.get(f"{REDIS_CLAIM_PREFIX}{db}")
    finally:
        claims.close()


def test_two_runs_at_once_get_two_databases_and_leave_them_empty():
    base_db = redis.Redis.from_url(REDIS_URL).connection_pool.connection_kwargs.get("db", 0)
    with claimed_redis_database() as first, claimed_redis_database() as second:
        first_db, second_db = db_of(first), db_of(second)
        assert first_db != second_db
        assert base_db not in (first_db, second_db), "the database holding the claims is never a broker"
        assert claim_holder(first_db) and claim_holder(second_db)
        client = redis.Redis.from_url(first)
        client.set("celery-message", "x")
        client.close()
    for db in (first_db, second_db):
        assert claim_holder(db) is None, f"the claim on database {db} outlived the run"
        client = redis.Redis.from_url(first if db == first_db else second)
        assert client.dbsize() == 0, f"database {db} was not flushed after the run"
        client.close()


def test_a_database_holding_someone_elses_data_is_never_taken_nor_flushed():
    with claimed_redis_database() as url:
        db = db_of(url)
        client = redis.Redis.from_url(url)
        # the claim has expired and the database now holds data that is not a test run's leftover
        client.delete(REDIS_MARKER)
        client.set("someone:else", "keep me")
        redis.Redis.from_url(REDIS_URL).delete(f"{REDIS_CLAIM_PREFIX}{db}")
        with pytest.raises(Failed, match="no free Redis database"), claimed_redis_database(candidates=[db]):
            pass
        assert client.get("someone:else") == b"keep me"
        assert claim_holder(db) is None, "the refused database kept a claim"
        client.close()


def test_a_claimed_database_is_not_handed_out_again_until_released():
    with claimed_redis_database() as url:
        db = db_of(url)
        with pytest.raises(Failed, match="no free Redis database"), claimed_redis_database(candidates=[db]):
            pass
        assert claim_holder(db), "a refused second claim must not release the first"
    with claimed_redis_database(candidates=[db]) as again:
        assert db_of(again) == db


def test_each_stack_gets_its_own_secrets_and_ports(tmp_path: Path):
    def environment(name: str) -> dict[str, str]:
        api_port = free_port()
        return airflow_environment(
            airflow_home=tmp_path / name, dags_folder=tmp_path / "dags", metadata_url="postgresql+psycopg://x/a",
            metadata_async_url="postgresql+psycopg_async://x/a", broker_url="redis://127.0.0.1:6379/9",
            api_port=api_port, warehouse_url="duckdb:///w.duckdb", data_dir=tmp_path / "data")

    one, two = environment("one"), environment("two")
    for key in ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW__API__SECRET_KEY",
                "AIRFLOW_HOME", "BIZENV_PII_KEY"):
        assert one[key] != two[key], key
    for env in (one, two):
        assert Path(env["AIRFLOW__DAG_PROCESSOR__DAG_BUNDLE_STORAGE_PATH"]).is_relative_to(env["AIRFLOW_HOME"])
        api_port = env["AIRFLOW__API__BASE_URL"].rsplit(":", 1)[1]
        assert env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] != api_port
        assert env["AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT"] != "8793", "Airflow's default port is shared"
