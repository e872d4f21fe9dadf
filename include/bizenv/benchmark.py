"""Throughput benchmark: `python -m bizenv.benchmark [--entities N] [--postgres URL]`.

Measures, on simulated registration rows, (1) standardize + validate (code checks and the
Great Expectations suite) and (2) the merge into core (bulk stage + set-based upsert and
history) on DuckDB and, when a URL is given, PostgreSQL. Prints rows, seconds and rows/s.
"""

from __future__ import annotations

import argparse
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


def _registration_rows(entities: int) -> pd.DataFrame:
    data = simulate(entities=entities, months=("2024-01", "2024-12"), seed=1, defects=DefectRates.none())
    raw = data.registration.copy()
    raw["source_row"] = range(2, len(raw) + 2)
    return raw


def bench_validate(raw: pd.DataFrame) -> tuple[float, pd.DataFrame]:
    run_suite("registration", standardize(REGISTRATION, raw.head(100)).rows)  # GX context warm-up
    started = time.perf_counter()
    typed = standardize(REGISTRATION, raw)
    code_checks(REGISTRATION, typed.rows)
    run_suite("registration", typed.rows)
    return time.perf_counter() - started, typed.rows


def bench_merge(url: str, rows: pd.DataFrame, data_dir: Path) -> float:
    settings = Settings(data_dir=data_dir, warehouse_url=url, landing_root=str(data_dir / "landing"),
                        pii_key_file=data_dir / "pii.key", docs_dir=data_dir / "docs")
    upgrade(settings)
    batch_id = f"bench-{uuid.uuid4().hex[:8]}"
    staged = _stage_frame(REGISTRATION, batch_id, rows, b"benchmark-key")
    engine = make_engine(url)
    started = time.perf_counter()
    with engine.begin() as conn:
        # the production merge transaction: bulk stage, count, MERGE_STEPS, resolve, clear stage
        merge_staged(conn, REGISTRATION, batch_id, staged, pd.Timestamp.now().floor("s").to_pydatetime())
    elapsed = time.perf_counter() - started
    engine.dispose()
    return elapsed


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--entities", type=int, default=300_000)
    parser.add_argument("--postgres", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres",
                        help="admin URL; a scratch database is created and dropped ('' to skip)")
    args = parser.parse_args(argv)

    raw = _registration_rows(args.entities)
    rows = len(raw)
    seconds, typed = bench_validate(raw)
    print(f"standardize+validate  rows={rows:>9,}  seconds={seconds:7.2f}  rows/s={rows / seconds:>10,.0f}")
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
