"""Views are derived, like dbt's view models: `bizenv db upgrade` re-creates every view of
`sql/views/` and `sql/marts/` from today's files after migrating to head, so that a changed view
file takes effect on the next upgrade without a migration. Migrations (`versions/`) hold the
tables and the views of their own revision, frozen (docs/architecture.md).

A view is a file of those directories whose one statement is `create [or replace] view
<schema>.<file name>`; other files there are queries. Views are dropped (dependents first) and
created again (dependencies first) in the upgrade's transaction, so a view whose columns change
is re-created too (PostgreSQL's `create or replace view` cannot drop or rename a column), and a
failed upgrade leaves the old views. Privileges granted on a view go with it: grant on the schema
(`alter default privileges`, as bizenv.marts.grant_readonly does) rather than on a view.

A dropped view loses its comments too: after the views, every file of `marts/comments/` (`comment
on view|table|column` statements, Chinese and English, docs/dashboard-contract.md) is applied
again, and `mart.dim_region` is filled from regions.yaml, so a dashboard's descriptions and unit
names follow every upgrade.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from graphlib import CycleError, TopologicalSorter
from pathlib import Path

from sqlalchemy import Connection, text

from bizenv.errors import Refused

VIEW_DIRS = ("views", "marts")
COMMENT_DIR = "marts/comments"
_COMMENT = re.compile(r"^comment\s+on\s+(?:view|table|column)\s", re.I)
_CREATE_VIEW = re.compile(r"^create\s+(?:or\s+replace\s+)?view\s+([a-z_][a-z0-9_]*)\.([a-z_][a-z0-9_]*)\s", re.I)
_MIGRATION_VIEW = re.compile(r"create\s+(?:or\s+replace\s+)?view\s+([a-z_][a-z0-9_]*\.[a-z_][a-z0-9_]*)\s", re.I)
_VERSIONS_DIR = Path(__file__).parent / "versions"


class ViewFileError(Refused):
    """A view file that cannot be applied: names the file and what is wrong, in one line."""


@dataclass(frozen=True)
class View:
    name: str  # schema.view
    path: Path
    statement: str


def _statements(path: Path) -> list[str]:
    lines = [line for line in path.read_text(encoding="utf-8").splitlines() if not line.strip().startswith("--")]
    return [s.strip() for s in re.split(r";\s*(?:\n|$)", "\n".join(lines)) if s.strip()]


def _read_view(path: Path) -> View | None:
    statements = _statements(path)
    match = _CREATE_VIEW.match(statements[0]) if statements else None
    if match is None:
        return None
    if len(statements) != 1:
        raise ViewFileError(f"{path}: a view file holds exactly one statement, found {len(statements)}")
    schema, name = match.group(1).lower(), match.group(2).lower()
    if name != path.stem:
        raise ViewFileError(f"{path}: creates view {schema}.{name}; the file must be named {name}.sql")
    return View(f"{schema}.{name}", path, statements[0])


def _references(statement: str, name: str) -> bool:
    return re.search(rf"(?<![\w.]){re.escape(name)}(?![\w])", statement, re.I) is not None


def load_views(sql_dir: Path) -> list[View]:
    """The views under `sql_dir`, each after the views it reads."""
    views: dict[str, View] = {}
    for directory in VIEW_DIRS:
        for path in sorted((sql_dir / directory).glob("*.sql")):
            view = _read_view(path)
            if view is None:
                continue
            if view.name in views:
                raise ViewFileError(f"{path}: view {view.name} is also created by {views[view.name].path}")
            views[view.name] = view
    graph = {
        name: {other for other in views if other != name and _references(view.statement, other)}
        for name, view in views.items()
    }
    try:
        order = list(TopologicalSorter(graph).static_order())
    except CycleError as error:
        raise ViewFileError(f"views under {sql_dir} read each other in a cycle: {' -> '.join(error.args[1])}") from None
    return [views[name] for name in order]


def _drop(conn: Connection, views: list[View]) -> None:
    for view in reversed(views):
        conn.execute(text(f"drop view if exists {view.name}"))


def load_comments(sql_dir: Path) -> list[tuple[Path, str]]:
    """The comment statements of `sql_dir/marts/comments/*.sql`, each with its file; anything but
    a `comment on view|table|column` statement there is refused."""
    comments = []
    for path in sorted((sql_dir / COMMENT_DIR).glob("*.sql")):
        for statement in _statements(path):
            if not _COMMENT.match(statement):
                raise ViewFileError(f"{path}: holds only comment on view/table/column statements, found "
                                    f"{statement.split(chr(10))[0][:60]!r}")
            comments.append((path, statement))
    return comments


def apply_comments(conn: Connection, sql_dir: Path) -> int:
    """Apply every comment of `sql_dir/marts/comments/`, in the caller's transaction; returns how
    many. A comment on a column a view no longer has fails the upgrade, naming its file."""
    from sqlalchemy.exc import DBAPIError

    comments = load_comments(sql_dir)
    for path, statement in comments:
        try:
            conn.execute(text(statement))
        except DBAPIError as error:
            cause = (str(getattr(error, "orig", error)).strip().splitlines() or ["error"])[0]
            raise ViewFileError(f"{path}: {statement.split(' is ')[0]}: {cause}") from None
    return len(comments)


def rebuild(conn: Connection, sql_dir: Path) -> list[str]:
    """Drop and create every view under `sql_dir`, apply the mart's comments and fill
    mart.dim_region, in the caller's transaction; returns the views' names in the order they were
    created."""
    from bizenv.marts import refresh_dim_region

    views = load_views(sql_dir)
    _drop(conn, views)
    for view in views:
        conn.execute(text(view.statement))
    apply_comments(conn, sql_dir)
    refresh_dim_region(conn)
    return [view.name for view in views]


def _created_by_migrations() -> set[str]:
    names: set[str] = set()
    for path in _VERSIONS_DIR.glob("*.py"):
        names.update(name.lower() for name in _MIGRATION_VIEW.findall(path.read_text(encoding="utf-8")))
    return names


def drop_views_unknown_to_migrations(conn: Connection, sql_dir: Path) -> list[str]:
    """Before a downgrade: drop the views only `sql_dir` creates (and the views that read them),
    since a migration's downgrade knows only the views of its revision and could not drop a table
    or a view such a view reads. Returns the names dropped."""
    views = load_views(sql_dir)
    known = _created_by_migrations()
    doomed: set[str] = set()
    for view in views:  # dependencies first: a view reading a doomed view is doomed
        if view.name not in known or any(_references(view.statement, name) for name in doomed):
            doomed.add(view.name)
    dropping = [view for view in views if view.name in doomed]
    _drop(conn, dropping)
    return [view.name for view in reversed(dropping)]
