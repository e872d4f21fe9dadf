"""The dashboard mart (docs/dashboard-contract.md): the reporting units of `mart.dim_region`, the
read-only database role that dashboards log in as on PostgreSQL, and the published read-only
copy of the mart that dashboards open on the embedded DuckDB warehouse.

A dashboard never reads core, quarantine, ops or the landing zone: on PostgreSQL the role may
read schema mart only (its views run with their owner's rights, so they read core for it); the
embedded warehouse has one writer process and no roles, so each publish writes every mart view
as a table into a file of its own, replaced atomically, which any number of readers open
read_only while ingests hold the warehouse.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
from pathlib import Path

from sqlalchemy import Connection, Engine

from bizenv.errors import Refused
from bizenv.regions import load_regions
from bizenv.settings import SQL_DIR, sync_directory
from bizenv.warehouse import dialect_of, query_df, run_sql

log = logging.getLogger(__name__)

MART_SCHEMA = "mart"
# every other schema holds what a dashboard must not see: department records with personal-ID
# hashes and masks (core), rejected rows (quarantine), batches, staging and keys (ops)
PRIVATE_SCHEMAS = ("core", "quarantine", "ops")
PUBLISHED_DIR = "published"
PUBLISHED_FILE = "mart.duckdb"
# tables of the mart a dashboard joins besides the views (the snapshot's versions stay behind)
PUBLISHED_TABLES = ("mart.dim_region",)
# a role name goes into DDL, where no bound parameter is allowed: only a plain lowercase
# identifier, quoted as one, is accepted
_ROLE_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,62}$")


class ReadonlyRoleError(Refused):
    """A read-only role that cannot be granted: names the role or the warehouse, in one line."""


class PublishedCopyError(Refused):
    """The read-only copy of the mart cannot be written (a full disk, an unwritable directory):
    names the file and the cause, in one line; the publish it belongs to is not committed."""


# --- mart.dim_region ----------------------------------------------------------------------------

def region_rows() -> list[tuple[str, str, str, str | None]]:
    """(region_code, region_name, level, parent_code) of the prefecture and every reporting unit of
    include/config/regions.yaml; every unit below the prefecture (旗县区, 开发区, 盟本级) is a
    'county'."""
    regions = load_regions()
    rows = [(regions.prefecture_code, regions.prefecture_name, "prefecture", None)]
    rows += [(code, name, "county", regions.prefecture_code) for code, name in regions.names.items()]
    return rows


def refresh_dim_region(conn: Connection) -> None:
    """Make mart.dim_region hold exactly the units of regions.yaml, in the caller's transaction;
    writes nothing when it already does."""
    wanted = {row[0]: row for row in region_rows()}
    stored = query_df(conn, "marts/dim_region_rows.sql")
    have = {
        str(code): (str(code), str(name), str(level), None if parent is None else str(parent))
        for code, name, level, parent in stored.itertuples(index=False)
    }
    for code in sorted(set(have) - set(wanted)):
        run_sql(conn, "marts/delete_dim_region.sql", {"region_code": code})
    for code, row in wanted.items():
        if have.get(code) != row:
            run_sql(conn, "marts/upsert_dim_region.sql", dict(zip(
                ("region_code", "region_name", "level", "parent_code"), row, strict=True)))


# --- the read-only role (PostgreSQL) ------------------------------------------------------------

def published_copy_path(engine: Engine) -> Path | None:
    """Where publishing writes the read-only copy of the mart: `published/mart.duckdb` beside the
    embedded warehouse file ($BIZENV_DATA_DIR/published/mart.duckdb by default); None for a
    warehouse that is not a DuckDB file."""
    database = engine.url.database
    if dialect_of(engine) != "duckdb" or database in (None, "", ":memory:"):
        return None
    return Path(database).resolve().parent / PUBLISHED_DIR / PUBLISHED_FILE


def grant_readonly(engine: Engine, role: str) -> None:
    """Let `role` read schema mart, and nothing else, on the PostgreSQL warehouse.

    Creates the role (LOGIN, no password: the operator sets one with `alter role ... password`)
    when it does not exist; grants connect, usage on mart and select on every table and view in
    it, now and for those created later by the user running this (the views are re-created on
    every upgrade); revokes every privilege on core, quarantine and ops and on their tables, and
    create on schema public. The mart's views read core with their owner's rights, so the role
    reads the views without reading core. Raises ReadonlyRoleError for a name that is not a plain
    lowercase identifier, and on the embedded DuckDB warehouse, which has no roles."""
    if not isinstance(role, str) or not _ROLE_NAME.match(role):
        raise ReadonlyRoleError(
            f"role name {role!r} is not a plain identifier: lowercase letters, digits and _, "
            "starting with a letter or _, at most 63 characters")
    if dialect_of(engine) != "postgresql":
        copy = published_copy_path(engine)
        where = str(copy) if copy is not None else f"$BIZENV_DATA_DIR/{PUBLISHED_DIR}/{PUBLISHED_FILE}"
        raise ReadonlyRoleError(
            f"the embedded DuckDB warehouse has no database roles; dashboards open the read-only copy "
            f"of the mart that every publish writes, {where}, with read_only=True "
            "(docs/dashboard-contract.md)")
    from psycopg import sql

    name = sql.Identifier(role)
    with engine.begin() as conn:
        cursor = conn.connection.dbapi_connection.cursor()
        try:
            cursor.execute("select current_database(), exists (select 1 from pg_roles where rolname = %s)",
                           (role,))
            database, exists = cursor.fetchone()
            if not exists:
                cursor.execute(sql.SQL("create role {} login").format(name))
            statements = [
                sql.SQL("grant connect on database {} to {}").format(sql.Identifier(database), name),
                # PostgreSQL before 15 lets every role create in public
                sql.SQL("revoke create on schema public from public"),
                sql.SQL("revoke create on schema public from {}").format(name),
            ]
            for schema in PRIVATE_SCHEMAS:
                statements += [
                    sql.SQL("revoke all on all tables in schema {} from {}").format(sql.Identifier(schema), name),
                    sql.SQL("revoke all on all sequences in schema {} from {}").format(sql.Identifier(schema), name),
                    sql.SQL("revoke all on schema {} from {}").format(sql.Identifier(schema), name),
                    sql.SQL("alter default privileges in schema {} revoke all on tables from {}").format(
                        sql.Identifier(schema), name),
                ]
            mart = sql.Identifier(MART_SCHEMA)
            statements += [
                sql.SQL("revoke all on all tables in schema {} from {}").format(mart, name),
                sql.SQL("revoke create on schema {} from {}").format(mart, name),
                sql.SQL("grant usage on schema {} to {}").format(mart, name),
                sql.SQL("grant select on all tables in schema {} to {}").format(mart, name),
                sql.SQL("alter default privileges in schema {} grant select on tables to {}").format(mart, name),
            ]
            for statement in statements:
                cursor.execute(statement)
        finally:
            cursor.close()
    log.info("role %s may read schema mart only", role)


# --- the published copy (DuckDB) ----------------------------------------------------------------

def mart_relations() -> list[str]:
    """The relations a dashboard reads: every view of sql/marts/ in schema mart, then the tables
    of PUBLISHED_TABLES."""
    from bizenv.migrations.views import load_views

    views = [v.name for v in load_views(SQL_DIR) if v.name.startswith(f"{MART_SCHEMA}.")]
    return [*views, *PUBLISHED_TABLES]


def write_published_copy(conn: Connection, path: Path) -> Path:
    """Write every mart relation of the DuckDB warehouse `conn` reads as a table of the same name
    and columns into a new DuckDB file, then put it in place of `path` atomically: a reader that
    has the old copy open keeps reading it, the next one opens the new one. The file is 0600 like
    every private file (docs/security.md). Returns `path`.

    The tables sit in the file's own schema (main): DuckDB names a database after its file, so in
    `mart.duckdb` a query reads `mart.v_indicator_latest` exactly as on the warehouse, where a
    schema mart inside the file would make that name ambiguous (catalog or schema)."""
    import duckdb

    temporary = path.with_name(f".{path.name}.{secrets.token_hex(4)}.tmp")
    raw = conn.connection.dbapi_connection
    try:
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        copy = duckdb.connect(str(temporary))
        try:
            for relation in mart_relations():
                # names from the repository's own view files, never from input
                rows = raw.sql(f"select * from {relation}").to_arrow_table()  # noqa: S608
                copy.register("published_rows", rows)
                table = relation.split(".", 1)[1]
                copy.execute(f"create table {table} as select * from published_rows")  # noqa: S608
                copy.unregister("published_rows")
            copy.execute("checkpoint")
        finally:
            copy.close()
        os.chmod(temporary, 0o600)
        descriptor = os.open(temporary, os.O_RDONLY)
        try:
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
        os.replace(temporary, path)
    except BaseException as error:
        for leftover in (temporary, temporary.with_name(temporary.name + ".wal")):
            with contextlib.suppress(OSError):
                leftover.unlink(missing_ok=True)
        if isinstance(error, OSError | duckdb.Error):
            cause = error.strerror if isinstance(error, OSError) and error.strerror else str(error)
            raise PublishedCopyError(
                f"cannot write the read-only copy of the mart {path}: {(cause.splitlines() or ['error'])[0]}; "
                "the snapshot run stays validated, publish it again once the cause is fixed") from None
        raise
    sync_directory(path.parent)
    return path
