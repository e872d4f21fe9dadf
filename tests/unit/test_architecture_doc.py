"""docs/architecture.md stays true to the tree: every path and test it names exists, its package
layout lists every module of include/bizenv, and code comments cite the project's own docs/
rather than a design document outside the repository."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "architecture.md"
PATH_PREFIXES = ("include/", "sql/", "dags/", "plugins/", "tests/", "docs/", "expectations/")
PLACEHOLDER = re.compile(r"[<>*$]|YYYY")
# a citation of a document that is not in the repository (the design notes the code grew from)
OUTSIDE_CITATION = re.compile(r"DESIGN\s*§|DESIGN\.md|design doc", re.IGNORECASE)


def named_paths(text: str) -> list[str]:
    """Repository paths in `code` spans, with any `::test_name` kept."""
    spans = re.findall(r"`([^`\n]+)`", text)
    return [span for span in spans if span.startswith(PATH_PREFIXES) and " " not in span]


def layout_entries(text: str) -> list[tuple[str, str]]:
    """(parent directory, entry) of the package layout block: top-level lines name a directory,
    lines indented by two spaces name entries in it (several separated by commas)."""
    block = text.split("## Package layout", 1)[1].split("```", 2)[1]
    entries, parent = [], None
    for line in block.splitlines():
        if not line.strip():
            continue
        if not line.startswith(" "):
            parent = line.split()[0]
            entries.append(("", parent))
        elif line.startswith("  ") and not line.startswith("   ") and parent:
            names = line.strip().split("  ")[0]
            entries.extend((parent, name.strip()) for name in names.split(","))
    return entries


def test_every_named_path_and_test_exists():
    text = DOC.read_text(encoding="utf-8")
    missing = []
    for named in named_paths(text):
        path, _, test = named.partition("::")
        if PLACEHOLDER.search(path):
            continue
        target = ROOT / path
        if not target.exists():
            missing.append(path)
        elif test and not re.search(rf"^\s*(async\s+)?def {re.escape(test)}\(", target.read_text(encoding="utf-8"),
                                    re.MULTILINE):
            missing.append(named)
    assert not missing, f"docs/architecture.md names what is not in the tree: {missing}"


def test_every_linked_document_exists():
    text = DOC.read_text(encoding="utf-8")
    links = re.findall(r"\]\(([^)#]+)(?:#[^)]*)?\)", text)
    assert links
    assert [link for link in links if not (DOC.parent / link).exists()] == []


def test_the_package_layout_is_the_tree():
    entries = layout_entries(DOC.read_text(encoding="utf-8"))
    listed = {(parent, name.rstrip("/")) for parent, name in entries}
    missing = [f"{parent}{name}" for parent, name in entries if not (ROOT / parent / name).exists()]
    assert not missing, f"the package layout lists what does not exist: {missing}"
    package = ROOT / "include" / "bizenv"
    modules = sorted(p.name for p in package.iterdir()
                     if p.name != "__init__.py" and not p.name.startswith((".", "__pycache__"))
                     and (p.suffix == ".py" or (p.is_dir() and (p / "__init__.py").exists())
                          or p.name == "migrations"))
    unlisted = [name for name in modules if ("include/bizenv/", name) not in listed]
    assert not unlisted, f"docs/architecture.md's package layout does not list include/bizenv/ {unlisted}"


def test_the_layout_check_sees_a_missing_module(tmp_path):
    text = "## Package layout\n\n```\ninclude/bizenv/   production\n  cli.py   the command line\n```\n"
    assert ("include/bizenv/", "cli.py") in layout_entries(text)
    assert ("include/bizenv/", "ingest.py") not in layout_entries(text)


@pytest.mark.parametrize("top", ["include", "dags", "sql", "tests", "expectations"])
def test_comments_cite_only_the_projects_own_docs(top):
    cited = []
    for path in sorted((ROOT / top).rglob("*")):
        if path.suffix not in {".py", ".sql", ".yaml", ".json", ".md"} or not path.is_file():
            continue
        if path == Path(__file__).resolve() or "egg-info" in path.parts:
            continue
        for number, line in enumerate(path.read_text(encoding="utf-8", errors="replace").splitlines(), 1):
            if OUTSIDE_CITATION.search(line):
                cited.append(f"{path.relative_to(ROOT)}:{number}")
    assert not cited, f"cite docs/architecture.md (or another docs/ page) instead: {cited}"
