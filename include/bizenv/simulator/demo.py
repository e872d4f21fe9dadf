"""`bizenv demo`: one month end to end through Airflow, on this machine, with nothing else.

Simulated departments deliver the three ways real ones do (a file drop, two REST APIs and a
department database); each source's generated ingest DAG and then `monthly_indicators` run
with `airflow dags test` against a local Airflow home (SQLite metadata) and the embedded
DuckDB warehouse.
"""

from __future__ import annotations

import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

from bizenv.settings import PROJECT_ROOT, Settings


def _step(message: str) -> None:
    print(f"==> {message}", flush=True)


def _previous_months(month: str, count: int) -> str:
    year, number = (int(part) for part in month.split("-"))
    index = year * 12 + number - 1 - (count - 1)
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def _next_month_start(month: str) -> str:
    year, number = (int(part) for part in month.split("-"))
    index = year * 12 + number
    return f"{index // 12:04d}-{index % 12 + 1:02d}-01T03:00:00+08:00"


def airflow_environment(settings: Settings, extra: dict[str, str]) -> dict[str, str]:
    home = settings.data_dir / "airflow"
    home.mkdir(parents=True, exist_ok=True)
    env = os.environ.copy()
    env.update({
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(PROJECT_ROOT / "dags"),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "BIZENV_DATA_DIR": str(settings.data_dir),
        "BIZENV_WAREHOUSE_URL": settings.warehouse_url,
        "GX_ANALYTICS_ENABLED": "false",
    })
    env.update(extra)
    return env


def _airflow(args: list[str], env: dict[str, str], log: Path) -> None:
    started = time.perf_counter()
    with log.open("w") as handle:
        # the argument list is fixed by this module; nothing comes from user input
        result = subprocess.run([sys.executable, "-m", "airflow", *args], env=env, stdout=handle,  # noqa: S603
                                stderr=subprocess.STDOUT, check=False)
    text = log.read_text(errors="replace")
    failed = result.returncode != 0 or "state=failed" in text
    print(f"    airflow {' '.join(args)}: {'FAILED' if failed else 'ok'} "
          f"({time.perf_counter() - started:.1f} s, log {log})", flush=True)
    if failed:
        print("\n".join(text.splitlines()[-30:]), file=sys.stderr)
        raise RuntimeError(f"airflow {' '.join(args)} failed; see {log}")


def run_demo(settings: Settings, month: str, entities: int = 2000) -> int:
    from bizenv.indicators import month_bounds, show
    from bizenv.report import scheduled_report_path
    from bizenv.simulator.department_api import serve
    from bizenv.simulator.department_db import fill_department_database
    from bizenv.simulator.simulate import simulate, write_files
    from bizenv.sources import load_sources
    from bizenv.sources.drop import done_marker
    from bizenv.warehouse import connect, query_df, upgrade

    month_bounds(month)
    demo_dir = settings.data_dir / "demo"
    logs = demo_dir / "logs"
    logs.mkdir(parents=True, exist_ok=True)

    _step(f"warehouse {settings.warehouse_url}: migrate")
    upgrade(settings)

    first = _previous_months(month, 6)
    _step(f"simulate {entities} entities, {first}..{month}, with realistic defects")
    data = simulate(entities=entities, months=(first, month), seed=2024)
    files = write_files(data, demo_dir / "departments")

    sources = load_sources()
    extra: dict[str, str] = {}
    api = serve(data, token=secrets.token_urlsafe(16), sources=sources)
    try:
        for source in sources.values():
            if source.kind == "file_drop":
                drop = settings.data_dir / source.file_drop.directory
                drop.mkdir(parents=True, exist_ok=True)
                target = drop / files[source.dataset].name
                shutil.copyfile(files[source.dataset], target)
                done_marker(target).touch()  # the department marks a finished upload
                _step(f"{source.department} drops {target.name} into {drop}")
            elif source.kind == "database":
                url = f"sqlite:///{demo_dir / (source.name + '.sqlite')}"
                fill_department_database(url, {source.dataset: getattr(data, source.dataset)}, sources=sources)
                extra[f"AIRFLOW_CONN_{source.connection_id.upper()}"] = url
                _step(f"{source.department} database ready at {url}")
            elif source.kind == "http":
                extra[f"AIRFLOW_CONN_{source.connection_id.upper()}"] = (
                    f"http://:{api.token}@{api.url.removeprefix('http://')}")
                _step(f"{source.department} API serving {api.url}{source.http.path}")

        env = airflow_environment(settings, extra)
        _step("Airflow metadata database (SQLite) migrate")
        _airflow(["db", "migrate"], env, logs / "airflow-db-migrate.log")
        for source in sources.values():
            _step(f"DAG ingest_{source.name}")
            _airflow(["dags", "test", f"ingest_{source.name}"], env, logs / f"ingest_{source.name}.log")
        _step(f"DAG monthly_indicators for {month}")
        _airflow(["dags", "test", "monthly_indicators", _next_month_start(month)], env,
                 logs / "monthly_indicators.log")
    finally:
        api.close()

    with connect(settings) as engine:
        with engine.connect() as conn:
            batches = query_df(conn, "ops/batch_overview.sql")
        snapshot = show(engine, month)
    _step("batches (extracted = loaded + quarantined + duplicates)")
    print(batches.to_string(index=False))
    _step(f"indicators {month} (mart.v_indicator_trend)")
    columns = ["region_code", "indicator_code", "name_zh", "breakdown", "value", "target", "meets_target"]
    print(snapshot[columns].to_string(index=False))
    report = scheduled_report_path(settings.reports_dir, month)
    print(f"\nwarehouse: {settings.warehouse_url}\nmonthly report: {report}\nAirflow logs: {logs}")
    return 0
