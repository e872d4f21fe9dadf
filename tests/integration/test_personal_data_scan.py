"""No full resident ID outside the keyed hash and the mask (docs/security.md), end to end.

Hostile department files put resident IDs into every field of every dataset that is not a
personal-ID field (plain, with a wrong check character, spaced, full-width, inside longer text,
15-digit, an amount Excel made a float of); the whole command line then runs over them on DuckDB
and PostgreSQL: ingest, quarantine list and export, indicators compute, the report and the
enterprise profile. Afterwards every table and view of the warehouse, every file under the data
directory and everything printed or logged is searched for a resident ID. The one documented
exception: the landing zone's personal-ID fields keep the number as delivered (README,
"Personal data"), so that a batch can be re-processed; those two columns are checked to be the
only ones.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import unicodedata
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook
from sqlalchemy import text
from stdnum.cn import ric
from stdnum.iso7064 import mod_11_10

from bizenv import cli, codes
from bizenv.codes import pii_key_fingerprint
from bizenv.datasets import DATASETS
from bizenv.ingest import ingest_file
from bizenv.pii import PiiKeyMismatch
from bizenv.simulator.simulate import CHINESE_HEADERS, DefectRates, simulate
from bizenv.standardize import LOCAL_TIMEZONE
from bizenv.warehouse import make_engine

MONTH = "2024-06"


def resident_id(body17: str) -> str:
    return body17 + ric.calc_check_digit(body17 + "0")


PLAIN = resident_id("15292219800101123")
WRONG_CHECK = PLAIN[:-1] + ("0" if PLAIN[-1] != "0" else "1")
SPACED = resident_id("15292119751224001")
FULL_WIDTH = resident_id("15292319900315002")
EMBEDDED = resident_id("11010519850607003")
LEGACY = "152922711010819"  # 15 digits, born 1971-10-10; no 注册号 check digit
assert not mod_11_10.is_valid(LEGACY)
PLANTED = [PLAIN, WRONG_CHECK, SPACED, FULL_WIDTH, EMBEDDED, LEGACY, codes.upgrade_legacy_resident_id(LEGACY)]


def forms() -> list[str]:
    """The ways a resident ID arrives where it does not belong."""
    spaced = " ".join([SPACED[:6], SPACED[6:14], SPACED[14:]])
    full_width = "".join(chr(ord(c) + 0xFEE0) for c in FULL_WIDTH)
    return [PLAIN, WRONG_CHECK, spaced, full_width, f"张三（身份证{EMBEDDED}）代办", LEGACY]


def hostile_rows(data, dataset: str) -> pd.DataFrame:
    """One clean row per field that is not a personal-ID field, that field holding a resident ID
    (cycling through `forms`); each row has its own key, so each is judged on that field alone."""
    template = getattr(data, dataset).iloc[0].to_dict()
    key = DATASETS[dataset].key
    rows = []
    variants = forms()
    for number, column in enumerate(c for c in DATASETS[dataset].columns if c.kind != "personal_id"):
        row = dict(template)
        if key == "uscc":
            row["uscc"] = codes.make_uscc("91", "152921", f"HX{number:06d}")
        else:
            row[key] = f"HX{dataset[:3].upper()}{number:04d}"
        if column.kind == "amount":
            row[column.name] = ("152922711010819.0", "1.52922711010819E+14")[number % 2]
        else:
            row[column.name] = variants[number % len(variants)]
        rows.append(row)
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def month_data():
    return simulate(entities=40, months=(MONTH, MONTH), seed=3, defects=DefectRates.none())


def write_hostile_files(data, out: Path) -> dict[str, Path]:
    out.mkdir(parents=True, exist_ok=True)
    paths = {}
    for dataset in DATASETS:
        frame = pd.concat([getattr(data, dataset), hostile_rows(data, dataset)], ignore_index=True)
        headers = CHINESE_HEADERS[dataset]
        path = out / f"{dataset}.csv"
        frame[list(headers)].rename(columns=headers).to_csv(path, index=False, encoding="utf-8")
        paths[dataset] = path
    return paths


# --- the search ---------------------------------------------------------------------------------

_HASH = re.compile(r"[0-9a-f]{64}")  # keyed hashes, checksums, the key fingerprint
_RUN = re.compile(r"(?<![0-9])[0-9]{15}(?:[0-9]{2}[0-9X])?(?![0-9])")
_PROVINCES = {11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 35, 36, 37, 41, 42, 43, 44, 45, 46, 50, 51, 52,
              53, 54, 61, 62, 63, 64, 65, 71, 81, 82, 83}


def resident_ids_in(value: str, known: set[str]) -> list[str]:
    """The resident IDs in `value` (as masks, for the failure message): a known number in any
    spelling, or any 15/18-digit run with a province code and a birth date."""
    value = _HASH.sub(" ", str(value))
    value = unicodedata.normalize("NFKC", value).upper()
    value = re.sub(r"(?<=[0-9])[ \t](?=[0-9])", "", value)
    found = [codes.mask_resident_id(n) for n in known if n in value]
    for match in _RUN.finditer(value):
        number = match.group(0)
        birth = number[6:14] if len(number) == 18 else "19" + number[6:12]
        try:
            born = dt.date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
        except ValueError:
            continue
        if int(number[:2]) in _PROVINCES and born.year >= 1900:
            found.append(codes.mask_resident_id(number))
    return found


def scan_warehouse(settings, known: set[str]) -> tuple[int, list]:
    engine = make_engine(settings.warehouse_url)
    leaks, scanned = [], 0
    try:
        with engine.connect() as conn:
            relations = conn.execute(text(
                "select table_schema, table_name from information_schema.tables "
                "where table_schema in ('ops', 'core', 'quarantine', 'mart') order by 1, 2")).fetchall()
            assert len(relations) > 20
            for schema, table in relations:
                result = conn.execute(text(f'select * from {schema}."{table}"'))
                frame = pd.DataFrame(result.fetchall(), columns=list(result.keys()))
                for column in frame.columns:
                    for value in frame[column].dropna().astype(str):
                        scanned += 1
                        leaks += [(f"{schema}.{table}.{column}", m) for m in resident_ids_in(value, known)]
    finally:
        engine.dispose()
    return scanned, leaks


def scan_files(data_dir: Path, known: set[str]) -> tuple[list[str], list]:
    personal = {c.name for d in DATASETS.values() for c in d.columns if c.kind == "personal_id"}
    leaks, seen = [], []
    for path in sorted(p for p in data_dir.rglob("*") if p.is_file()):
        seen.append(str(path.relative_to(data_dir)))
        where = str(path.relative_to(data_dir))
        if path.suffix == ".parquet":
            table = pq.read_table(path)
            for column in table.column_names:
                values = [str(v) for v in table.column(column).to_pylist() if v is not None]
                if column in personal:  # the documented exception: the raw personal-ID fields
                    continue
                for value in values:
                    leaks += [(f"{where}:{column}", m) for m in resident_ids_in(value, known)]
        elif path.suffix == ".xlsx":
            for sheet in load_workbook(path).worksheets:
                for row in sheet.iter_rows(values_only=True):
                    for value in row:
                        if value is not None:
                            leaks += [(where, m) for m in resident_ids_in(str(value), known)]
        elif path.suffix in (".html", ".json", ".csv", ".txt", ".log", ".key"):
            raw = path.read_bytes()
            content = raw.decode("utf-8") if path.suffix != ".csv" else raw.decode("gb18030")
            leaks += [(where, m) for m in resident_ids_in(content, known)]
        else:  # binary (the DuckDB file and its WAL, GX assets): the known numbers, as bytes
            raw = path.read_bytes()
            leaks += [(where, codes.mask_resident_id(n)) for n in known if n.encode() in raw]
    return seen, leaks


# --- the run ------------------------------------------------------------------------------------


def run_cli(*argv: str) -> int:
    try:
        return cli.main(list(argv))
    except SystemExit as stop:
        return int(stop.code or 0)


def test_no_resident_id_anywhere_after_hostile_deliveries(warehouse_settings, month_data, tmp_path, monkeypatch,
                                                          capfd, caplog):
    settings = warehouse_settings
    data_dir = settings.data_dir
    monkeypatch.setenv("BIZENV_DATA_DIR", str(data_dir))
    monkeypatch.setenv("BIZENV_WAREHOUSE_URL", settings.warehouse_url)
    monkeypatch.setenv("BIZENV_PII_KEY_FILE", str(settings.pii_key_file))
    monkeypatch.delenv("BIZENV_PII_KEY", raising=False)
    caplog.set_level(logging.DEBUG)
    paths = write_hostile_files(month_data, tmp_path / "delivered")

    for dataset, path in paths.items():
        assert run_cli("--verbose", "ingest-file", dataset, str(path), "--max-bad-share", "1") == 0, dataset
    now_month = dt.datetime.now(LOCAL_TIMEZONE).strftime("%Y-%m")
    for department in {d.department_zh for d in DATASETS.values()}:
        assert run_cli("quarantine", "export", "--department", department, "--month", now_month,
                       "--out", str(data_dir / "exports")) == 0
    assert run_cli("quarantine", "list", "--all", "--format", "json") == 0
    assert run_cli("indicators", "compute", "--month", MONTH) == 0
    assert run_cli("report", "--month", MONTH, "--out", str(settings.reports_dir / f"indicators-{MONTH}.html")) == 0
    named = codes.make_uscc("91", "152921", "HX000002")  # its 企业名称 is a spaced ID: loaded, masked
    assert run_cli("profile", "show", named) == 0
    assert run_cli("conflicts", "list", "--format", "csv") == 0
    printed = capfd.readouterr()

    known = set(PLANTED)
    known |= {i for i in month_data.registration["legal_rep_id"] if i}
    known |= {i for i in month_data.real_estate_case.loc[
        month_data.real_estate_case["applicant_type"] == "个人", "applicant_id"] if i}
    scanned, leaks = scan_warehouse(settings, known)
    assert scanned > 1000
    assert not leaks, leaks[:10]

    seen, file_leaks = scan_files(data_dir, known)
    assert any(s.startswith("landing/") for s in seen) and any(s.startswith("docs/") for s in seen)
    assert any(s.startswith("exports/") and s.endswith(".xlsx") for s in seen)
    assert any(s.startswith("reports/") for s in seen)
    assert not file_leaks, file_leaks[:10]

    said = [printed.out, printed.err, *(r.getMessage() for r in caplog.records)]
    said_leaks = [m for line in said for m in resident_ids_in(line, known)]
    assert not said_leaks, said_leaks[:10]

    engine = make_engine(settings.warehouse_url)
    try:
        with engine.connect() as conn:
            rules = {r for (f,) in conn.execute(text("select failures from quarantine.v_rejected_row"))
                     for r in re.findall(r'"rule": "([a-z_]+)"', f)}
            profile_name = conn.execute(text("select name from core.registration where uscc = :u"),
                                        {"u": named}).scalar_one()
    finally:
        engine.dispose()
    # the rule fired: misplaced IDs quarantined, an ID in a name loaded masked
    assert {"resident_id_in_field", "resident_id_as_uscc"} <= rules, rules
    assert profile_name == codes.mask_resident_id(SPACED)
    assert codes.mask_resident_id(SPACED) in printed.out

    # the exception, bounded: only the personal-ID fields of the landing files hold the numbers
    landed = [p for p in data_dir.joinpath("landing").rglob("*.parquet")]
    holding = {c for p in landed for c in pq.read_table(p).column_names
               if any(n in " ".join(map(str, pq.read_table(p).column(c).to_pylist())) for n in known)}
    assert holding == {"legal_rep_id", "applicant_id"}


def test_a_load_with_another_key_is_refused(warehouse_settings, month_data, tmp_path, monkeypatch):
    """The first load records the key's fingerprint; a later load under another key would give
    every person a second hash, so it is refused with one line and writes nothing."""
    settings = warehouse_settings
    monkeypatch.delenv("BIZENV_PII_KEY", raising=False)
    paths = write_hostile_files(month_data, tmp_path / "delivered")
    first = ingest_file(settings, "registration", paths["registration"], max_bad_share=1.0)
    assert first.status == "loaded" and first.loaded > 0

    def snapshot():
        engine = make_engine(settings.warehouse_url)
        try:
            with engine.connect() as conn:
                keys = [tuple(r) for r in conn.execute(text("select fingerprint from ops.pii_key"))]
                rows = conn.execute(text("select count(*) from core.real_estate_case")).scalar_one()
                batches = conn.execute(text(
                    "select status, reason from ops.batch where dataset = 'real_estate_case'")).fetchall()
            return keys, rows, batches
        finally:
            engine.dispose()

    keys, _, _ = snapshot()
    assert keys == [(pii_key_fingerprint(settings.pii_key),)]

    monkeypatch.setenv("BIZENV_PII_KEY", "another-key-" + "0" * 40)
    with pytest.raises(PiiKeyMismatch) as refused:
        ingest_file(settings, "real_estate_case", paths["real_estate_case"], max_bad_share=1.0)
    assert "\n" not in str(refused.value) and "restore that key" in str(refused.value)
    keys_after, cases, batches = snapshot()
    assert keys_after == keys and cases == 0
    assert [status for status, _ in batches] == ["failed"]
    assert "PiiKeyMismatch" in batches[0][1]

    monkeypatch.delenv("BIZENV_PII_KEY")  # the original key loads again
    assert ingest_file(settings, "real_estate_case", paths["real_estate_case"], max_bad_share=1.0).loaded > 0
