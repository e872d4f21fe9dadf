"""`bizenv indicators show` and `bizenv quarantine list` as a person reads them, end to end through
the command line against a real warehouse, on DuckDB and on PostgreSQL.

The published month is June 2024 of the hand-built core rows of test_indicators.py, whose values
are worked out by hand there (EXPECTED_JUNE); the quarantined rows come from a small department
file delivered through `bizenv ingest-file`, one of them corrected by a second delivery. Last,
`bizenv db grant-readonly` wired to bizenv.marts.grant_readonly, one line either way.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
import stdnum.cn.ric as ric
from sqlalchemy import text
from sqlalchemy.engine import make_url
from test_indicators import seed_core

from bizenv import cli, codes
from bizenv.settings import Settings
from bizenv.tables import display_width
from bizenv.warehouse import make_engine


@pytest.fixture
def warehouse(warehouse_settings: Settings, monkeypatch) -> Settings:
    """The warehouse as the command line finds it: through the environment only."""
    settings = warehouse_settings
    monkeypatch.setenv("BIZENV_DATA_DIR", str(settings.data_dir))
    monkeypatch.setenv("BIZENV_WAREHOUSE_URL", settings.warehouse_url)
    monkeypatch.setenv("BIZENV_PII_KEY_FILE", str(settings.pii_key_file))
    for variable in ("BIZENV_PII_KEY", "BIZENV_LANDING_ROOT", "BIZENV_REGIONS_FILE", "BIZENV_INDICATORS_FILE"):
        monkeypatch.delenv(variable, raising=False)
    return settings


def run(capsys, *argv: str) -> list[str]:
    capsys.readouterr()
    assert cli.main(list(argv)) == 0, argv
    return capsys.readouterr().out.rstrip("\n").split("\n")


def assert_aligned(lines: list[str]) -> None:
    """Every gap of the dashed rule is blank on every line, counted in terminal columns."""
    gaps = [i for i, char in enumerate(lines[1]) if char == " "]
    for line in lines:
        columns, at = {}, 0
        for char in line:
            for offset in range(display_width(char)):
                columns[at + offset] = char
            at += display_width(char)
        assert all(columns.get(gap, " ") == " " for gap in gaps), line




def test_indicators_show_prints_the_published_month_as_an_aligned_table(warehouse, capsys):
    engine = make_engine(warehouse.warehouse_url)
    try:
        seed_core(engine)
    finally:
        engine.dispose()
    assert run(capsys, "indicators", "compute", "--month", "2024-06")[0].startswith('{"run_id"')

    # EXPECTED_JUNE of test_indicators.py, prefecture row: 7 and 11 entities; start-up median
    # 0.4375 of 6 cases (达标 ≤ 0.5); 4 of 7 fully online (未达标 ≥ 95%); real estate 0.125 of 8
    # (half up: 0.13), its 登记类型 parts below the minimum sample of 5; 3 of 7 filings online;
    # refunds 0.6875 (no target); 2 of 11 listed; 3 records per 11 entities; 18 of 22 matched
    assert run(capsys, "indicators", "show", "--month", "2024-06", "--region", "152900") == [
        "区划代码  区划      指标                分项      单位       数值     目标  达标      样本量  上月  去年同期",
        "--------  --------  ------------------  --------  --------  -----  -------  --------  ------  ----  --------",
        "152900    阿拉善盟  新设市场主体数      —         户            7        —  无目标         7     —         —",
        "152900    阿拉善盟  存续市场主体数      —         户           11        —  无目标        11     —         —",
        "152900    阿拉善盟  企业设立登记时长    —         个工作日   0.44   ≤ 0.50  达标           6     —         —",
        "152900    阿拉善盟  全程电子化登记率    —         %         57.1%  ≥ 95.0%  未达标         7     —         —",
        "152900    阿拉善盟  企业不动产登记时长  —         个工作日   0.13   ≤ 0.50  达标           8     —         —",
        "152900    阿拉善盟  企业不动产登记时长  查封登记  个工作日   0.00   ≤ 0.50  样本不足       2     —         —",
        "152900    阿拉善盟  企业不动产登记时长  注销抵押  个工作日   0.00   ≤ 0.50  样本不足       2     —         —",
        "152900    阿拉善盟  企业不动产登记时长  转移登记  个工作日   0.50   ≤ 0.50  样本不足       4     —         —",
        "152900    阿拉善盟  网上办税率          —         %         42.9%  ≥ 90.0%  未达标         7     —         —",
        "152900    阿拉善盟  退税办理时长        —         个工作日   0.69        —  无目标         5     —         —",
        "152900    阿拉善盟  严重失信主体占比    —         %         18.2%        —  无目标        11     —         —",
        "152900    阿拉善盟  履约践诺信息占比    —         条/户      0.27        —  无目标        11     —         —",
        "152900    阿拉善盟  跨部门数据关联率    —         %         81.8%        —  无目标        22     —         —",
    ]

    # 额济纳旗 has no rows: its counts are 0 (registration delivered for June), everything else
    # has no value, shown as the one marker
    shown = run(capsys, "indicators", "show", "--month", "2024-06", "--region", "152923")
    assert shown == [
        "区划代码  区划      指标                分项  单位      数值     目标  达标    样本量  上月  去年同期",
        "--------  --------  ------------------  ----  --------  ----  -------  ------  ------  ----  --------",
        "152923    额济纳旗  新设市场主体数      —     户           0        —  无目标       0     —         —",
        "152923    额济纳旗  存续市场主体数      —     户           0        —  无目标       0     —         —",
        "152923    额济纳旗  企业设立登记时长    —     个工作日     —   ≤ 0.50  无数据       0     —         —",
        "152923    额济纳旗  全程电子化登记率    —     %            —  ≥ 95.0%  无数据       0     —         —",
        "152923    额济纳旗  企业不动产登记时长  —     个工作日     —   ≤ 0.50  无数据       0     —         —",
        "152923    额济纳旗  网上办税率          —     %            —  ≥ 90.0%  无数据       0     —         —",
        "152923    额济纳旗  退税办理时长        —     个工作日     —        —  无目标       0     —         —",
        "152923    额济纳旗  严重失信主体占比    —     %            —        —  无目标       0     —         —",
        "152923    额济纳旗  履约践诺信息占比    —     条/户        —        —  无目标       0     —         —",
        "152923    额济纳旗  跨部门数据关联率    —     %            —        —  无目标       0     —         —",
    ]
    assert_aligned(shown)
    for spelling in ("nan", "NaN", "None", "<NA>", "NaT"):
        assert not any(spelling in line for line in shown)

    # the machine-readable forms keep every column of the snapshot
    records = json.loads("\n".join(run(capsys, "indicators", "show", "--month", "2024-06", "--region", "152921",
                                       "--format", "json")))
    full_e = next(r for r in records if r["indicator_code"] == "full_e_registration_rate")
    assert (full_e["value"], full_e["numerator"], full_e["denominator"]) == (pytest.approx(2 / 3), 2, 3)
    assert {"run_id", "version", "within_limit_share", "p90_value", "backlog_open"} <= set(full_e)
    csv_lines = run(capsys, "indicators", "show", "--month", "2024-06", "--region", "152921", "--format", "csv")
    assert csv_lines[0].startswith("month,region_code,indicator_code,name_zh,name_en,unit,value,")
    assert len(csv_lines) == 1 + 10 + 3  # ten indicators, three 登记类型 parts


def resident_id(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "0")


HEADERS = ("统一社会信用代码,注册号,企业名称,市场主体类型,法定代表人,法定代表人证件号码,所属区划代码,行业代码,"
           "注册资本(万元),成立日期,申请时间,核准时间,办理方式,业务类型,登记状态,状态日期,更新时间")


def registration_line(uscc: str, name: str, person_id: str) -> str:
    return (f"{uscc},,{name},企业,王伟,{person_id},152921,F5211,50,2024-06-03,2024-06-03 09:00:00,"
            "2024-06-03 11:00:00,全程电子化,设立,存续,,2024-06-03 11:00:00")


def test_quarantine_list_prints_masked_reasons_as_an_aligned_table(warehouse, tmp_path, capsys):
    person = resident_id("15292119800101123")
    good = codes.make_uscc("91", "152921", "MA0N0001")
    corrected = codes.make_uscc("91", "152921", "MA0N0002")
    wrong_check = corrected[:-1] + ("0" if corrected[-1] != "0" else "1")
    delivered = tmp_path / "市场监管局2024-06.csv"
    delivered.write_text("\n".join([
        HEADERS,
        registration_line(good, "驼峰科技有限公司", person),
        registration_line(wrong_check, "沙漠之舟商贸有限公司", person),  # a typo in the USCC's check character
        registration_line(person, "额济纳胡杨林业有限公司", person),  # a person's ID where the USCC goes
    ]) + "\n", encoding="utf-8")
    first = json.loads(run(capsys, "ingest-file", "registration", str(delivered), "--max-bad-share", "1")[0])
    assert (first["loaded"], first["quarantined"]) == (1, 2)

    engine = make_engine(warehouse.warehouse_url)
    try:  # a fixed time, so the table's Asia/Shanghai column is literal
        with engine.begin() as conn:
            conn.execute(text("update quarantine.registration set quarantined_at = :at"),
                         {"at": dt.datetime(2024, 7, 1, 2, 0, 5)})
    finally:
        engine.dispose()

    masked = codes.mask_resident_id(person)
    batch = first["batch_id"]
    assert len(batch) == len("registration-20240701T020000-1a2b3c4d")  # so the columns' widths are known
    lines = run(capsys, "quarantine", "list")
    # row 2 loaded; row 3's USCC has a wrong check character; row 4 carries a resident ID where
    # the USCC goes: its record key is dropped and the reason quotes the number masked
    assert (wrong_check, masked) == ("91152921MA0N000240", "1529**********1230")
    assert lines == [
        "数据集        批次号                                 文件名                 行号  记录键              "
        "区划代码  问题说明                                                                                  发现时间",
        "------------  -------------------------------------  ---------------------  ----  ------------------  "
        "--------  ----------------------------------------------------------------------------------------  "
        "-------------------",
        f"registration  {batch}  市场监管局2024-06.csv     3  91152921MA0N000240  152921    "
        "统一社会信用代码「91152921MA0N000240」：统一社会信用代码校验位错误                        2024-07-01 10:00:05",
        f"registration  {batch}  市场监管局2024-06.csv     4  —                   152921    "
        "统一社会信用代码「1529**********1230」：此处应为统一社会信用代码，填写的是居民身份证号码  2024-07-01 10:00:05",
    ]
    assert_aligned(lines)
    assert person not in "\n".join(lines)

    # the corrected re-delivery resolves the typo row (same name, 成立日期 and region); --all
    # shows each row's state and the batch that resolved it
    again = tmp_path / "市场监管局2024-06更正.csv"
    again.write_text("\n".join([HEADERS, registration_line(corrected, "沙漠之舟商贸有限公司", person)]) + "\n",
                     encoding="utf-8")
    second = json.loads(run(capsys, "ingest-file", "registration", str(again))[0])
    assert (second["loaded"], second["quarantined"]) == (1, 0)
    everything = run(capsys, "quarantine", "list", "--all")
    assert [line.split("10:00:05  ")[-1] for line in everything[2:]] == [f"已更正  {second['batch_id']}", "待更正  —"]
    assert everything[0].endswith("发现时间             状态    更正批次")
    assert_aligned(everything)
    assert run(capsys, "quarantine", "list")[2:] == [
        f"registration  {batch}  市场监管局2024-06.csv     4  —       152921    "
        "统一社会信用代码「1529**********1230」：此处应为统一社会信用代码，填写的是居民身份证号码  2024-07-01 10:00:05",
    ]

    records = json.loads("\n".join(run(capsys, "quarantine", "list", "--all", "--format", "json")))
    assert [r["status"] for r in records] == ["resolved", "open"]
    assert all(person not in json.dumps(r, ensure_ascii=False) for r in records)


def test_grant_readonly_prints_one_line_or_refuses_in_one(warehouse, capsys):
    url = make_url(warehouse.warehouse_url)
    if url.get_backend_name() == "duckdb":
        capsys.readouterr()
        assert cli.main(["db", "grant-readonly", "dashboard_reader"]) == 1
        printed = capsys.readouterr()
        assert printed.out == "" and printed.err.count("\n") == 1
        assert printed.err.startswith("error: the embedded DuckDB warehouse has no database roles;")
        return
    role = f"cli_{url.database}"  # roles are cluster-wide: one per test database
    engine = make_engine(warehouse.warehouse_url)
    try:
        assert run(capsys, "db", "grant-readonly", role) == [
            f"role {role} can read schema mart, and nothing else, on warehouse "
            f"{url.render_as_string(hide_password=True)}"]
        with engine.connect() as conn:
            allowed = conn.execute(text(
                "select has_schema_privilege(:r, 'mart', 'usage'), has_schema_privilege(:r, 'core', 'usage'), "
                "has_table_privilege(:r, 'mart.v_indicator_latest', 'select')"), {"r": role}).one()
        assert tuple(allowed) == (True, False, True)
        capsys.readouterr()
        assert cli.main(["db", "grant-readonly", "Robert'); drop table ops.batch;--"]) == 1
        assert capsys.readouterr().err.startswith("error: role name ")
    finally:
        with engine.begin() as conn:
            if conn.execute(text("select 1 from pg_roles where rolname = :r"), {"r": role}).first():
                conn.execute(text(f'drop owned by "{role}"'))
                conn.execute(text(f'drop role "{role}"'))
        engine.dispose()
