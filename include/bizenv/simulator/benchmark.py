"""Throughput benchmark: `python -m bizenv.simulator.benchmark [--entities N] [--rows N] [--defects] [--postgres URL]`.

Measures, on simulated registration rows:

1. standardize + validate (code checks and the Great Expectations suite), with the seconds
   of each step;
2. preparing the stage frame (personal ID numbers to keyed hash + masked form);
3. the merge into core on DuckDB and, when a URL is given, PostgreSQL, each time into a new
   warehouse: `load` (every entity new) and then `update` (a later version of every entity:
   registration updated, a new SCD2 version, the previous one closed), each one production
   merge transaction (`bizenv.ingest.merge_staged`) including its commit;
4. `bulk write`: only writing the same rows once through the bulk path into the stage table
   and committing. No merge can be faster than that on the same machine, so it shows how much
   of the merge time is the storage engine rather than the merge SQL;
5. `core write`: only writing the rows straight into the three tables a registration merge must
   fill (`core.registration`, every delivered version of it in `core.registration_version`
   (docs/history.md) and the SCD2 history `core.market_entity`, primary keys and indexes as in
   the schema) through the bulk path, and committing: no stage, no merge logic. Any merge design
   that keeps these tables spends at least this.

Every line prints rows, seconds and rows/s of the fastest run and the median. `--rows` above
the simulated count repeats the batch as later snapshots (updated_at + k days, new
source_row); `--defects` injects the simulator's default defect rates instead of none.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bizenv.datasets import REGISTRATION
from bizenv.ingest import _stage_frame, merge_staged
from bizenv.settings import Settings
from bizenv.simulator.simulate import DefectRates, simulate
from bizenv.standardize import code_checks, standardize
from bizenv.validate import run_suite
from bizenv.warehouse import bulk_insert, connect, upgrade


def _registration_rows(entities: int, rows: int | None = None, defects: bool = False) -> pd.DataFrame:
    rates = DefectRates() if defects else DefectRates.none()
    data = simulate(entities=entities, months=("2024-01", "2024-12"), seed=1, defects=rates)
    base = data.registration.copy()
    parts = [base]
    copies = -(-rows // len(base)) if rows else 1
    if copies > 1:
        updated = pd.to_datetime(base["updated_at"], errors="coerce")
        for k in range(1, copies):
            later = base.copy()
            shifted = (updated + pd.Timedelta(days=k)).dt.strftime("%Y-%m-%d %H:%M:%S")
            later["updated_at"] = shifted.where(updated.notna(), base["updated_at"])
            parts.append(later)
    raw = pd.concat(parts, ignore_index=True)
    if rows:
        raw = raw.head(rows).copy()
    raw["source_row"] = range(2, len(raw) + 2)
    return raw


def bench_validate(raw: pd.DataFrame, parts: dict[str, float] | None = None) -> tuple[float, pd.DataFrame]:
    """Seconds for standardize + code checks + the GX suite over `raw` (after a warm-up on 100
    rows that builds the GX context); `parts` receives the seconds of each step."""
    run_suite("registration", standardize(REGISTRATION, raw.head(100)).rows)  # GX context warm-up
    code_checks(REGISTRATION, standardize(REGISTRATION, raw.head(100)).rows)
    started = time.perf_counter()
    typed = standardize(REGISTRATION, raw)
    standardized = time.perf_counter()
    code_checks(REGISTRATION, typed.rows)
    checked = time.perf_counter()
    run_suite("registration", typed.rows)
    finished = time.perf_counter()
    if parts is not None:
        parts.update(
            standardize=standardized - started, code_checks=checked - standardized, gx_suite=finished - checked
        )
    return finished - started, typed.rows


def _scratch_settings(url: str, data_dir: Path) -> Settings:
    return Settings(data_dir=data_dir, warehouse_url=url, landing_root=str(data_dir / "landing"),
                    pii_key_file=data_dir / "pii.key", docs_dir=data_dir / "docs",
                    reports_dir=data_dir / "reports")


def _merge_seconds(engine, staged: pd.DataFrame) -> float:
    """One production merge transaction (bulk stage, MERGE_STEPS, resolve quarantine, clear
    stage, commit), timed."""
    batch_id = str(staged["batch_id"].iloc[0])
    started = time.perf_counter()
    with engine.begin() as conn:
        merge_staged(conn, REGISTRATION, batch_id, staged, pd.Timestamp.now().floor("s").to_pydatetime())
    return time.perf_counter() - started


def bench_merge(url: str, load: pd.DataFrame, update: pd.DataFrame, data_dir: Path) -> tuple[float, float]:
    """Seconds to merge `load` into a freshly migrated warehouse, then `update` (a later version
    of every entity: registration update, new SCD2 version, previous version closed) on top."""
    settings = _scratch_settings(url, data_dir)
    upgrade(settings)
    with connect(settings) as engine:
        seconds = _merge_seconds(engine, load), _merge_seconds(engine, update)
        with engine.connect() as conn:
            versions, current = conn.execute(
                text("select count(*), count(*) filter (where is_current) from core.market_entity")
            ).one()
    expected = (len(load) + len(update), update["uscc"].nunique())
    if (versions, current) != expected:  # a timing of a merge that did not happen is no benchmark
        raise RuntimeError(f"merge benchmark: core.market_entity has {versions} versions, {current} current; "
                           f"expected {expected[0]}, {expected[1]}")
    return seconds


def bench_bulk_write(url: str, staged: pd.DataFrame, data_dir: Path) -> float:
    """Seconds to only write the staged rows once (the bulk path into the stage table, then
    commit): what any merge on this machine must at least spend, since it writes every row."""
    settings = _scratch_settings(url, data_dir)
    upgrade(settings)
    with connect(settings) as engine:
        started = time.perf_counter()
        with engine.begin() as conn:
            bulk_insert(conn, "ops.stage_registration", staged)
        return time.perf_counter() - started


def _core_rows(staged: pd.DataFrame, now: pd.Timestamp) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """The staged rows as they end up in core.registration, core.registration_version and (first
    versions) core.market_entity."""
    registration = staged.drop(columns=["source_row"]).assign(changed_at=now, event_key="")
    versions = registration.assign(superseded_at=pd.Series(pd.NaT, index=registration.index, dtype="datetime64[us]"))
    entity = staged[["uscc", "updated_at", "name", "name_key", "entity_type", "region_code", "industry_code",
                     "status", "status_date", "established_date", "legal_rep_name", "legal_rep_id_hash",
                     "legal_rep_id_masked", "batch_id"]].rename(columns={"updated_at": "valid_from"})
    entity = entity.assign(valid_to=pd.Series(pd.NaT, index=entity.index, dtype="datetime64[us]"),
                           is_current=True, changed_at=now)
    return registration, versions, entity


def bench_core_write(url: str, staged: pd.DataFrame, data_dir: Path) -> float:
    """Seconds to write the staged rows straight into core.registration, core.registration_version
    and core.market_entity through the bulk path and commit, with no stage and no merge logic:
    the floor of any merge that keeps these tables."""
    settings = _scratch_settings(url, data_dir)
    upgrade(settings)
    registration, versions, entity = _core_rows(staged, pd.Timestamp.now().floor("s"))
    with connect(settings) as engine:
        started = time.perf_counter()
        with engine.begin() as conn:
            bulk_insert(conn, "core.registration", registration)
            bulk_insert(conn, "core.registration_version", versions)
            bulk_insert(conn, "core.market_entity", entity)
        return time.perf_counter() - started


@contextmanager
def _scratch_postgres(admin_url: str) -> Iterator[str]:
    """A new, empty PostgreSQL database for one measurement; dropped afterwards."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"bizenv_bench_{uuid.uuid4().hex[:8]}"
    with admin.connect() as conn:
        conn.execute(text(f'create database "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'drop database if exists "{name}" with (force)'))
        admin.dispose()


@contextmanager
def _scratch_duckdb(data_dir: Path) -> Iterator[str]:
    with tempfile.TemporaryDirectory(dir=data_dir) as tmp:
        yield f"duckdb:///{tmp}/bench.duckdb"


def _line(label: str, rows: int, runs: list[float], note: str = "") -> str:
    fastest, median = min(runs), statistics.median(runs)
    spread = f"  (fastest of {len(runs)}; median {median:.2f}s = {rows / median:,.0f} rows/s)" if len(runs) > 1 else ""
    return f"{label:<25}rows={rows:>9,}  seconds={fastest:7.2f}  rows/s={rows / fastest:>10,.0f}{spread}{note}"


MERGE_TARGETS = {"duckdb": 300_000, "postgresql": 100_000}  # registration rows/s (issue: unified platform)


def _measure_warehouse(kind: str, scratch, load: pd.DataFrame, update: pd.DataFrame, repeat: int) -> None:
    loads, updates, writes, core_writes = [], [], [], []
    for _ in range(repeat):
        with scratch() as url, tempfile.TemporaryDirectory() as tmp:
            first, second = bench_merge(url, load, update, Path(tmp))
            loads.append(first)
            updates.append(second)
        with scratch() as url, tempfile.TemporaryDirectory() as tmp:
            writes.append(bench_bulk_write(url, load, Path(tmp)))
        with scratch() as url, tempfile.TemporaryDirectory() as tmp:
            core_writes.append(bench_core_write(url, load, Path(tmp)))
    target = f"  target {MERGE_TARGETS[kind]:,}"
    print(_line(f"merge {kind} load", len(load), loads, target))
    print(_line(f"merge {kind} update", len(update), updates, target))
    print(_line(f"bulk write {kind}", len(load), writes, "  (stage rows + commit only; no merge)"))
    print(_line(f"core write {kind}", len(load), core_writes,
                "  (the three core tables written straight, + commit; no stage, no merge)"))
    floor = min(core_writes)
    print(f"merge vs core-write floor {kind}: load {floor / min(loads):.2f}x  update {floor / min(updates):.2f}x  "
          "(floor seconds / merge seconds; 1 = the merge costs no more than writing its rows)")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entities", type=int, default=300_000)
    parser.add_argument("--rows", type=int, default=None, help="registration rows (default: one per entity)")
    parser.add_argument("--defects", action="store_true", help="inject the simulator's default defects")
    parser.add_argument("--repeat", type=int, default=3,
                        help="standardize+validate runs; the fastest is reported, the median too")
    parser.add_argument("--merge-repeat", type=int, default=3,
                        help="merge runs per warehouse, each into a new one; the fastest is reported, the median too")
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="admin URL; a scratch database is created and dropped ('' to skip)")
    args = parser.parse_args(argv)

    raw = _registration_rows(args.entities, args.rows, args.defects)
    rows = len(raw)
    runs = []
    for _ in range(max(args.repeat, 1)):
        parts: dict[str, float] = {}
        seconds, typed = bench_validate(raw, parts)
        runs.append((seconds, parts))
    seconds, parts = min(runs, key=lambda run: run[0])
    print(_line("standardize+validate", rows, [run[0] for run in runs]))
    print("  " + "  ".join(f"{step}={spent:.2f}s" for step, spent in parts.items()))
    if args.defects:
        print("merge not measured with --defects (the defective rows would be quarantined, not merged)")
        return
    merged = typed.drop_duplicates(["uscc", "updated_at"])
    later = merged.assign(updated_at=merged["updated_at"] + pd.Timedelta(days=400))
    prepared = []
    for _ in range(max(args.repeat, 1)):
        started = time.perf_counter()
        load = _stage_frame(REGISTRATION, f"bench-load-{uuid.uuid4().hex[:8]}", merged, b"benchmark-key")
        prepared.append(time.perf_counter() - started)
    update = _stage_frame(REGISTRATION, f"bench-update-{uuid.uuid4().hex[:8]}", later, b"benchmark-key")
    print(_line("prepare stage", len(load), prepared, "  (personal IDs to keyed hash + mask)"))
    repeat = max(args.merge_repeat, 1)
    with tempfile.TemporaryDirectory() as data_dir:
        _measure_warehouse("duckdb", lambda: _scratch_duckdb(Path(data_dir)), load, update, repeat)
    if args.postgres:
        _measure_warehouse("postgresql", lambda: _scratch_postgres(args.postgres), load, update, repeat)


if __name__ == "__main__":
    main()
    # as `bizenv.cli.run`: DuckDB's bindings report spurious leaks at interpreter shutdown once
    # Great Expectations is loaded; everything is printed and no warehouse is open by now
    sys.stdout.flush()
    os._exit(0)
