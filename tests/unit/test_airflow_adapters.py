"""The Airflow adapters are part of the installed package (bizenv.airflow): they import without
any PYTHONPATH or plugins folder, importing them does not load Airflow (it is imported inside the
task bodies), and no other bizenv module imports Airflow (docs/architecture.md, package layout)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
import tomllib
from pathlib import Path

import bizenv

PACKAGE_DIR = Path(bizenv.__file__).resolve().parent
ADAPTERS_DIR = PACKAGE_DIR / "airflow"
PROJECT_ROOT = PACKAGE_DIR.parents[1]
ADAPTER_MODULES = sorted(f"bizenv.airflow.{p.stem}" for p in ADAPTERS_DIR.glob("*.py") if p.stem != "__init__")

# -I: no PYTHONPATH, no current directory on sys.path; only what the virtualenv has installed
IMPORT_IN_ISOLATION = r"""
import importlib, json, sys
names = json.loads(sys.argv[1])
files = {name: importlib.import_module(name).__file__ for name in names}
print(json.dumps({"files": files, "airflow_loaded": sorted(m for m in sys.modules if m.split(".")[0] == "airflow")}))
"""


def test_the_adapters_import_from_the_installed_package_without_path_patching(tmp_path):
    assert {"bizenv.airflow.dag_config", "bizenv.airflow.ingest", "bizenv.airflow.monthly",
            "bizenv.airflow.runtime"} <= set(ADAPTER_MODULES)
    done = subprocess.run([sys.executable, "-I", "-c", IMPORT_IN_ISOLATION, json.dumps(ADAPTER_MODULES)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert {Path(f).resolve().parent for f in result["files"].values()} == {ADAPTERS_DIR}
    # a top-level Airflow import here would slow every DAG file's parse and every CLI start
    assert result["airflow_loaded"] == []


def _airflow_imports(path: Path) -> list[int]:
    lines = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            names = [node.module or ""]
        else:
            continue
        if any(name == "airflow" or name.startswith("airflow.") for name in names):
            lines.append(node.lineno)
    return lines


def test_only_the_adapters_import_airflow():
    files = [p for p in PACKAGE_DIR.rglob("*.py") if ADAPTERS_DIR not in p.parents]
    assert len(files) > 20
    found = [f"{p.relative_to(PROJECT_ROOT)}:{line}" for p in sorted(files) for line in _airflow_imports(p)]
    assert found == [], f"only bizenv.airflow may import Airflow: {found}"
    # the scan sees imports inside functions, where the adapters keep theirs
    assert _airflow_imports(ADAPTERS_DIR / "ingest.py")


def test_nothing_patches_the_import_path_for_the_adapters():
    pytest_options = tomllib.loads((PROJECT_ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert pytest_options["tool"]["pytest"]["ini_options"]["pythonpath"] == ["tests"]
    instructions = "\n".join(line for line in (PROJECT_ROOT / "Dockerfile").read_text(encoding="utf-8").splitlines()
                             if not line.lstrip().startswith("#"))
    assert "PYTHONPATH" not in instructions and "PLUGINS_FOLDER" not in instructions
    assert not (PROJECT_ROOT / "plugins" / "bizenv_airflow").exists()
