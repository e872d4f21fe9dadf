"""Coverage per source and reporting unit (docs/indicators.md, "Coverage per source and reporting
unit"), on DuckDB and PostgreSQL.

Two reporting units, A = 152921 阿拉善左旗 and B = 152922 阿拉善右旗, under P = 152900 阿拉善盟
(a regions file of their own). Registration comes from two sources:

- `amr_registration` delivers A: entity E1, established 2024-05-06, updated Fri 2024-06-28 10:00;
- `zone_registration` delivers B: entity E2, established 2024-06-03, updated 2024-06-20 10:00;
  later (second load) entity E3 of B, established 2024-05-10, updated Mon 2024-07-01 09:00.

June 2024's last statutory working day is Friday 06-28 (06-29/30 are a weekend), so a source
covers June once its latest update is at or after 2024-06-28 00:00. The other three datasets
have no rows from any source.

Before the second load: `amr_registration` covers June (06-28 10:00), `zone_registration` does
not (06-20 10:00). A is covered: its only source delivered and nothing was established there in
June, so new_entities(A) = 0 and surviving_entities(A) = 1 (E1). B waits for
`zone_registration`: no data, although E2 was established there in June. P waits for both
sources: no data. A unit with no row from any source (152923 when asked for) waits for every
source: not covered either.

After the second load `zone_registration` reaches 07-01 09:00: every unit is covered;
new_entities: A 0, B 1 (E2), P 1; surviving_entities: A 1, B 2 (E2, E3), P 3. Read at a cut-off
before the second load, the coverage is the first one again.
"""

from __future__ import annotations

import datetime as dt

import pandas as pd
import pytest
from sqlalchemy import Engine, text

from bizenv import codes, indicators
from bizenv.airflow import monthly
from bizenv.datasets import DATASETS
from bizenv.history import reading_as_of
from bizenv.indicators.freshness import StaleSource, describe_stale, stale_sources, uncovered_units
from bizenv.indicators.reference import refresh_reference_tables
from bizenv.ingest import ingest_file
from bizenv.regions import load_regions
from bizenv.settings import PROJECT_ROOT
from bizenv.warehouse import make_engine, upgrade

A, B, C, P = "152921", "152922", "152923", "152900"
T = dt.datetime
JUNE = (dt.date(2024, 6, 1), dt.date(2024, 7, 1))
E1, E2, E3 = (codes.make_uscc("91", code, f"MA0C{n:04d}") for n, code in ((1, A), (2, B), (3, B)))
HEADERS = [DATASETS["registration"].column(c).header_zh for c in (
    "uscc", "name", "entity_type", "region_code", "established_date", "status", "updated_at")]
REGIONS_FILE = """prefecture:
  code: "152900"
  name: 阿拉善盟
regions:
  - code: "152921"
    name: 阿拉善左旗
  - code: "152922"
    name: 阿拉善右旗
"""
COUNTS = ("new_entities", "surviving_entities")


@pytest.fixture
def engine(warehouse_settings, tmp_path, monkeypatch):
    regions = tmp_path / "regions.yaml"
    regions.write_text(REGIONS_FILE, encoding="utf-8")
    monkeypatch.setenv("BIZENV_REGIONS_FILE", str(regions))
    upgrade(warehouse_settings)  # mart.dim_region follows the two-unit file
    engine = make_engine(warehouse_settings.warehouse_url)
    yield engine
    engine.dispose()


def _deliver(settings, tmp_path, source: str, rows: list[list[str]]):
    path = tmp_path / f"{source}-{len(list(tmp_path.glob('*.csv')))}.csv"
    pd.DataFrame(rows, columns=HEADERS).to_csv(path, index=False, encoding="utf-8")
    summary = ingest_file(settings, "registration", path, source=source)
    assert summary.status == "loaded" and summary.loaded == len(rows)


def _first_loads(settings, tmp_path) -> None:
    _deliver(settings, tmp_path, "amr_registration",
             [[E1, "驼峰科技有限公司", "企业", A, "2024-05-06", "存续", "2024-06-28 10:00:00"]])
    _deliver(settings, tmp_path, "zone_registration",
             [[E2, "胡杨商贸有限公司", "企业", B, "2024-06-03", "存续", "2024-06-20 10:00:00"]])


def _second_load(settings, tmp_path) -> None:
    _deliver(settings, tmp_path, "zone_registration",
             [[E3, "戈壁物流有限公司", "企业", B, "2024-05-10", "存续", "2024-07-01 09:00:00"]])


def _counts(engine: Engine, run_id: str) -> dict[tuple[str, str], float | None]:
    with engine.connect() as conn:
        rows = conn.execute(text(
            "select indicator_code, region_code, value from mart.indicator_snapshot"
            " where run_id = :run_id and breakdown = '' and indicator_code in ('new_entities', 'surviving_entities')"),
            {"run_id": run_id}).all()
    return {(i, r): (None if v is None else float(v)) for i, r, v in rows}


def _uncovered(engine: Engine, unit_codes: list[str]) -> dict[str, set[str]]:
    with engine.connect() as conn:
        return uncovered_units(conn, *JUNE, unit_codes)


NOTHING_DELIVERED = {"tax_filing": {P, A, B}, "credit_record": {P, A, B}, "real_estate_case": {P, A, B}}


def test_a_unit_waits_only_for_the_sources_that_feed_it(warehouse_settings, engine, tmp_path) -> None:
    _first_loads(warehouse_settings, tmp_path)

    assert _uncovered(engine, [P, A, B]) == {"registration": {P, B}, **NOTHING_DELIVERED}
    # a unit no source delivered a row for waits for every source of the dataset
    assert _uncovered(engine, [P, A, B, C])["registration"] == {P, B, C}
    assert stale_sources(engine, "2024-06") == [
        StaleSource("registration", "zone_registration", (B,), T(2024, 6, 20, 10, 0)),
        StaleSource("tax_filing", None, (), None),
        StaleSource("credit_record", None, (), None),
        StaleSource("real_estate_case", None, (), None),
    ]
    assert indicators.stale_datasets(engine, "2024-06") == [
        "registration", "tax_filing", "credit_record", "real_estate_case"]
    # May: both sources updated after Fri 05-31
    with engine.connect() as conn:
        assert "registration" not in uncovered_units(conn, dt.date(2024, 5, 1), dt.date(2024, 6, 1), [P, A, B])

    run = indicators.compute(engine, "2024-06")
    assert _counts(engine, run.run_id) == {
        ("new_entities", A): 0.0, ("new_entities", B): None, ("new_entities", P): None,
        ("surviving_entities", A): 1.0, ("surviving_entities", B): None, ("surviving_entities", P): None,
    }

    _second_load(warehouse_settings, tmp_path)
    assert _uncovered(engine, [P, A, B, C]) == {
        k: v | {C} for k, v in NOTHING_DELIVERED.items()}
    run = indicators.compute(engine, "2024-06")
    assert _counts(engine, run.run_id) == {
        ("new_entities", A): 0.0, ("new_entities", B): 1.0, ("new_entities", P): 1.0,
        ("surviving_entities", A): 1.0, ("surviving_entities", B): 2.0, ("surviving_entities", P): 3.0,
    }


def test_coverage_read_at_a_past_cutoff_is_the_coverage_then(warehouse_settings, engine, tmp_path) -> None:
    _first_loads(warehouse_settings, tmp_path)
    with engine.connect() as conn:
        cutoff = conn.execute(text("select max(changed_at) from core.registration_version")).scalar_one()
    _second_load(warehouse_settings, tmp_path)
    assert "registration" not in _uncovered(engine, [P, A, B])
    with engine.begin() as conn, reading_as_of(conn, cutoff):
        assert uncovered_units(conn, *JUNE, [P, A, B])["registration"] == {P, B}


def test_the_gate_names_the_stale_source_and_unit(warehouse_settings, engine, tmp_path, monkeypatch) -> None:
    import pendulum
    from airflow.sdk.exceptions import AirflowFailException

    _first_loads(warehouse_settings, tmp_path)
    monkeypatch.setattr(monthly, "task_settings", lambda: warehouse_settings)
    start = pendulum.datetime(2024, 6, 1, 3, tz="Asia/Shanghai")
    with pytest.raises(AirflowFailException) as failed:
        monthly.freshness_gate(start, start.add(months=1), dt.timedelta(hours=12))
    assert str(failed.value) == (
        "department data for 2024-06 is stale after the deadline: registration (source zone_registration "
        "up to 2024-06-20 10:00: 152922 阿拉善右旗), tax_filing, credit_record, real_estate_case")
    # before the deadline the gate waits
    assert monthly.freshness_gate(start, pendulum.now("UTC"), dt.timedelta(hours=12)).is_done is False
    # a source feeding several units, and the prefecture's own code, are named with every unit
    late = StaleSource("registration", "amr_registration", (P, A, B), None)
    assert describe_stale([late], load_regions()) == (
        "registration (source amr_registration up to no update time: 152900 阿拉善盟 / 152921 阿拉善左旗 / "
        "152922 阿拉善右旗)")


def test_the_coverage_view(warehouse_settings, engine, tmp_path) -> None:
    _first_loads(warehouse_settings, tmp_path)
    with engine.begin() as conn:  # the working-day calendar through June, as June's snapshot stores it
        refresh_reference_tables(conn, "2024-06")
    query = text(
        "select dataset, department_name, source_name, region_code, region_name, latest_updated_at,"
        " source_latest_updated_at, last_working_day, covered from mart.v_source_coverage"
        " where month = :month order by dataset, region_code, source_name")
    with engine.connect() as conn:
        june = [tuple(r) for r in conn.execute(query, {"month": dt.date(2024, 6, 1)})]
        months = {r[0] for r in conn.execute(text("select distinct month from mart.v_source_coverage"))}
        latest_batch = conn.execute(text("select max(started_at) from ops.batch")).scalar_one()
    last = dt.date(2024, 6, 28)
    nothing = [(dataset, DATASETS[dataset].department_zh, None, code, name, None, None, last, False)
               for dataset in ("credit_record", "real_estate_case")
               for code, name in ((P, "阿拉善盟"), (A, "阿拉善左旗"), (B, "阿拉善右旗"))]
    assert june == [
        *nothing,
        ("registration", "市场监管局", "amr_registration", P, "阿拉善盟", T(2024, 6, 28, 10), T(2024, 6, 28, 10),
         last, True),
        ("registration", "市场监管局", "zone_registration", P, "阿拉善盟", T(2024, 6, 20, 10), T(2024, 6, 20, 10),
         last, False),
        ("registration", "市场监管局", "amr_registration", A, "阿拉善左旗", T(2024, 6, 28, 10), T(2024, 6, 28, 10),
         last, True),
        ("registration", "市场监管局", "zone_registration", B, "阿拉善右旗", T(2024, 6, 20, 10), T(2024, 6, 20, 10),
         last, False),
        *[("tax_filing", "税务局", None, code, name, None, None, last, False)
          for code, name in ((P, "阿拉善盟"), (A, "阿拉善左旗"), (B, "阿拉善右旗"))],
    ]
    # the months the stored calendar (2023-01-01 to 2024-06-30, for June's snapshot) and the batches
    # (loaded today, in Asia/Shanghai) reach
    batch_month = (latest_batch + dt.timedelta(hours=8)).date().replace(day=1)
    assert min(months) == dt.date(2023, 1, 1) and max(months) == max(batch_month, dt.date(2024, 6, 1))
    assert len(months) == (max(months).year - 2023) * 12 + max(months).month

    # a unit no source delivered a row for waits for every source (latest_updated_at null)
    regions = tmp_path / "three.yaml"
    regions.write_text(REGIONS_FILE + '  - code: "152923"\n    name: 额济纳旗\n', encoding="utf-8")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("BIZENV_REGIONS_FILE", str(regions))
        upgrade(warehouse_settings)
        with engine.connect() as conn:
            unfed = [tuple(r) for r in conn.execute(text(
                "select source_name, latest_updated_at, source_latest_updated_at, covered"
                " from mart.v_source_coverage where month = :month and dataset = 'registration'"
                " and region_code = :code order by source_name"), {"month": dt.date(2024, 6, 1), "code": C})]
        assert unfed == [("amr_registration", None, T(2024, 6, 28, 10), True),
                         ("zone_registration", None, T(2024, 6, 20, 10), False)]
    upgrade(warehouse_settings)


def test_the_view_agrees_with_the_snapshot_rule(warehouse_settings, engine, tmp_path) -> None:
    """Per unit, the view's rows are all covered exactly when uncovered_units leaves it out."""
    _first_loads(warehouse_settings, tmp_path)
    with engine.begin() as conn:
        refresh_reference_tables(conn, "2024-06")
    with engine.connect() as conn:
        rows = conn.execute(text(
            "select dataset, region_code, covered from mart.v_source_coverage where month = :month"),
            {"month": dt.date(2024, 6, 1)}).all()
    from_view: dict[str, set[str]] = {}
    for dataset, code, covered in rows:
        if not covered:
            from_view.setdefault(dataset, set()).add(code)
    assert from_view == _uncovered(engine, [P, A, B])


def test_the_view_names_the_departments_of_the_dataset_contracts() -> None:
    view = (PROJECT_ROOT / "sql" / "marts" / "v_source_coverage.sql").read_text(encoding="utf-8")
    for dataset in ("registration", "tax_filing", "credit_record", "real_estate_case"):
        assert f"('{dataset}', '{DATASETS[dataset].department_zh}')" in view
