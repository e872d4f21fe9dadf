"""Production code never imports the simulator (bizenv.simulator: simulate, department_api,
department_db, demo, benchmark).

Production is every module under include/bizenv except bizenv/simulator itself, plus plugins/
and dags/. Each file's import statements are read from its syntax tree, at any depth (inside
functions and classes too), together with `importlib.import_module("...")` / `__import__("...")`
calls with a literal name.

The one allowance: the command line is the tooling entry point as well as the operator's, so the
commands that exist only to drive the simulator (`bizenv simulate`, `bizenv simulate serve`,
`bizenv demo`, `bizenv bench`) import it lazily inside their own command functions. Anywhere else in cli.py,
module level included, the import is refused, and a fresh interpreter that imports every
production module (the CLI included) must not have loaded bizenv.simulator.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import bizenv

PACKAGE_DIR = Path(bizenv.__file__).resolve().parent
PROJECT_ROOT = PACKAGE_DIR.parents[1]
SIMULATOR = "bizenv.simulator"
CLI = PACKAGE_DIR / "cli.py"
# cli.py functions that may import the simulator: the commands whose whole job is to run it
CLI_TOOLING_COMMANDS = frozenset({"cmd_simulate", "cmd_simulate_serve", "cmd_demo", "cmd_bench"})


def production_files() -> list[Path]:
    files = [p for p in PACKAGE_DIR.rglob("*.py") if (PACKAGE_DIR / "simulator") not in p.parents]
    for adapters in ("plugins", "dags"):
        files += sorted((PROJECT_ROOT / adapters).rglob("*.py"))
    return sorted(files)


def _module_name(path: Path) -> str:
    """Dotted name of a file under include/ (relative imports resolve against it)."""
    relative = path.relative_to(PACKAGE_DIR.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _targets(node: ast.AST, path: Path) -> list[str]:
    """Absolute module names an import statement or a literal dynamic import reaches."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            if PACKAGE_DIR not in path.parents and path.parent != PACKAGE_DIR:
                return []  # plugins/ and dags/ are not packages under bizenv
            package = _module_name(path).split(".")
            if path.name != "__init__.py":
                package = package[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, base] if base else package)
        # `from bizenv import simulator` reaches bizenv.simulator through the imported name
        return [base, *(f"{base}.{alias.name}" for alias in node.names)]
    if isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
        func = node.func
        name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
        if name in ("import_module", "__import__") and isinstance(node.args[0].value, str):
            return [node.args[0].value]
    return []


def simulator_imports(path: Path, source: str | None = None) -> list[tuple[int, str | None]]:
    """(line, enclosing top-level function or None) of every import of bizenv.simulator in `path`
    (or in `source`, read as if it were that file)."""
    text = path.read_text(encoding="utf-8") if source is None else source
    tree = ast.parse(text, filename=str(path))
    found: list[tuple[int, str | None]] = []

    def visit(node: ast.AST, function: str | None) -> None:
        for child in ast.iter_child_nodes(node):
            inside = function
            if function is None and isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                inside = child.name if node is tree else f"<nested {child.name}>"
            if any(t == SIMULATOR or t.startswith(SIMULATOR + ".") for t in _targets(child, path)):
                found.append((child.lineno, inside))
            visit(child, inside)

    visit(tree, None)
    return found


def violations(files: list[Path], source: str | None = None) -> list[str]:
    lines = []
    for path in files:
        for line, function in simulator_imports(path, source):
            if path == CLI and function in CLI_TOOLING_COMMANDS:
                continue
            where = f"inside {function}()" if function else "at module level"
            lines.append(f"{path.relative_to(PROJECT_ROOT)}:{line}: imports {SIMULATOR} {where}")
    return lines


def test_no_production_module_imports_the_simulator():
    files = production_files()
    assert CLI in files and len(files) > 20  # the scan sees the package, not an empty glob
    assert violations(files) == []


def test_the_cli_imports_the_simulator_only_inside_its_tooling_commands():
    allowed = {function for _, function in simulator_imports(CLI)}
    # the allowance is in use: were the CLI to stop importing the simulator, it would go
    assert allowed and allowed <= CLI_TOOLING_COMMANDS


@pytest.mark.parametrize(
    "source",
    [
        "import bizenv.simulator.simulate\n",
        "from bizenv.simulator.simulate import simulate\n",
        "from bizenv import simulator\n",
        "from .simulator import demo\n",
        "from . import simulator\n",
        "def f():\n    from bizenv.simulator.department_db import fill_department_database\n",
        "class C:\n    def m(self):\n        import bizenv.simulator\n",
        "import importlib\nimportlib.import_module('bizenv.simulator.benchmark')\n",
    ],
)
def test_every_import_form_is_caught(source):
    """The scanner finds each way a module could reach the simulator (relative imports read as
    if the file sat in include/bizenv)."""
    assert violations([PACKAGE_DIR / "_boundary_probe.py"], source) != []


@pytest.mark.parametrize(
    "extra",
    [
        "from bizenv.simulator.simulate import simulate\n",
        "def cmd_ingest(args):\n    from bizenv.simulator.simulate import simulate\n",
        "class Commands:\n    def cmd_demo(self):\n        from bizenv.simulator.demo import run_demo\n",
    ],
)
def test_the_cli_allowance_is_only_for_its_tooling_commands(extra):
    source = CLI.read_text(encoding="utf-8")
    assert violations([CLI], source) == []
    assert violations([CLI], source + extra) != []


def test_importing_every_production_module_leaves_the_simulator_unloaded():
    names = sorted(
        _module_name(p) for p in production_files()
        if PACKAGE_DIR in p.parents and "migrations" not in p.relative_to(PACKAGE_DIR).parts
    )
    script = (
        "import importlib, sys\n"
        f"for name in {names!r}:\n"
        "    importlib.import_module(name)\n"
        f"loaded = sorted(m for m in sys.modules if m == {SIMULATOR!r} or m.startswith({SIMULATOR + '.'!r}))\n"
        "print(','.join(loaded))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.strip() == ""
