"""The read-only copy of the mart that every publish writes on the embedded warehouse
(docs/dashboard-contract.md, "Connecting"): a dashboard reads it while an ingest in another
process holds the warehouse file, it holds the warehouse's rows, it is private, and the next
publish replaces it atomically (a reader of the old copy keeps the old copy)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time

import duckdb
import pandas as pd
import pytest
from sqlalchemy import text
from test_indicators import seed_core

from bizenv import codes, indicators
from bizenv.datasets import REGISTRATION
from bizenv.marts import PublishedCopyError, mart_relations
from bizenv.warehouse import make_engine

ORDER = "order by month, region_code, indicator_code, breakdown"
ROWS = 20_000  # enough for the ingest to hold the warehouse for seconds


def _warehouse_rows(settings, relation: str) -> list[tuple]:
    engine = make_engine(settings.warehouse_url)
    try:
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text(f"select * from {relation} {ORDER}"))]
    finally:
        engine.dispose()


def _copy_rows(reader, relation: str) -> list[tuple]:
    return reader.execute(f"select * from {relation} {ORDER}").fetchall()


def _held_by_another_process(path) -> bool:
    try:
        duckdb.connect(str(path), read_only=True).close()
    except duckdb.IOException as error:
        return "lock" in str(error).lower()
    return False


def _big_registration_file(path) -> None:
    names = {c.name: c.header_zh for c in REGISTRATION.columns}
    frame = pd.DataFrame({
        names["uscc"]: [codes.make_uscc("91", "152921", f"MB{n:06d}") for n in range(ROWS)],
        names["name"]: [f"批量{n}有限公司" for n in range(ROWS)],
        names["entity_type"]: "企业",
        names["region_code"]: "152921",
        names["established_date"]: "2024-07-01",
        names["status"]: "存续",
        names["updated_at"]: "2024-07-01 10:00:00",
    })
    frame.to_csv(path, index=False, encoding="utf-8")


def test_the_copy_is_read_while_an_ingest_holds_the_warehouse_and_replaced_by_the_next_publish(
        duckdb_settings, tmp_path) -> None:
    engine = make_engine(duckdb_settings.warehouse_url)
    try:
        seed_core(engine)
        indicators.compute_snapshot(engine, "2024-05")
        indicators.compute_snapshot(engine, "2024-06")
    finally:
        engine.dispose()
    copy = duckdb_settings.data_dir / "published" / "mart.duckdb"
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert sorted(p.name for p in copy.parent.iterdir()) == ["mart.duckdb"]  # no temporary file left
    latest = _warehouse_rows(duckdb_settings, "mart.v_indicator_latest")
    trend = _warehouse_rows(duckdb_settings, "mart.v_indicator_trend")
    assert {r[0].isoformat() for r in trend} == {"2024-05-01", "2024-06-01"}

    drop = tmp_path / "big.csv"
    _big_registration_file(drop)
    env = {**os.environ, "BIZENV_DATA_DIR": str(duckdb_settings.data_dir),
           "BIZENV_WAREHOUSE_URL": duckdb_settings.warehouse_url,
           "BIZENV_LANDING_ROOT": duckdb_settings.landing_root}
    ingest = subprocess.Popen([sys.executable, "-m", "bizenv.cli", "ingest-file", "registration", str(drop)],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    warehouse = duckdb_settings.data_dir / "warehouse.duckdb"
    try:
        deadline = time.monotonic() + 90
        while not _held_by_another_process(warehouse):
            assert ingest.poll() is None and time.monotonic() < deadline, "the ingest never opened the warehouse"
            time.sleep(0.02)
        reader = duckdb.connect(str(copy), read_only=True)
        try:
            assert _copy_rows(reader, "mart.v_indicator_latest") == latest
            assert _copy_rows(reader, "mart.v_indicator_trend") == trend
            tables = {r[0] for r in reader.execute("select table_name from duckdb_tables()").fetchall()}
        finally:
            reader.close()
        assert _held_by_another_process(warehouse), "the ingest ended before the copy was read"
        _, err = ingest.communicate(timeout=300)
    finally:
        if ingest.poll() is None:
            ingest.kill()
            ingest.wait()
    assert ingest.returncode == 0, err
    assert tables == {relation.split(".")[1] for relation in mart_relations()}

    old_reader = duckdb.connect(str(copy), read_only=True)  # opened before the next publish
    try:
        engine = make_engine(duckdb_settings.warehouse_url)
        try:
            second = indicators.compute_snapshot(engine, "2024-06")
        finally:
            engine.dispose()
        assert second.run_id == "2024-06-v2"
        # the file it opened stays whole and as it was (DuckDB shares one open database per path
        # within a process, so the new copy is opened once the old reader is closed)
        assert {r[0] for r in old_reader.execute(
            "select run_id from mart.v_indicator_trend where month = date '2024-06-01'").fetchall()} == {
            "2024-06-v1"}
    finally:
        old_reader.close()
    with duckdb.connect(str(copy), read_only=True) as reader:
        assert _copy_rows(reader, "mart.v_indicator_latest") == _warehouse_rows(
            duckdb_settings, "mart.v_indicator_latest")
        assert {r[0] for r in reader.execute(
            "select run_id from mart.v_indicator_trend where month = date '2024-06-01'").fetchall()} == {
            "2024-06-v2"}
        profiles = reader.execute("select count(*) from mart.v_enterprise_profile").fetchone()[0]
    assert profiles == 14 + ROWS  # the seeded entities and the ingested ones, as of this publish
    assert stat.S_IMODE(copy.stat().st_mode) == 0o600
    assert sorted(p.name for p in copy.parent.iterdir()) == ["mart.duckdb"]


def test_a_copy_that_cannot_be_written_leaves_the_run_to_be_published_again(duckdb_settings, tmp_path) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("", encoding="utf-8")
    engine = make_engine(duckdb_settings.warehouse_url)
    try:
        seed_core(engine)
        run = indicators.compute(engine, "2024-06")
        indicators.validate_snapshot(engine, run.run_id)
        with pytest.raises(PublishedCopyError) as refused:
            indicators.publish(engine, run.run_id, published_copy=blocker / "mart.duckdb")
        with engine.connect() as conn:
            status = conn.execute(text("select status from ops.snapshot_run where run_id = :r"),
                                  {"r": run.run_id}).scalar_one()
        assert status == "validated"
        assert indicators.publish(engine, run.run_id).status == "published"
    finally:
        engine.dispose()
    message = str(refused.value)
    assert "\n" not in message and str(blocker / "mart.duckdb") in message and "stays validated" in message
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []
    with duckdb.connect(str(duckdb_settings.data_dir / "published" / "mart.duckdb"), read_only=True) as reader:
        assert reader.execute("select distinct run_id from mart.v_indicator_latest").fetchall() == [(run.run_id,)]
