"""The dashboards' read-only role on PostgreSQL (docs/dashboard-contract.md, "Connecting"): logged
in as it, a dashboard reads every mart view and nothing of core, quarantine or ops, writes
nothing, and finds no personal data; the grant survives the views' re-creation by an upgrade.
The embedded warehouse refuses with one line naming its published copy."""

from __future__ import annotations

import re

import pandas as pd
import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError
from test_indicators import seed_core

from bizenv import codes, indicators
from bizenv.datasets import PERSONAL_ID_COLUMNS, REGISTRATION
from bizenv.ingest import ingest_file
from bizenv.marts import ReadonlyRoleError, grant_readonly, mart_relations
from bizenv.warehouse import make_engine, upgrade

REP_ID = "152921199001011235"  # valid GB 11643 check digit
OTHER_ID = "15292219850607003X"
REP_NAME = "张三丰"
# every column that holds a person's identity somewhere in the warehouse, by name
PERSONAL_COLUMNS = (set(PERSONAL_ID_COLUMNS)
                    | {f"{c}_hash" for c in PERSONAL_ID_COLUMNS} | {f"{c}_masked" for c in PERSONAL_ID_COLUMNS}
                    | {"legal_rep_name"})
_ID_RUN = re.compile(r"(?<![0-9])[0-9]{17}[0-9Xx](?![0-9A-Za-z])")


def _registration_rows(path):
    good = codes.make_uscc("91", "152921", "MA0R0001")
    bad = codes.make_uscc("91", "152921", "MA0R0002")[:-1] + "0"
    values = {"uscc": good, "name": "只读测试有限公司", "entity_type": "企业", "legal_rep_name": REP_NAME,
              "legal_rep_id": REP_ID, "region_code": "152921", "established_date": "2024-06-03",
              "status": "存续", "updated_at": "2024-06-30 10:00:00"}
    rows = [values, {**values, "uscc": bad, "legal_rep_id": OTHER_ID, "name": "校验位有限公司"}]
    pd.DataFrame([[r.get(c.name, "") for c in REGISTRATION.columns] for r in rows],
                 columns=[c.header_zh for c in REGISTRATION.columns]).to_csv(path, index=False, encoding="utf-8")
    return path


def _denied(reader, statement: str, params: dict | None = None) -> str:
    with reader.connect() as conn, pytest.raises(DBAPIError) as error:
        conn.execute(text(statement), params or {}).fetchall()
    return str(error.value.orig).splitlines()[0]


def test_the_role_reads_the_mart_and_nothing_else(postgres_settings, tmp_path) -> None:
    url = make_url(postgres_settings.warehouse_url)
    role = f"dash_{url.database}"  # roles are cluster-wide: one per test database
    engine = make_engine(postgres_settings.warehouse_url)
    reader = create_engine(url.set(username=role, password=None))
    try:
        seed_core(engine)
        loaded = ingest_file(postgres_settings, "registration", _registration_rows(tmp_path / "r.csv"),
                             max_bad_share=0.9)
        assert (loaded.loaded, loaded.quarantined) == (1, 1)
        indicators.compute_snapshot(engine, "2024-06")
        grant_readonly(engine, role)
        grant_readonly(engine, role)  # again: nothing changes, nothing fails
        upgrade(postgres_settings)  # drops and re-creates every view: the grant must follow

        with engine.connect() as conn:
            expected = {relation: conn.execute(text(f"select count(*) from {relation}")).scalar_one()
                        for relation in mart_relations()}
            private = [f"{s}.{t}" for s, t in conn.execute(text(
                "select table_schema, table_name from information_schema.tables"
                " where table_schema in ('core', 'quarantine', 'ops') order by 1, 2"))]
            landing = conn.execute(text("select landing_path from ops.batch where batch_id = :b"),
                                   {"b": loaded.batch_id}).scalar_one()
        assert all(expected[r] > 0 for r in expected), expected
        assert {"core.market_entity", "core.registration", "quarantine.registration", "ops.batch",
                "ops.stage_registration", "ops.pii_key", "quarantine.v_rejected_row"} <= set(private)

        frames = {}
        with reader.connect() as conn:
            assert conn.execute(text("select current_user")).scalar_one() == role
            for relation in mart_relations():
                result = conn.execute(text(f"select * from {relation}"))
                frames[relation] = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
        assert {r: len(f) for r, f in frames.items()} == expected

        for relation in private:
            assert "permission denied" in _denied(reader, f"select * from {relation} limit 1"), relation
        assert "permission denied" in _denied(reader, "select pg_read_file(:path)", {"path": landing})
        for statement in (
            "insert into mart.dim_region values ('152999', '测试', 'county', '152900')",
            "update mart.indicator_snapshot set value = 0",
            "delete from mart.indicator_catalog",
            "create table mart.dashboard_scratch (x integer)",
            "create view mart.v_scratch as select 1 as x",
            "create table public.dashboard_scratch (x integer)",
            "create schema dashboard_scratch",
            "drop view mart.v_indicator_latest",
        ):
            refused = _denied(reader, statement)
            assert "permission denied" in refused or "must be owner" in refused, (statement, refused)

        # no personal data in anything the role can read: no personal column, no resident ID
        # (the loaded one, the quarantined one, or any 18-character number shaped like one) and
        # not the legal representative's name
        for relation, frame in frames.items():
            assert not PERSONAL_COLUMNS & set(frame.columns), relation
            cells = [str(v) for column in frame.columns for v in frame[column].dropna()]
            assert not any(REP_ID in v or OTHER_ID in v or REP_NAME in v for v in cells), relation
            shaped = [n for v in cells for n in _ID_RUN.findall(v) if codes.looks_like_resident_id(n.upper())]
            assert not shaped, relation
        assert "只读测试有限公司" in set(frames["mart.v_enterprise_profile"]["name"])  # the load is there
    finally:
        reader.dispose()
        with engine.begin() as conn:
            if conn.execute(text("select 1 from pg_roles where rolname = :r"), {"r": role}).first():
                conn.execute(text(f'drop owned by "{role}"'))
                conn.execute(text(f'drop role "{role}"'))
        engine.dispose()


def test_role_names_are_plain_identifiers_and_duckdb_points_to_the_copy(duckdb_settings, postgres_settings) -> None:
    engine = make_engine(postgres_settings.warehouse_url)
    try:
        for name in ('dash"; drop table core.registration; --', "Dash", "1dash", "", "a" * 64, "dash-reader"):
            with pytest.raises(ReadonlyRoleError, match="not a plain identifier"):
                grant_readonly(engine, name)
        with engine.connect() as conn:
            assert conn.execute(text("select count(*) from core.registration")).scalar_one() == 0
    finally:
        engine.dispose()
    engine = make_engine(duckdb_settings.warehouse_url)
    try:
        with pytest.raises(ReadonlyRoleError) as refused:
            grant_readonly(engine, "dashboard_reader")
    finally:
        engine.dispose()
    message = str(refused.value)
    assert "\n" not in message
    assert str(duckdb_settings.data_dir / "published" / "mart.duckdb") in message
