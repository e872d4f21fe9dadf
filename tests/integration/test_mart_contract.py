"""The dashboard mart as docs/dashboard-contract.md describes it, on DuckDB and PostgreSQL: the
columns and types of every view, a comment in Chinese and English on every view and column, the
page listing every column, the indicator views on the hand-built month of test_indicators, the
data-quality view on deliveries with known defects, and mart.dim_region following regions.yaml."""

from __future__ import annotations

import datetime as dt
import re

import pandas as pd
import pytest
from sqlalchemy import Engine, text
from test_indicators import A, B, C, P, seed_core

from bizenv import codes, indicators
from bizenv.datasets import DATASETS, TAX_FILING
from bizenv.indicators.reference import refresh_reference_tables
from bizenv.ingest import ingest_file
from bizenv.marts import mart_relations
from bizenv.settings import CONFIG_DIR, PROJECT_ROOT
from bizenv.warehouse import make_engine, upgrade

DOC = PROJECT_ROOT / "docs" / "dashboard-contract.md"
INDICATOR_COLUMNS = [
    "month", "region_code", "region_name", "indicator_code", "breakdown", "name_zh", "name_en", "unit",
    "direction", "value", "numerator", "denominator", "sample_size", "target", "target_operator", "meets_target",
    "attainment", "attainment_zh", "previous_value", "last_year_value", "within_limit_share", "policy_limit",
    "p90_value", "cases_without_time", "backlog_open", "backlog_oldest_workdays", "version", "run_id", "computed_at",
    "final_from", "release_stage",
]
QUALITY_COLUMNS = [
    "department_code", "department_name", "source_name", "dataset", "month", "received_rows", "loaded_rows",
    "quarantined_rows", "duplicate_rows", "top_reasons", "last_successful_load_at", "latest_changed_at", "is_fresh",
]
# the page's portable type names, as each warehouse reports them
TYPES = {
    "text": {"character varying", "text", "VARCHAR"},
    "date": {"date", "DATE"},
    "double": {"double precision", "DOUBLE"},
    "bigint": {"bigint", "BIGINT"},
    "boolean": {"boolean", "BOOLEAN"},
    "timestamp": {"timestamp without time zone", "TIMESTAMP"},
    "numeric(20,2)": {"numeric(20,2)", "DECIMAL(20,2)"},
}
REGISTRATION_HEADERS = [DATASETS["registration"].column(c).header_zh for c in (
    "uscc", "name", "entity_type", "region_code", "established_date", "status", "updated_at")]


@pytest.fixture
def engine(warehouse_settings):
    engine = make_engine(warehouse_settings.warehouse_url)
    yield engine
    engine.dispose()


def live_columns(engine: Engine) -> dict[str, list[tuple[str, str]]]:
    """(column, type) of every mart relation dashboards read, from the warehouse's catalog."""
    found = {}
    with engine.connect() as conn:
        for relation in mart_relations():
            schema, name = relation.split(".")
            if engine.dialect.name == "postgresql":
                rows = conn.execute(text(
                    "select a.attname, format_type(a.atttypid, a.atttypmod) from pg_attribute as a"
                    " where a.attrelid = cast(:relation as regclass) and a.attnum > 0 and not a.attisdropped"
                    " order by a.attnum"), {"relation": relation}).all()
            else:
                rows = conn.execute(text(
                    "select column_name, data_type from duckdb_columns()"
                    " where schema_name = :schema and table_name = :name order by column_index"),
                    {"schema": schema, "name": name}).all()
            found[relation] = [(str(c), str(t).replace(", ", ",")) for c, t in rows]
    return found


def documented_columns() -> dict[str, list[tuple[str, str]]]:
    """(column, type) of each relation's table on docs/dashboard-contract.md, "Columns"."""
    documented: dict[str, list[tuple[str, str]]] = {}
    current = None
    for line in DOC.read_text(encoding="utf-8").split("## Columns", 1)[1].splitlines():
        heading = re.match(r"^### `([a-z_]+\.[a-z_]+)`", line)
        if heading:
            current = documented.setdefault(heading.group(1), [])
            continue
        row = re.match(r"^\| `([a-z_0-9]+)` \| ([^|]+) \|", line)
        if row and current is not None:
            current.append((row.group(1), row.group(2).strip()))
    return documented


def test_every_mart_column_is_documented_typed_and_commented_in_both_languages(engine) -> None:
    live = live_columns(engine)
    assert set(live) == {"mart.v_indicator_trend", "mart.v_indicator_latest", "mart.v_data_quality",
                         "mart.v_enterprise_profile", "mart.dim_region", "mart.v_source_coverage"}
    assert [c for c, _ in live["mart.v_indicator_trend"]] == INDICATOR_COLUMNS
    assert [c for c, _ in live["mart.v_indicator_latest"]] == INDICATOR_COLUMNS
    assert [c for c, _ in live["mart.v_data_quality"]] == QUALITY_COLUMNS
    assert [c for c, _ in live["mart.dim_region"]] == ["region_code", "region_name", "level", "parent_code"]

    documented = documented_columns()
    assert set(documented) == set(live)
    for relation, columns in live.items():
        assert [c for c, _ in documented[relation]] == [c for c, _ in columns], relation
        for (column, kind), (_, doc_kind) in zip(columns, documented[relation], strict=True):
            assert kind in TYPES[doc_kind], (relation, column, kind, doc_kind)

    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            listed = conn.execute(text(
                "select n.nspname || '.' || k.relname, a.attname, col_description(k.oid, a.attnum)"
                " from pg_class as k"
                " inner join pg_namespace as n on n.oid = k.relnamespace"
                " inner join pg_attribute as a on a.attrelid = k.oid and a.attnum > 0 and not a.attisdropped"
                " where n.nspname = 'mart'"
                " union all"
                " select n.nspname || '.' || k.relname, '', obj_description(k.oid, 'pg_class')"
                " from pg_class as k inner join pg_namespace as n on n.oid = k.relnamespace"
                " where n.nspname = 'mart'")).all()
        else:
            listed = conn.execute(text(
                "select 'mart.' || table_name, column_name, comment from duckdb_columns() where schema_name = 'mart'"
                " union all select 'mart.' || view_name, '', comment from duckdb_views() where schema_name = 'mart'"
                " union all select 'mart.' || table_name, '', comment from duckdb_tables()"
                " where schema_name = 'mart'")).all()
    comments = {(relation, column): comment or "" for relation, column, comment in listed}
    for relation, columns in live.items():
        for column in ["", *(c for c, _ in columns)]:
            comment = comments.get((relation, column), "")
            # Chinese, then " / ", then English
            assert re.search(r"[\u4e00-\u9fff].* / .*[A-Za-z]{3}", comment), (relation, column, comment)


def test_the_indicator_views_follow_the_newest_published_month(engine) -> None:
    seed_core(engine)
    indicators.compute_snapshot(engine, "2024-06")
    indicators.compute_snapshot(engine, "2024-05")  # an older month published later
    indicators.compute_snapshot(engine, "2024-06")  # version 2 of June
    with engine.connect() as conn:
        trend = pd.DataFrame(conn.execute(text("select * from mart.v_indicator_trend")).mappings().all())
        latest = pd.DataFrame(conn.execute(text("select * from mart.v_indicator_latest")).mappings().all())
    june, may = dt.date(2024, 6, 1), dt.date(2024, 5, 1)
    assert sorted(set(trend["month"])) == [may, june]
    assert set(trend.loc[trend["month"] == june, "version"]) == {2}
    assert set(trend.loc[trend["month"] == may, "run_id"]) == {"2024-05-v1"}
    # one row per indicator x unit x breakdown, each from its newest month
    keys = ["indicator_code", "region_code", "breakdown"]
    assert not latest.duplicated(keys).any()
    newest = trend.groupby(keys)["month"].max().rename("newest").reset_index()
    assert len(latest) == len(newest)
    assert (latest.merge(newest, on=keys).eval("month == newest")).all()
    assert set(latest["run_id"]) <= {"2024-06-v2", "2024-05-v1"}

    shown = latest[latest["breakdown"] == ""].set_index(["region_code", "indicator_code"])
    assert shown.loc[(A, "startup_workdays_median"), ["region_name", "attainment", "attainment_zh"]].tolist() == [
        "阿拉善左旗", "insufficient_sample", "样本不足"]  # 0.375 of 2 cases
    assert shown.loc[(P, "startup_workdays_median"), ["region_name", "attainment", "attainment_zh", "value"]
                     ].tolist() == ["阿拉善盟", "met", "达标", 0.4375]
    assert shown.loc[(P, "full_e_registration_rate"), ["attainment", "target", "target_operator"]].tolist() == [
        "missed", 0.95, ">="]  # 4/7
    assert shown.loc[(C, "tax_online_rate"), ["region_name", "attainment", "attainment_zh"]].tolist() == [
        "额济纳旗", "no_data", "无数据"]
    assert shown.loc[(B, "new_entities"), ["attainment", "attainment_zh"]].tolist() == ["no_target", "无目标"]
    assert shown.loc[(A, "startup_workdays_median"), "meets_target"] is None
    assert bool(shown.loc[(P, "startup_workdays_median"), "meets_target"]) is True
    assert shown.loc[(P, "new_entities"), "value"] == 7
    assert shown.loc[(P, "new_entities"), "previous_value"] == 0  # May, published before June's version 2

    # `bizenv indicators show` reads the same rows and keeps its columns
    frame = indicators.show(engine, "2024-06")
    assert list(frame.columns) == indicators.SHOW_COLUMNS
    assert set(frame["month"]) == {"2024-06"} and set(frame["version"]) == {2}
    assert len(frame) == int((trend["month"] == june).sum())


def _registration_file(path, rows):
    pd.DataFrame(rows, columns=REGISTRATION_HEADERS).to_csv(path, index=False, encoding="utf-8")
    return path


def _set_finished(engine: Engine, batch_id: str, finished_at: str) -> None:
    with engine.begin() as conn:
        conn.execute(text("update ops.batch set finished_at = cast(:at as timestamp) where batch_id = :batch_id"),
                     {"at": finished_at, "batch_id": batch_id})


def test_data_quality_per_department_source_and_month(warehouse_settings, engine, tmp_path) -> None:
    uscc = [codes.make_uscc("91", "152921", f"MA0Q{n:04d}") for n in range(10)]
    wrong_check = [u[:-1] + ("0" if u[-1] != "0" else "1") for u in uscc[1:4]]
    june = _registration_file(tmp_path / "june.csv", [
        [uscc[0], "驼峰科技有限公司", "企业", "152921", "2024-06-03", "存续", "2024-06-30 10:00:00"],
        [uscc[0], "驼峰科技有限公司", "企业", "152921", "2024-06-03", "存续", "2024-06-30 10:00:00"],
        *[[u, f"校验位{n}有限公司", "企业", "152921", "2024-06-04", "存续", "2024-06-20 10:00:00"]
          for n, u in enumerate(wrong_check)],
        [uscc[4], "", "企业", "152921", "2024-06-04", "存续", "2024-06-20 10:00:00"],
        [uscc[5], "", "企业", "152921", "2024-06-04", "存续", "2024-06-20 10:00:00"],
        [uscc[6], "类型有限公司", "公司", "152921", "2024-06-04", "存续", "2024-06-20 10:00:00"],
        [uscc[7], "区划有限公司", "企业", "110101", "2024-06-04", "存续", "2024-06-20 10:00:00"],
    ])
    first = ingest_file(warehouse_settings, "registration", june, max_bad_share=0.9)
    assert (first.extracted, first.loaded, first.quarantined, first.duplicates) == (9, 1, 7, 1)
    # another source of the same dataset, finished in August, whose records are older
    august = ingest_file(warehouse_settings, "registration", _registration_file(tmp_path / "august.csv", [
        [uscc[8], "八月有限公司", "企业", "152922", "2024-05-06", "存续", "2024-06-01 09:00:00"]]),
        source="amr_registration")
    tax = tmp_path / "tax.csv"
    pd.DataFrame([["T1", uscc[0], "152921", "2024-05", "2024-06-20 09:00:00", "电子税务局", "2024-06-20 09:30:00"]],
                 columns=[TAX_FILING.column(c).header_zh for c in (
                     "filing_id", "uscc", "region_code", "tax_period", "filed_at", "channel", "updated_at")]
                 ).to_csv(tax, index=False, encoding="utf-8")
    taxes = ingest_file(warehouse_settings, "tax_filing", tax)
    _set_finished(engine, first.batch_id, "2024-06-30 12:00:00")  # 20:00 on 06-30 in Shanghai
    _set_finished(engine, taxes.batch_id, "2024-06-30 16:30:00")  # 00:30 on 07-01 in Shanghai: July
    _set_finished(engine, august.batch_id, "2024-08-02 02:00:00")
    with engine.begin() as conn:  # the working-day calendar through July, as July's snapshot stores it
        refresh_reference_tables(conn, "2024-07")

    with engine.connect() as conn:
        rows = conn.execute(text("select * from mart.v_data_quality order by month, dataset")).all()
    assert [tuple(r) for r in rows] == [
        ("market", "市场监管局", "file", "registration", dt.date(2024, 6, 1), 9, 1, 7, 1,
         "uscc_check_char 3; required 2; not_in_allowed_values 1", dt.datetime(2024, 6, 30, 12, 0),
         dt.datetime(2024, 6, 30, 2, 0), True),  # updated 06-30, last working day 06-28
        ("tax", "税务局", "file", "tax_filing", dt.date(2024, 7, 1), 1, 1, 0, 0, "",
         dt.datetime(2024, 6, 30, 16, 30), dt.datetime(2024, 6, 20, 1, 30), False),  # before 07-31
        ("market", "市场监管局", "amr_registration", "registration", dt.date(2024, 8, 1), 1, 1, 0, 0, "",
         dt.datetime(2024, 8, 2, 2, 0), dt.datetime(2024, 6, 1, 1, 0), None),  # August: no calendar stored
    ]
    for department, dataset in {(r[1], r[3]) for r in rows}:
        assert DATASETS[dataset].department_zh == department


def test_dim_region_follows_the_regions_file(warehouse_settings, engine, tmp_path, monkeypatch) -> None:
    def stored():
        with engine.connect() as conn:
            return [tuple(r) for r in conn.execute(text("select * from mart.dim_region order by region_code"))]

    shipped = [("152900", "阿拉善盟", "prefecture", None), ("152921", "阿拉善左旗", "county", "152900"),
               ("152922", "阿拉善右旗", "county", "152900"), ("152923", "额济纳旗", "county", "152900")]
    assert stored() == shipped
    regions = tmp_path / "regions.yaml"
    text_of = (CONFIG_DIR / "regions.yaml").read_text(encoding="utf-8")
    regions.write_text(text_of.replace("额济纳旗", "额济纳旗（测试）") + (
        '  - code: "152971"\n    name: 阿拉善经济开发区\n    kind: 开发区\n'), encoding="utf-8")
    monkeypatch.setenv("BIZENV_REGIONS_FILE", str(regions))
    upgrade(warehouse_settings)
    renamed = [*shipped[:3], ("152923", "额济纳旗（测试）", "county", "152900"),
               ("152971", "阿拉善经济开发区", "county", "152900")]
    assert stored() == renamed
    regions.write_text(text_of, encoding="utf-8")
    with engine.begin() as conn:  # a snapshot computation brings it back to the file too
        refresh_reference_tables(conn, "2024-06")
    assert stored() == shipped
