"""Migrations frozen, views rebuilt: a warehouse built at revision 0001 with data upgrades to head
keeping its rows, and `bizenv db upgrade` re-creates every view from today's files."""

from __future__ import annotations

import shutil

from sqlalchemy import text

from bizenv.migrations.views import load_views
from bizenv.settings import SQL_DIR
from bizenv.warehouse import make_engine, upgrade


def _rows(settings, sql):
    engine = make_engine(settings.warehouse_url)
    try:
        with engine.connect() as conn:
            return conn.execute(text(sql)).fetchall()
    finally:
        engine.dispose()


def test_a_warehouse_at_0001_with_data_upgrades_to_head_with_every_view(warehouse_settings):
    engine = make_engine(warehouse_settings.warehouse_url)
    try:
        with engine.begin() as conn:
            # the fixture's warehouse, emptied: the test builds its own at 0001
            for schema in ("mart", "quarantine", "core", "ops"):
                conn.execute(text(f"drop schema if exists {schema} cascade"))
    finally:
        engine.dispose()
    assert upgrade(warehouse_settings, "0001") == "0001"
    engine = make_engine(warehouse_settings.warehouse_url)
    try:
        with engine.begin() as conn:
            conn.execute(text(
                "insert into ops.batch (batch_id, source, dataset, status, started_at)"
                " values ('b1', 'file', 'registration', 'loaded', cast('2024-06-30 10:00:00' as timestamp))"))
            conn.execute(text(
                "insert into core.market_entity (uscc, valid_from, is_current, name, name_key, entity_type,"
                " region_code, established_date, status, batch_id, changed_at) values ('91152921MA0M00011X',"
                " cast('2024-06-03 09:00:00' as timestamp), true, '驼峰科技有限公司', '驼峰科技', '企业', '152921',"
                " cast('2024-06-03' as date), '存续', 'b1', cast('2024-06-30 10:00:00' as timestamp))"))
    finally:
        engine.dispose()

    assert upgrade(warehouse_settings) == "0014"
    assert _rows(warehouse_settings, "select batch_id, status from ops.batch") == [("b1", "loaded")]
    assert _rows(warehouse_settings, "select uscc, name from core.market_entity") == [
        ("91152921MA0M00011X", "驼峰科技有限公司")]
    engine = make_engine(warehouse_settings.warehouse_url)
    try:
        with engine.connect() as conn:
            for view in load_views(SQL_DIR):
                conn.execute(text(f"select * from {view.name} limit 1")).fetchall()
            surviving = conn.execute(text(
                "select uscc from core.v_entity_month_end"
                " where month_end = cast('2024-07-01' as timestamp) and is_surviving")).fetchall()
    finally:
        engine.dispose()
    assert surviving == [("91152921MA0M00011X",)]


def test_an_edited_view_file_takes_effect_on_the_next_upgrade(warehouse_settings, tmp_path):
    edited = tmp_path / "sql"
    shutil.copytree(SQL_DIR, edited)
    view_file = edited / "views" / "v_region_disagreement.sql"
    view_file.write_text(view_file.read_text(encoding="utf-8").replace(
        "    d.region_code as department_value\n", "    d.region_code as department_value,\n    1 as edited\n"),
        encoding="utf-8")

    def columns():
        engine = make_engine(warehouse_settings.warehouse_url)
        try:
            with engine.connect() as conn:
                return list(conn.execute(text("select * from core.v_region_disagreement limit 0")).keys())
        finally:
            engine.dispose()

    assert "edited" not in columns()
    upgrade(warehouse_settings, sql_dir=edited)
    assert columns()[-1] == "edited"
    upgrade(warehouse_settings, sql_dir=edited)  # idempotent
    assert columns()[-1] == "edited"
    upgrade(warehouse_settings)
    assert "edited" not in columns()
