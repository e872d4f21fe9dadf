"""Throughput benchmark: `python -m bizenv.benchmark [--entities N] [--rows N] [--defects] [--postgres URL]`.

Measures, on simulated registration rows, (1) standardize + validate (code checks and the
Great Expectations suite) and (2) the merge into core (bulk stage + set-based upsert and
history) on DuckDB and, when a URL is given, PostgreSQL. Prints rows, seconds and rows/s,
and for (1) the seconds of each step. `--rows` above the simulated count repeats the batch
as later snapshots (updated_at + k days, new source_row); `--defects` injects the
simulator's default defect rates instead of none.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import uuid
from pathlib import Path

import pandas as pd
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from bizenv.datasets import REGISTRATION
from bizenv.ingest import _stage_frame, merge_staged
from bizenv.settings import Settings
from bizenv.simulate import DefectRates, simulate
from bizenv.standardize import code_checks, standardize
from bizenv.validate import run_suite
from bizenv.warehouse import make_engine, upgrade


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


def bench_merge(url: str, rows: pd.DataFrame, data_dir: Path) -> float:
    settings = Settings(data_dir=data_dir, warehouse_url=url, landing_root=str(data_dir / "landing"),
                        pii_key_file=data_dir / "pii.key", docs_dir=data_dir / "docs")
    upgrade(settings)
    batch_id = f"bench-{uuid.uuid4().hex[:8]}"
    staged = _stage_frame(REGISTRATION, batch_id, rows, b"benchmark-key")
    engine = make_engine(url)
    started = time.perf_counter()
    with engine.begin() as conn:
        # the production merge transaction: bulk stage, MERGE_STEPS, resolve quarantine, clear stage
        merge_staged(conn, REGISTRATION, batch_id, staged, pd.Timestamp.now().floor("s").to_pydatetime())
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entities", type=int, default=300_000)
    parser.add_argument("--rows", type=int, default=None, help="registration rows (default: one per entity)")
    parser.add_argument("--defects", action="store_true", help="inject the simulator's default defects")
    parser.add_argument("--repeat", type=int, default=3,
                        help="standardize+validate runs; the fastest is reported, the median too")
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
    median = statistics.median(run[0] for run in runs)
    print(f"standardize+validate  rows={rows:>9,}  seconds={seconds:7.2f}  rows/s={rows / seconds:>10,.0f}  "
          f"(fastest of {len(runs)}; median {median:.2f}s = {rows / median:,.0f} rows/s)")
    print("  " + "  ".join(f"{step}={spent:.2f}s" for step, spent in parts.items()))
    if args.defects:
        print("merge not measured with --defects (the defective rows would be quarantined, not merged)")
        return
    hashed_rows = typed.drop_duplicates(["uscc", "updated_at"])
    with tempfile.TemporaryDirectory() as tmp:
        seconds = bench_merge(f"duckdb:///{tmp}/bench.duckdb", hashed_rows, Path(tmp))
        print(f"merge duckdb          rows={len(hashed_rows):>9,}  seconds={seconds:7.2f}  "
              f"rows/s={len(hashed_rows) / seconds:>10,.0f}")
        if args.postgres:
            admin = create_engine(args.postgres, isolation_level="AUTOCOMMIT")
            name = f"bizenv_bench_{uuid.uuid4().hex[:8]}"
            with admin.connect() as conn:
                conn.execute(text(f'create database "{name}"'))
            try:
                url = make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
                seconds = bench_merge(url, hashed_rows, Path(tmp))
                print(f"merge postgresql      rows={len(hashed_rows):>9,}  seconds={seconds:7.2f}  "
                      f"rows/s={len(hashed_rows) / seconds:>10,.0f}")
            finally:
                with admin.connect() as conn:
                    conn.execute(text(f'drop database if exists "{name}" with (force)'))
                admin.dispose()


if __name__ == "__main__":
    main()
