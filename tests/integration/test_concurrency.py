"""Concurrent deliveries end exactly as if loaded one after the other (docs/security.md).

Two real OS processes run `bizenv ingest-file` at the same moment against one warehouse. On
PostgreSQL they meet again after validation, so both merge transactions overlap: without the
per-dataset advisory lock both write versions that overlap (month-end stocks double) or both
insert one new USCC (one fails on registration_pkey). On DuckDB the second process waits for
the file instead of failing at once.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from sqlalchemy import text

from bizenv.indicators import compute_snapshot, show
from bizenv.ingest import ingest_file
from bizenv.settings import Settings
from bizenv.simulator.simulate import CHINESE_HEADERS, DefectRates, simulate
from bizenv.warehouse import DUCKDB_LOCK_WAIT_ENV, make_engine
from conftest import POSTGRES_ADMIN_URL, make_settings

ENTITIES = 20_000
NEWEST, FEBRUARY, APRIL = "2024-06-28 10:00:00", "2024-02-10 10:00:00", "2024-04-10 10:00:00"
MONTHS_BETWEEN = ("2024-02", "2024-03", "2024-04", "2024-05")

# A child process: imports everything first, then meets its peer at the barrier (at the start,
# or, with "merge", once its batch is validated, right before the merge transaction), then runs
# the `bizenv ingest-file` command line.
CHILD = r"""
import os, sys, time
from pathlib import Path

barrier, name, point, dataset, path = Path(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]

def meet_peer():
    (barrier / f"{name}.ready").touch()
    deadline = time.monotonic() + 120
    while len(list(barrier.glob("*.ready"))) < 2:
        if time.monotonic() > deadline:
            sys.exit(f"{name}: the other process never reached the barrier")
        time.sleep(0.002)

from bizenv import ingest
from bizenv.cli import main

if point == "merge":
    validate = ingest.run_suite
    def validate_then_meet(*args, **kwargs):
        outcome = validate(*args, **kwargs)
        meet_peer()
        return outcome
    ingest.run_suite = validate_then_meet
else:
    meet_peer()
code = main(["ingest-file", dataset, path, "--max-bad-share", "0"])
sys.stdout.flush()
sys.stderr.flush()
os._exit(code)
"""


def child_env(settings: Settings, **extra: str) -> dict[str, str]:
    return {**os.environ, "BIZENV_DATA_DIR": str(settings.data_dir),
            "BIZENV_WAREHOUSE_URL": settings.warehouse_url, **extra}


def race(settings: Settings, barrier: Path, files: list[Path], *, point: str,
         dataset: str = "registration", **env: str) -> list[subprocess.CompletedProcess]:
    """Run one `bizenv ingest-file` per file, each in its own process, released together."""
    barrier.mkdir()
    processes = [
        subprocess.Popen([sys.executable, "-c", CHILD, str(barrier), f"p{i}", point, dataset, str(path)],
                         env=child_env(settings, **env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for i, path in enumerate(files)
    ]
    results = []
    for process in processes:
        out, err = process.communicate(timeout=600)
        results.append(subprocess.CompletedProcess(process.args, process.returncode, out, err))
    return results


def write_registration(frame: pd.DataFrame, path: Path) -> Path:
    headers = CHINESE_HEADERS["registration"]
    frame[list(headers)].rename(columns=headers).to_csv(path, index=False, encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def deliveries(tmp_path_factory) -> dict[str, Path]:
    """20,000 entities: their current state (the newest version, loaded first), and two older
    states of all of them delivered late, out of order (February and April)."""
    data = simulate(entities=ENTITIES, months=("2023-07", "2023-12"), seed=11, defects=DefectRates.none())
    out = tmp_path_factory.mktemp("deliveries")
    registration = data.registration
    credit_headers = CHINESE_HEADERS["credit_record"]
    data.credit_record[list(credit_headers)].rename(columns=credit_headers).to_csv(
        out / "credit.csv", index=False, encoding="utf-8")
    # in February every entity was still alive; by April the exits known today had happened
    february = registration.assign(updated_at=FEBRUARY, status="存续", status_date="")
    return {
        "credit": out / "credit.csv",
        "newest": write_registration(registration.assign(updated_at=NEWEST), out / "newest.csv"),
        "february": write_registration(february, out / "february.csv"),
        "april": write_registration(registration.assign(updated_at=APRIL), out / "april.csv"),
    }


def sibling_settings(settings: Settings, tmp_path: Path, postgres_database_factory) -> Settings:
    """A second, fresh warehouse of the same kind for the sequential reference."""
    if settings.warehouse_url.startswith("duckdb"):
        url = f"duckdb:///{tmp_path / 'sequential' / 'data' / 'warehouse.duckdb'}"
    else:
        url = postgres_database_factory()
    from bizenv.warehouse import upgrade

    sequential = make_settings(tmp_path / "sequential", url)
    upgrade(sequential)
    return sequential


@pytest.fixture
def postgres_database_factory():
    """Fresh PostgreSQL databases, dropped afterwards."""
    import uuid

    from sqlalchemy import create_engine
    from sqlalchemy.engine import make_url

    admin = create_engine(POSTGRES_ADMIN_URL, isolation_level="AUTOCOMMIT")
    created: list[str] = []

    def create() -> str:
        name = f"bizenv_test_{uuid.uuid4().hex[:12]}"
        with admin.connect() as conn:
            conn.execute(text(f'create database "{name}"'))
        created.append(name)
        return make_url(POSTGRES_ADMIN_URL).set(database=name).render_as_string(hide_password=False)

    yield create
    if created:
        with admin.connect() as conn:
            for name in created:
                conn.execute(text(f'drop database if exists "{name}" with (force)'))
    admin.dispose()


def versions(settings: Settings) -> pd.DataFrame:
    engine = make_engine(settings.warehouse_url)
    with engine.connect() as conn:
        frame = pd.read_sql(text("select uscc, valid_from, valid_to, is_current, status, region_code "
                                 "from core.market_entity order by uscc, valid_from"), conn)
    engine.dispose()
    return frame.reset_index(drop=True)


def snapshots(settings: Settings) -> pd.DataFrame:
    engine = make_engine(settings.warehouse_url)
    frames = []
    for month in MONTHS_BETWEEN:
        compute_snapshot(engine, month)
        frames.append(show(engine, month))
    engine.dispose()
    compared = ["month", "region_code", "indicator_code", "breakdown", "value", "numerator", "denominator",
                "sample_size", "meets_target", "within_limit_share", "p90_value", "backlog_open"]
    return (pd.concat(frames, ignore_index=True)[compared]
            .sort_values(["month", "region_code", "indicator_code", "breakdown"]).reset_index(drop=True))


def overlapping_versions(frame: pd.DataFrame) -> int:
    """Versions that begin before the previous version of their entity ends (or while it is
    still open)."""
    ordered = frame.sort_values(["uscc", "valid_from"])
    previous_end = ordered.groupby("uscc")["valid_to"].shift()
    previous_exists = ordered.groupby("uscc").cumcount() > 0
    return int((previous_exists & (previous_end.isna() | (previous_end > ordered["valid_from"]))).sum())


def test_two_late_deliveries_raced_end_as_if_loaded_one_after_the_other(
        warehouse_settings, deliveries, tmp_path, postgres_database_factory):
    started = time.monotonic()
    raced = warehouse_settings
    for name in ("credit", "newest"):
        ingest_file(raced, "credit_record" if name == "credit" else "registration", deliveries[name])
    # PostgreSQL: both merge transactions start together. DuckDB: both processes start together,
    # and the second waits for the first's file lock.
    point = "start" if raced.warehouse_url.startswith("duckdb") else "merge"
    results = race(raced, tmp_path / "barrier", [deliveries["february"], deliveries["april"]], point=point)
    for result in results:
        assert result.returncode == 0, result.stderr
    raced_at = time.monotonic()

    sequential = sibling_settings(raced, tmp_path, postgres_database_factory)
    for name in ("credit", "newest", "february", "april"):
        ingest_file(sequential, "credit_record" if name == "credit" else "registration", deliveries[name])

    raced_versions, sequential_versions = versions(raced), versions(sequential)
    assert len(raced_versions) == 3 * ENTITIES
    assert overlapping_versions(raced_versions) == 0
    pd.testing.assert_frame_equal(raced_versions, sequential_versions)
    raced_snapshots, sequential_snapshots = snapshots(raced), snapshots(sequential)
    assert set(raced_snapshots["indicator_code"]) >= {"surviving_entities", "dishonest_share", "fulfilment_share"}
    pd.testing.assert_frame_equal(raced_snapshots, sequential_snapshots)
    print(f"\nrace {raced_at - started:.1f} s, whole test {time.monotonic() - started:.1f} s")


def test_two_deliveries_sharing_new_usccs_both_load(warehouse_settings, tmp_path):
    data = simulate(entities=3_000, months=("2023-07", "2023-12"), seed=5, defects=DefectRates.none())
    registration = data.registration
    # entities 1,000-1,999 are new to the warehouse and in both deliveries, in two states
    first = write_registration(registration.iloc[:2_000].assign(updated_at="2024-05-02 09:00:00"),
                               tmp_path / "first.csv")
    second = write_registration(registration.iloc[1_000:].assign(updated_at="2024-05-03 09:00:00"),
                                tmp_path / "second.csv")
    point = "start" if warehouse_settings.warehouse_url.startswith("duckdb") else "merge"
    results = race(warehouse_settings, tmp_path / "barrier", [first, second], point=point)
    for result in results:
        assert result.returncode == 0, result.stderr
    assert "registration_pkey" not in "".join(r.stderr for r in results)
    engine = make_engine(warehouse_settings.warehouse_url)
    with engine.connect() as conn:
        entities = conn.execute(text("select count(*), count(distinct uscc), max(updated_at) "
                                     "from core.registration")).one()
        batches = conn.execute(text("select extracted, loaded, quarantined, duplicates, status "
                                    "from ops.batch")).all()
    engine.dispose()
    assert tuple(entities[:2]) == (3_000, 3_000)
    assert all(b.status == "loaded" and b.extracted == b.loaded + b.quarantined + b.duplicates for b in batches)
    assert sum(b.loaded for b in batches) == 4_000
    frame = versions(warehouse_settings)
    assert len(frame) == 4_000 and overlapping_versions(frame) == 0
    assert frame.groupby("uscc")["is_current"].sum().eq(1).all()


HOLDER = r"""
import sys, time
from pathlib import Path
from sqlalchemy import text
from bizenv.warehouse import make_engine

engine = make_engine(sys.argv[1])
with engine.connect() as conn:
    conn.execute(text("select count(*) from ops.batch")).scalar()
    Path(sys.argv[2]).touch()
    time.sleep(float(sys.argv[3]))
engine.dispose()
"""


def hold_warehouse(settings: Settings, ready: Path, seconds: float) -> subprocess.Popen:
    """Another process with the embedded warehouse open (as an ingest has) for `seconds`."""
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, settings.warehouse_url, str(ready), str(seconds)],
                              env=child_env(settings))
    deadline = time.monotonic() + 60
    while not ready.exists():
        assert holder.poll() is None and time.monotonic() < deadline, "the holder never opened the warehouse"
        time.sleep(0.01)
    return holder


def compute_command(settings: Settings, wait: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "bizenv.cli", "indicators", "compute", "--month", "2024-06"],
                          env=child_env(settings, **{DUCKDB_LOCK_WAIT_ENV: wait}), capture_output=True,
                          text=True, timeout=300)


def test_indicators_compute_waits_for_the_process_holding_the_duckdb_file(duckdb_settings, tmp_path):
    holder = hold_warehouse(duckdb_settings, tmp_path / "ready", 4)
    started = time.monotonic()
    result = compute_command(duckdb_settings, "120")
    holder.wait(timeout=60)
    assert result.returncode == 0, result.stderr
    assert '"status": "published"' in result.stdout
    assert time.monotonic() - started > 2  # it did wait for the holder


def test_a_bounded_wait_for_the_duckdb_file_ends_with_one_line(duckdb_settings, tmp_path):
    holder = hold_warehouse(duckdb_settings, tmp_path / "ready", 30)
    try:
        started = time.monotonic()
        result = compute_command(duckdb_settings, "1.5")
        elapsed = time.monotonic() - started
    finally:
        holder.kill()
        holder.wait()
    path = duckdb_settings.warehouse_url.removeprefix("duckdb:///")
    assert result.returncode == 1
    assert result.stderr.count("\n") == 1, result.stderr
    assert result.stderr.startswith(f"error: warehouse file {path} is in use by another process; gave up after "
                                    f"waiting 1.5 s ({DUCKDB_LOCK_WAIT_ENV})"), result.stderr
    assert 1.5 <= elapsed < 25
