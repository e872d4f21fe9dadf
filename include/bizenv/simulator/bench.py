"""`bizenv bench`: what a user runs, timed from process start to exit, beside what they would use instead.

One command from a fresh clone (docs/performance.md has the figures and what they mean):

1. simulate `--entities N` over `--months M` ending at `--month` (clean data, seed 1) and write the
   four department files as departments send them (registration and real-estate cases in GB18030,
   `bizenv.simulator.simulate.write_files`) into a temporary directory;
2. per warehouse (a new DuckDB file; a new PostgreSQL database named with a random suffix, dropped
   at the end), each step as its own child process, measured alone: wall seconds from the fork to
   the exit and the peak resident set size of that process (forked by a bare launcher interpreter,
   `_LAUNCHER`, whose `os.wait4` returns the child's own rusage):
   - `fixed cost`: a child that only imports what an ingest task imports (the CLI, the ingest
     module, Great Expectations, the warehouse's driver) and exits;
   - `ingest_<dataset>`: the whole `bizenv ingest-file DATASET FILE`, one per dataset, in the
     order registration, tax_filing, credit_record, real_estate_case;
   - `registration_read|land|standardize|validate|merge`: the same registration ingest
     (`bizenv.ingest.ingest_file`, the production code path, nothing re-implemented) in one more
     child into a second new warehouse, with timers around the functions it calls, summed over
     the batch's chunks: read (`iter_department_file`, the checksum), land (the Parquet write and
     its read back), standardize, validate (legacy-code lookup, code checks, the Great
     Expectations suite, Data Docs), merge (personal-ID hashing of the stage frame, the COPY of
     stage and quarantine rows, `merge_stage`, and the commit of that transaction). The stages
     take turns chunk by chunk; a stage's peak_rss_mb is the process's high-water mark when it
     last ran;
   - `indicators`: `bizenv indicators compute --month` (killed and recorded as timed out after
     `--stage-timeout` seconds, the report then not run); `report`: `bizenv report --month`;
3. baselines on the same registration file (measured first, right after simulating, so that
   their figures stand if a later step fails), each in its own child, into its own new PostgreSQL
   database: `pandas.read_csv(dtype=str)` + `DataFrame.to_sql` with pandas' default method (no
   `method`, no `chunksize`: what most user scripts write) into a new table without index or key,
   and a raw `COPY ... FROM STDIN (format csv, header, encoding 'GB18030')` of the file bytes
   through psycopg into an unindexed table of text columns.

`ratio_vs_to_sql` = to_sql seconds / seconds of `bizenv ingest-file registration` on PostgreSQL
(above 1: bizenv is faster), `ratio_vs_copy` = COPY seconds / the same. `--json FILE` writes every
figure, also those measured before a step failed (with the failure under `error`). The children
are started as `python -m bizenv.simulator.bench --child ...`; this module imports only the
standard library at module level so that those children load nothing more than their step needs.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path

from bizenv.errors import Refused

DATASET_ORDER = ("registration", "tax_filing", "credit_record", "real_estate_case")
BREAKDOWN = ("read", "land", "standardize", "validate", "merge")
DEFAULT_POSTGRES = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
TO_SQL_METHOD = "pandas default (method=None, chunksize=None: SQLAlchemy insertmanyvalues batches)"
SEED = 1


def default_postgres_url() -> str:
    return os.environ.get("BIZENV_TEST_POSTGRES_URL", DEFAULT_POSTGRES)


# ---------------------------------------------------------------------------------------------
# Measuring one child process


def _bizenv() -> list[str]:
    """The `bizenv` console script users run, beside this interpreter (else the module)."""
    script = Path(sys.executable).with_name("bizenv")
    return [str(script)] if script.exists() else [sys.executable, "-m", "bizenv.cli"]


def _child(*args: str) -> list[str]:
    return [sys.executable, "-m", "bizenv.simulator.bench", "--child", *args]


# Linux keeps a process's peak RSS across exec, and a forked child starts from its parent's: a
# child forked by this process (pandas loaded through the CLI: about 140 MB) would report at least
# that. So each measured command is forked by this launcher instead, a bare interpreter of a few MB,
# which times it from the fork to its exit and reads its own rusage from wait4.
_LAUNCHER = """
import json, os, signal, sys, time
report, timeout, argv = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
timed_out = []
started = time.perf_counter()
pid = os.fork()
if pid == 0:
    try:
        os.execv(argv[0], argv)
    finally:
        os._exit(127)

def stop(*_):
    timed_out.append(True)
    os.kill(pid, signal.SIGKILL)

signal.signal(signal.SIGALRM, stop)
signal.alarm(timeout)
_, status, usage = os.wait4(pid, 0)
seconds = time.perf_counter() - started
code = os.waitstatus_to_exitcode(status)
with open(report, "w") as handle:
    json.dump({"seconds": seconds, "maxrss_kib": usage.ru_maxrss, "exit": code, "timed_out": bool(timed_out)},
              handle)
sys.exit(0 if code == 0 else 1)
"""


class StageTimedOut(Refused, RuntimeError):
    """A measured process ran longer than --stage-timeout and was killed; its seconds are a lower bound."""

    def __init__(self, label: str, seconds: float, peak_rss_mb: float) -> None:
        super().__init__(f"bench step {label} did not finish within {seconds:.0f} s (killed)")
        self.seconds, self.peak_rss_mb = seconds, peak_rss_mb


def run_measured(label: str, argv: list[str], env: dict[str, str], logs: Path,
                 timeout: int = 0) -> tuple[float, float, str]:
    """Run `argv` alone and wait for it: (wall seconds, peak RSS in MB of that process, stdout).
    A non-zero exit raises RuntimeError with the child's last stderr line; a process still running
    after `timeout` seconds (0: no limit) is killed and raises StageTimedOut."""
    logs.mkdir(parents=True, exist_ok=True)
    stem = "".join(c if c.isalnum() or c in "-_" else "_" for c in label)
    out_path, err_path, report = logs / f"{stem}.out", logs / f"{stem}.err", logs / f"{stem}.rusage.json"
    with out_path.open("wb") as out, err_path.open("wb") as err:
        # the argument lists are built by this module from fixed commands and its own paths
        subprocess.run([sys.executable, "-I", "-S", "-c", _LAUNCHER, str(report), str(timeout), *argv],  # noqa: S603
                       env=env, stdout=out, stderr=err, check=False)
    measured = json.loads(report.read_text()) if report.exists() else {"exit": None}
    stdout = out_path.read_text(encoding="utf-8", errors="replace")
    if measured.get("timed_out"):
        raise StageTimedOut(label, measured["seconds"], measured["maxrss_kib"] / 1024.0)
    if measured["exit"] != 0:
        lines = [line for line in err_path.read_text(encoding="utf-8", errors="replace").splitlines() if line.strip()]
        last = lines[-1].strip() if lines else "no output"
        raise RuntimeError(f"bench step {label} exited {measured['exit']}: {last} (log {err_path})")
    return measured["seconds"], measured["maxrss_kib"] / 1024.0, stdout  # Linux: ru_maxrss in KiB


def _last_json(stdout: str, label: str) -> dict:
    for line in reversed(stdout.splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise RuntimeError(f"bench step {label} printed no JSON summary")


def figure(rows: int, seconds: float, peak_rss_mb: float) -> dict:
    """One stage's figures; rows/s from the seconds as written, so the two always agree."""
    seconds = round(seconds, 4)
    return {"rows": int(rows), "seconds": seconds,
            "rows_per_s": round(rows / seconds, 1) if rows and seconds > 0 else None,
            "peak_rss_mb": round(peak_rss_mb, 1)}


# ---------------------------------------------------------------------------------------------
# Scratch warehouses


@contextmanager
def scratch_postgres(admin_url: str, purpose: str) -> Iterator[str]:
    """A new, empty PostgreSQL database (random suffix) for one measurement; dropped afterwards."""
    from sqlalchemy import create_engine, text
    from sqlalchemy.engine import make_url

    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    name = f"bizenv_bench_{purpose}_{uuid.uuid4().hex[:8]}"
    try:
        with admin.connect() as conn:
            conn.execute(text(f'create database "{name}"'))  # name built here: fixed text and hex
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        try:
            _drop_database(admin, name)
        finally:
            admin.dispose()


def _drop_database(admin, name: str, wait_seconds: float = 120.0) -> None:
    """Drop a scratch database. `with (force)` gives its sessions 5 s to end; a backend still
    inside a long statement whose client was killed (a timed-out stage) can take longer to
    notice, so the drop is retried until `wait_seconds` have passed."""
    from sqlalchemy import text
    from sqlalchemy.exc import OperationalError

    deadline = time.monotonic() + wait_seconds
    while True:
        try:
            with admin.connect() as conn:
                conn.execute(text(f'drop database if exists "{name}" with (force)'))
            return
        except OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(5)


def postgres_version(admin_url: str) -> str:
    from sqlalchemy import create_engine, text

    engine = create_engine(admin_url)
    try:
        with engine.connect() as conn:
            return str(conn.execute(text("show server_version")).scalar())
    finally:
        engine.dispose()


_BENCH_PII_KEY = secrets.token_hex(32)  # the scratch warehouses' own key, never the user's


def _environment(data_dir: Path, warehouse_url: str) -> dict[str, str]:
    """The children's environment: this one, with every bizenv location inside `data_dir` (never
    the user's own warehouse, landing zone or key)."""
    env = dict(os.environ)
    env.update({
        "BIZENV_DATA_DIR": str(data_dir), "BIZENV_WAREHOUSE_URL": warehouse_url,
        "BIZENV_LANDING_ROOT": str(data_dir / "landing"), "BIZENV_PII_KEY_FILE": str(data_dir / "pii.key"),
        "BIZENV_DOCS_DIR": str(data_dir / "docs"), "BIZENV_REPORTS_DIR": str(data_dir / "reports"),
        "BIZENV_PII_KEY": _BENCH_PII_KEY, "GX_ANALYTICS_ENABLED": "false",
    })
    return env


def _upgrade(env: dict[str, str]) -> float:
    """Migrate a new warehouse in this process (setup, not a measured stage), under the same
    settings and key its children get; returns the seconds."""
    from bizenv.settings import load_settings
    from bizenv.warehouse import upgrade

    saved = dict(os.environ)
    started = time.perf_counter()
    try:
        os.environ.update(env)
        upgrade(load_settings())
    finally:
        os.environ.clear()
        os.environ.update(saved)
    return time.perf_counter() - started


# ---------------------------------------------------------------------------------------------
# The run


def _months(month: str, count: int) -> tuple[str, str]:
    year, number = (int(part) for part in month.split("-"))
    index = year * 12 + number - 1 - (count - 1)
    return f"{index // 12:04d}-{index % 12 + 1:02d}", f"{year:04d}-{number:02d}"


def _machine(admin_url: str | None) -> dict:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpus": os.cpu_count(), "cpu_model": model, "platform": platform.platform(),
            "python": platform.python_version(), "load_average_start": [round(x, 2) for x in os.getloadavg()],
            "postgresql": postgres_version(admin_url) if admin_url else None}


def _print(line: str = "") -> None:
    print(line, flush=True)


def _print_stage(name: str, stage: dict) -> None:
    rate = f"{stage['rows_per_s']:>12,.0f}" if stage["rows_per_s"] is not None else f"{'-':>12}"
    _print(f"  {name:<26}rows={stage['rows']:>10,}  seconds={stage['seconds']:>8.2f}  rows/s={rate}  "
           f"peak_rss_mb={stage['peak_rss_mb']:>8.1f}")


def measure_warehouse(kind: str, url: str, breakdown_url: str, files: dict[str, Path], month: str,
                      work: Path, simulated: dict[str, int], timeout: int = 0) -> dict:
    """Every stage on one warehouse (`url`, already created and empty); the registration
    breakdown goes into the second, empty warehouse `breakdown_url`. An indicators stage over
    `timeout` seconds is recorded as timed out (and the report, which needs it, as not run)."""
    logs = work / "logs" / kind
    env = _environment(work / kind, url)
    setup: dict[str, float] = {}
    stages: dict[str, dict] = {}

    setup["db_upgrade_seconds"] = round(_upgrade(env), 3)
    seconds, rss, _ = run_measured(f"{kind}-fixed-cost", _child("imports", "--url", url), env, logs)
    fixed = {"seconds": round(seconds, 3), "peak_rss_mb": round(rss, 1)}
    _print(f"{kind}: fixed cost of a task (process start + imports) {fixed['seconds']:.2f} s, "
           f"peak_rss_mb={fixed['peak_rss_mb']:.1f}")

    batches = {}
    for dataset in DATASET_ORDER:
        label = f"ingest_{dataset}"
        seconds, rss, out = run_measured(f"{kind}-{label}", [*_bizenv(), "ingest-file", dataset, str(files[dataset])],
                                         env, logs)
        summary = _last_json(out, label)
        if summary.get("status") != "loaded" or summary.get("extracted") != simulated[dataset]:
            raise RuntimeError(f"bench step {kind} {label}: batch {summary.get('status')} with "
                               f"{summary.get('extracted')} rows read of {simulated[dataset]} simulated")
        if summary.get("loaded", 0) <= 0:  # timing a merge that merged nothing would be no figure
            raise RuntimeError(f"bench step {kind} {label}: nothing loaded")
        batches[dataset] = {k: summary[k] for k in ("extracted", "loaded", "quarantined", "duplicates")}
        stages[label] = figure(summary["extracted"], seconds, rss)
        _print_stage(label, stages[label])

    breakdown_env = _environment(work / f"{kind}-breakdown", breakdown_url)
    _upgrade(breakdown_env)
    seconds, rss, out = run_measured(f"{kind}-registration-breakdown",
                                     _child("breakdown", "--path", str(files["registration"])), breakdown_env, logs)
    inside = _last_json(out, "registration breakdown")
    if inside["summary"]["extracted"] != simulated["registration"] or inside["summary"]["loaded"] <= 0:
        raise RuntimeError(f"bench step {kind} registration breakdown: {inside['summary']}")
    for step in BREAKDOWN:
        part = inside["stages"][step]
        stages[f"registration_{step}"] = figure(part["rows"], part["seconds"], part["peak_rss_mb"])
        _print_stage(f"registration_{step}", stages[f"registration_{step}"])
    timed = sum(inside["stages"][step]["seconds"] for step in BREAKDOWN)
    registration_breakdown = {"child_seconds": round(seconds, 3), "in_process_seconds": round(inside["total"], 3),
                              "other_seconds": round(inside["total"] - timed, 3),
                              "peak_rss_mb": round(rss, 1)}

    measured = {"setup": setup, "fixed_cost": fixed, "stages": stages, "batches": batches,
                "registration_breakdown": registration_breakdown}
    try:
        seconds, rss, out = run_measured(f"{kind}-indicators",
                                         [*_bizenv(), "indicators", "compute", "--month", month], env, logs, timeout)
    except StageTimedOut as stopped:
        measured["timed_out"] = {"indicators": {"seconds": round(stopped.seconds, 1),
                                                "peak_rss_mb": round(stopped.peak_rss_mb, 1)}}
        measured["not_run"] = ["report"]
        _print(f"  {'indicators':<26}did not finish within {stopped.seconds:.0f} s (killed; --stage-timeout); "
               "report not run")
        return measured
    run = _last_json(out, "indicators")
    if run.get("status") != "published" or not run.get("rows"):
        raise RuntimeError(f"bench step {kind} indicators: run {run.get('status')} with {run.get('rows')} rows")
    stages["indicators"] = figure(run["rows"], seconds, rss)
    _print_stage("indicators", stages["indicators"])
    out_file = work / kind / "reports" / f"bench-{month}.html"
    seconds, rss, out = run_measured(f"{kind}-report", [*_bizenv(), "report", "--month", month, "--out", str(out_file)],
                                     env, logs)
    report = _last_json(out, "report")
    if not report.get("rows") or not out_file.exists():
        raise RuntimeError(f"bench step {kind} report: no rows written to {out_file}")
    stages["report"] = figure(report["rows"], seconds, rss)
    _print_stage("report", stages["report"])
    return measured


def measure_baselines(admin_url: str, path: Path, work: Path) -> dict:
    logs = work / "logs" / "baseline"
    env = dict(os.environ)
    baselines = {}
    for name in ("to_sql", "copy"):
        with scratch_postgres(admin_url, name) as url:
            seconds, rss, out = run_measured(f"baseline-{name}", _child(name, "--url", url, "--path", str(path)),
                                             env, logs)
        baselines[name] = figure(_last_json(out, name)["rows"], seconds, rss)
    baselines["to_sql"]["method"] = TO_SQL_METHOD
    return baselines


def measure_memory(sizes: list[int], tax_file: Path, postgres: str, work: Path) -> dict:
    """`bizenv ingest-file tax_filing` of a file of each size in `sizes` into a new warehouse of
    each kind: the whole command's seconds and peak RSS, and how much the peak grows from the
    smallest file to the largest (the ingest reads, checks and stages a chunk at a time)."""
    logs = work / "logs" / "memory"
    files = {}
    for rows in sizes:
        files[rows] = work / "files" / f"tax_filing-{rows}.csv"
        run_measured(f"memory-file-{rows}", _child("tax_rows", "--path", str(tax_file), "--rows", str(rows),
                                                   "--out", str(files[rows])), dict(os.environ), logs)
    kinds = ["duckdb", *(["postgresql"] if postgres else [])]
    memory: dict = {"dataset": "tax_filing", "chunk_rows": None, "warehouses": {}}
    from bizenv.settings import chunk_rows

    memory["chunk_rows"] = chunk_rows()
    for kind in kinds:
        measured = {}
        for rows in sizes:
            with ExitStack() as stack:
                url = (f"duckdb:///{work / f'memory-{rows}' / 'warehouse.duckdb'}" if kind == "duckdb"
                       else stack.enter_context(scratch_postgres(postgres, f"memory{rows}")))
                env = _environment(work / f"memory-{kind}-{rows}", url)
                _upgrade(env)
                seconds, rss, out = run_measured(f"memory-{kind}-{rows}",
                                                 [*_bizenv(), "ingest-file", "tax_filing", str(files[rows])], env, logs)
            summary = _last_json(out, f"memory {kind} {rows}")
            if summary.get("extracted") != rows or summary.get("status") != "loaded":
                raise RuntimeError(f"bench memory {kind} {rows}: {summary}")
            measured[str(rows)] = figure(rows, seconds, rss)
            _print_stage(f"{kind[:8]} tax {rows:,}", measured[str(rows)])
        peaks = [measured[str(rows)]["peak_rss_mb"] for rows in sizes]
        memory["warehouses"][kind] = {"runs": measured, "peak_growth": round(peaks[-1] / peaks[0], 3)}
        _print(f"  {kind}: peak RSS {peaks[-1] / peaks[0]:.2f}x from {sizes[0]:,} to {sizes[-1]:,} rows")
    return memory


def run_bench(entities: int, months: int, month: str, postgres: str, json_path: Path | None,
              argv: list[str] | None = None, stage_timeout: int = 0, memory_rows: list[int] | None = None) -> dict:
    if entities < 1 or months < 1:
        raise ValueError("bench: --entities and --months must be at least 1")
    first, last = _months(month, months)
    result: dict = {"command": ["bizenv", "bench", *(argv or [])], "entities": entities, "months": months,
                    "stage_timeout": stage_timeout or None,
                    "first_month": first, "month": last, "seed": SEED, "clean_data": True,
                    "machine": _machine(postgres or None)}
    _print(f"bizenv bench: {entities:,} entities, {first}..{last}, indicators and report for {last}; "
           f"{result['machine']['cpus']} CPUs, load average {result['machine']['load_average_start']}")
    try:
        with tempfile.TemporaryDirectory(prefix="bizenv-bench-") as tmp:
            work = Path(tmp)
            simulate = _child("simulate", "--entities", str(entities), "--first", first, "--last", last,
                              "--out", str(work / "files"))
            seconds, rss, out = run_measured("simulate", simulate, dict(os.environ), work / "logs")
            simulated = _last_json(out, "simulate")["rows"]
            files = {name: work / "files" / f"{name}.csv" for name in DATASET_ORDER}
            result["simulated_rows"] = simulated
            result["simulate"] = {"seconds": round(seconds, 3), "peak_rss_mb": round(rss, 1),
                                  "file_mb": {n: round(p.stat().st_size / 2**20, 1) for n, p in files.items()}}
            _print(f"simulated in {seconds:.1f} s: " + ", ".join(f"{n} {simulated[n]:,} rows" for n in DATASET_ORDER))

            # the baselines first: they need only the file, and their figures stand even if a later
            # stage fails
            result["baselines"] = measure_baselines(postgres, files["registration"], work) if postgres else None
            if postgres:
                _print("baselines, the same registration file into PostgreSQL, each its own process:")
                _print_stage("read_csv + to_sql", result["baselines"]["to_sql"])
                _print_stage("COPY (raw, unindexed)", result["baselines"]["copy"])
            result["warehouses"] = {}
            kinds: list[tuple[str, Callable[[ExitStack], tuple[str, str]]]] = [
                ("duckdb", lambda stack: (f"duckdb:///{work / 'duckdb' / 'warehouse.duckdb'}",
                                          f"duckdb:///{work / 'duckdb-breakdown' / 'warehouse.duckdb'}")),
            ]
            if postgres:
                kinds.append(("postgresql", lambda stack: (
                    stack.enter_context(scratch_postgres(postgres, "pipeline")),
                    stack.enter_context(scratch_postgres(postgres, "breakdown")))))
            for kind, urls in kinds:
                with ExitStack() as stack:
                    url, breakdown_url = urls(stack)
                    measured = measure_warehouse(kind, url, breakdown_url, files, last, work, simulated, stage_timeout)
                result["warehouses"][kind] = measured
                other = measured["registration_breakdown"]
                _print(f"  (registration breakdown child {other['child_seconds']:.2f} s; in process "
                       f"{other['in_process_seconds']:.2f} s, of which outside the five stages "
                       f"{other['other_seconds']:.2f} s)")

            if memory_rows:
                _print(f"memory: bizenv ingest-file tax_filing, {', '.join(f'{n:,}' for n in memory_rows)} rows, "
                       "each into a new warehouse:")
                result["memory"] = measure_memory(sorted(memory_rows), files["tax_filing"], postgres, work)
            result["ratio_vs_to_sql"] = result["ratio_vs_copy"] = None
            if postgres:
                baselines = result["baselines"]
                ours = result["warehouses"]["postgresql"]["stages"]["ingest_registration"]["seconds"]
                result["ratio_vs_to_sql"] = round(baselines["to_sql"]["seconds"] / ours, 3)
                result["ratio_vs_copy"] = round(baselines["copy"]["seconds"] / ours, 3)
                _print(f"ratio_vs_to_sql={result['ratio_vs_to_sql']:.3f}  ratio_vs_copy={result['ratio_vs_copy']:.3f}  "
                       "(baseline seconds / `bizenv ingest-file registration` seconds on PostgreSQL)")
    except Exception as error:  # the figures measured so far are written all the same
        result["error"] = (str(error).splitlines() or [type(error).__name__])[0]
        raise
    finally:
        result["machine"]["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
        _print(f"load average at the end {result['machine']['load_average_end']}")
        if json_path is not None:
            json_path.parent.mkdir(parents=True, exist_ok=True)
            json_path.write_text(json.dumps(result, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
            _print(f"figures written to {json_path}")
    return result


# ---------------------------------------------------------------------------------------------
# The children (python -m bizenv.simulator.bench --child NAME ...)


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0


def child_simulate(entities: int, first: str, last: str, out: Path) -> None:
    from bizenv.simulator.simulate import DefectRates, simulate, write_files

    data = simulate(entities=entities, months=(first, last), seed=SEED, defects=DefectRates.none())
    write_files(data, out)
    print(json.dumps({"rows": {name: len(data.dataset(name)) for name in DATASET_ORDER}}))


def child_imports(url: str) -> None:
    """What an ingest task loads before it reads a byte: the CLI, the ingest path, Great
    Expectations (imported lazily by the first suite run) and the warehouse's driver."""
    import great_expectations  # noqa: F401
    from sqlalchemy import create_engine

    import bizenv.cli
    import bizenv.ingest  # noqa: F401

    create_engine(url).dispose()  # loads the dialect and its driver module; connects to nothing
    print(json.dumps({"imported": True}))


class _StageClock:
    """Seconds, rows and the process's peak RSS per breakdown stage, from wrappers around the
    functions `bizenv.ingest` calls."""

    def __init__(self) -> None:
        self.stages = {step: {"rows": 0, "seconds": 0.0, "peak_rss_mb": 0.0} for step in BREAKDOWN}
        self.merge_commit_pending = False

    def add(self, step: str, seconds: float, rows: int | None) -> None:
        stage = self.stages[step]
        stage["seconds"] += seconds
        if rows is not None:
            stage["rows"] = max(stage["rows"], rows)
        stage["peak_rss_mb"] = _peak_rss_mb()

    def wrap(self, module, name: str, step: str, rows: Callable[[tuple, object], int | None]) -> None:
        original = getattr(module, name)

        total = [0]

        def timed(*args, **kwargs):
            started = time.perf_counter()
            value = original(*args, **kwargs)
            counted = rows(args, value)
            if counted is not None:
                total[0] += counted
            self.add(step, time.perf_counter() - started, total[0] if counted is not None else None)
            if name == "merge_stage":
                self.merge_commit_pending = True
            return value

        setattr(module, name, timed)

    def wrap_chunks(self, module, name: str, step: str) -> None:
        """Time a function that yields a batch's chunks: each chunk's production, rows summed."""
        original = getattr(module, name)

        def timed(*args, **kwargs):
            chunks = iter(original(*args, **kwargs))
            rows = 0
            while True:
                started = time.perf_counter()
                try:
                    chunk = next(chunks)
                except StopIteration:
                    self.add(step, time.perf_counter() - started, None)
                    return
                rows += len(chunk)
                self.add(step, time.perf_counter() - started, rows)
                yield chunk

        setattr(module, name, timed)


def child_breakdown(path: Path) -> None:
    """`bizenv.ingest.ingest_file` for the registration file, as `bizenv ingest-file` calls it,
    with each stage's functions timed where the ingest module looks them up."""
    from sqlalchemy.engine.base import Connection

    from bizenv import ingest
    from bizenv.settings import load_settings

    clock = _StageClock()
    clock.wrap_chunks(ingest, "iter_department_file", "read")
    clock.wrap(ingest, "file_checksum", "read", lambda args, value: None)
    clock.wrap(ingest.LandingWriter, "write", "land", lambda args, value: None)
    clock.wrap(ingest.LandingWriter, "commit", "land", lambda args, value: None)
    clock.wrap_chunks(ingest, "iter_landed_batch", "land")
    clock.wrap(ingest, "standardize", "standardize", lambda args, value: len(args[1]))
    clock.wrap(ingest, "_resolve_legacy_codes", "validate", lambda args, value: None)
    clock.wrap(ingest, "code_checks", "validate", lambda args, value: None)
    clock.wrap(ingest, "run_suite", "validate", lambda args, value: len(args[1]))
    clock.wrap(ingest, "publish_data_docs", "validate", lambda args, value: None)
    clock.wrap(ingest, "_stage_frame", "merge", lambda args, value: len(value))
    clock.wrap(ingest, "bulk_insert", "merge", lambda args, value: None)
    clock.wrap(ingest, "merge_stage", "merge", lambda args, value: None)
    # the merge's transaction commits after `merge_stage` returns (on DuckDB the commit writes
    # the checkpoint, a large part of a merge): that commit is counted as merge too
    commit = Connection._commit_impl

    def timed_commit(self, *args, **kwargs):
        started = time.perf_counter()
        value = commit(self, *args, **kwargs)
        if clock.merge_commit_pending:
            clock.merge_commit_pending = False
            clock.add("merge", time.perf_counter() - started, None)
        return value

    Connection._commit_impl = timed_commit
    settings = load_settings()
    started = time.perf_counter()
    summary = ingest.ingest_file(settings, "registration", path)
    total = time.perf_counter() - started
    print(json.dumps({"stages": clock.stages, "total": total, "summary": summary.as_dict()}, ensure_ascii=False))


def child_to_sql(url: str, path: Path) -> None:
    """What a user script does: read the file as text and let pandas create and fill a table."""
    import pandas as pd
    from sqlalchemy import create_engine

    frame = pd.read_csv(path, dtype=str, encoding="gb18030")
    engine = create_engine(url)
    frame.to_sql("registration_to_sql", engine, index=False)
    engine.dispose()
    print(json.dumps({"rows": len(frame)}))


def child_copy(url: str, path: Path) -> None:
    """The file's bytes straight into an unindexed table of text columns by COPY: the fastest
    way into PostgreSQL, with no typing, validation, history or personal-data protection."""
    import csv

    import psycopg
    from psycopg import sql
    from sqlalchemy.engine import make_url

    with path.open(encoding="gb18030", newline="") as handle:
        width = len(next(csv.reader(handle)))
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(conninfo) as conn, conn.cursor() as cursor:
        columns = sql.SQL(", ").join(sql.SQL("{} text").format(sql.Identifier(f"c{i}")) for i in range(width))
        cursor.execute(sql.SQL("create table registration_copy ({})").format(columns))
        with cursor.copy("copy registration_copy from stdin (format csv, header true, encoding 'GB18030')") as copy, \
                path.open("rb") as raw:
            while chunk := raw.read(1 << 20):
                copy.write(chunk)
        rows = cursor.rowcount
    print(json.dumps({"rows": rows}))


def child_tax_rows(path: Path, rows: int, out: Path) -> None:
    """A tax-filing file of exactly `rows` rows, as the department sends it (UTF-8 with BOM): the
    simulated file's rows over again, each repetition's filings numbered anew (a new filing,
    not a repeat of one), written a chunk at a time."""
    import pandas as pd

    written, repetition = 0, 0
    with out.open("w", encoding="utf-8-sig", newline="") as handle:
        while written < rows:
            for chunk in pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8-sig", chunksize=100_000):
                chunk = chunk.head(rows - written)
                if repetition:
                    chunk[chunk.columns[0]] = chunk[chunk.columns[0]] + f"R{repetition}"
                chunk.to_csv(handle, index=False, header=written == 0)
                written += len(chunk)
                if written >= rows:
                    break
            repetition += 1
    print(json.dumps({"rows": written}))


def _child_main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m bizenv.simulator.bench --child")
    parser.add_argument("name", choices=("simulate", "imports", "breakdown", "to_sql", "copy", "tax_rows"))
    parser.add_argument("--rows", type=int)
    parser.add_argument("--entities", type=int)
    parser.add_argument("--first")
    parser.add_argument("--last")
    parser.add_argument("--out", type=Path)
    parser.add_argument("--url")
    parser.add_argument("--path", type=Path)
    args = parser.parse_args(argv)
    if args.name == "simulate":
        child_simulate(args.entities, args.first, args.last, args.out)
    elif args.name == "imports":
        child_imports(args.url)
    elif args.name == "breakdown":
        child_breakdown(args.path)
    elif args.name == "to_sql":
        child_to_sql(args.url, args.path)
    elif args.name == "tax_rows":
        child_tax_rows(args.path, args.rows, args.out)
    else:
        child_copy(args.url, args.path)


if __name__ == "__main__":
    if sys.argv[1:2] != ["--child"]:
        sys.exit("usage: bizenv bench --entities N (this module's own entry point is for its child processes)")
    _child_main(sys.argv[2:])
    # as `bizenv.cli.run`: DuckDB's bindings report spurious leaks at interpreter shutdown once
    # Great Expectations is loaded; everything is printed and no warehouse is open by now
    sys.stdout.flush()
    os._exit(0)
