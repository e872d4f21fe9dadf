import argparse
import contextlib
import csv
import datetime as dt
import io
import shlex
import sys
import types

import numpy as np
import pandas as pd
import pytest

from bizenv.cli import build_parser, main


def test_every_documented_command_parses():
    parser = build_parser()
    for argv in (
        ["db", "upgrade"],
        ["db", "grant-readonly", "dashboard_reader"],
        ["simulate", "--out", "d", "--entities", "5", "--months", "2024-01:2024-06", "--seed", "3"],
        ["simulate", "serve", "--data", "d", "--token", "t"],
        ["ingest-file", "registration", "f.csv"],
        ["ingest", "amr_registration"],
        ["indicators", "compute", "--month", "2024-06"],
        ["indicators", "show", "--month", "2024-06", "--region", "152921", "--format", "json"],
        ["quarantine", "list", "--dataset", "registration", "--format", "csv"],
        ["quarantine", "summary"],
        ["quarantine", "export", "--department", "市场监管局", "--month", "2024-06", "--out", "d"],
        ["crosswalk", "load", "c.csv"],
        ["conflicts", "list", "--dataset", "tax_filing"],
        ["profile", "show", "91152921MA0N00010T"],
        ["report", "--month", "2024-06", "--out", "r.html"],
        ["demo", "--month", "2024-06"],
    ):
        assert callable(parser.parse_args(argv).func)


def test_unmigrated_warehouse_gives_one_line_instruction(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BIZENV_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("BIZENV_WAREHOUSE_URL", raising=False)
    assert main(["indicators", "show", "--month", "2024-06"]) == 1
    err = capsys.readouterr().err
    assert err.startswith("error: warehouse duckdb:///") and err.rstrip().endswith("run `bizenv db upgrade`")


def test_unreachable_warehouse_is_named_not_sent_to_db_upgrade(monkeypatch, capsys):
    import socket

    with socket.socket() as probe:  # a local port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("BIZENV_WAREHOUSE_URL", f"postgresql+psycopg://bizenv:s3cret-pw@127.0.0.1:{port}/warehouse")
    for argv in (["indicators", "show", "--month", "2024-06"], ["db", "upgrade"]):
        assert main(argv) == 1, argv
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and "Traceback" not in err, err
        assert "s3cret-pw" not in err and "db upgrade`" not in err, err
        assert f"127.0.0.1:{port}" in err or str(port) in err, err
    assert main(["indicators", "show", "--month", "2024-06"]) == 1
    assert capsys.readouterr().err.startswith(f"error: cannot connect to warehouse postgresql+psycopg://bizenv:***@127.0.0.1:{port}/")


def test_bad_month_is_a_one_line_error(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BIZENV_DATA_DIR", str(tmp_path))
    assert main(["db", "upgrade"]) == 0
    assert main(["indicators", "compute", "--month", "2024-13"]) == 1
    assert capsys.readouterr().err.count("\n") == 1


def test_unknown_dataset_exit_code(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("BIZENV_DATA_DIR", str(tmp_path))
    assert main(["ingest-file", "permits", str(tmp_path / "x.csv")]) == 2
    assert "unknown dataset 'permits'" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["simulate"], ["indicators"]])
def test_incomplete_commands_exit_with_usage(argv):
    with pytest.raises(SystemExit) as exit_info:
        main(argv)
    assert exit_info.value.code == 2


def test_csv_output_neutralises_formulas(capsys):
    from bizenv.cli import _print_frame

    frame = pd.DataFrame({"value": ["=HYPERLINK(\"http://x\")", "@SUM(A1)", "驼峰科技", None], "n": [1, -2, 3, 4]})
    _print_frame(frame, "csv")
    rows = list(csv.reader(io.StringIO(capsys.readouterr().out)))
    assert rows == [["value", "n"], ["'=HYPERLINK(\"http://x\")", "1"], ["'@SUM(A1)", "-2"],
                    ["驼峰科技", "3"], ["", "4"]]


def _parsers(parser: argparse.ArgumentParser, path: tuple[str, ...] = ()):
    """Every parser of the command tree with its command path, and the sub-command list it holds."""
    yield path, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield from _parsers(sub, (*path, name))


def _example_argv(line: str) -> list[str]:
    """The arguments of an example command line: after `bizenv` (and any VAR=value before it),
    up to a redirection or pipe."""
    words = shlex.split(line)
    while "=" in words[0]:
        words = words[1:]
    assert words[0] == "bizenv", line
    words = words[1:]
    return words[: next((i for i, w in enumerate(words) if w in (">", "|")), len(words))]


def _examples_of(parser: argparse.ArgumentParser) -> list[str]:
    epilog = parser.epilog or ""
    if "examples:" not in epilog:
        return []
    return [line.strip() for line in epilog.split("examples:", 1)[1].splitlines() if line.strip()]


def _documentation_gaps(root: argparse.ArgumentParser) -> list[str]:
    """What `--help` lacks anywhere in the tree: a description, examples, an option's help text, a
    sub-command's summary."""
    gaps = []
    for path, parser in _parsers(root):
        name = " ".join(("bizenv", *path))
        if not (parser.description or "").strip():
            gaps.append(f"{name}: no description")
        if not _examples_of(parser):
            gaps.append(f"{name}: no examples")
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            if isinstance(action, argparse._SubParsersAction):
                summarised = {choice.dest for choice in action._choices_actions if (choice.help or "").strip()}
                gaps += [f"{name} {sub}: no summary" for sub in action.choices if sub not in summarised]
            elif not (action.help or "").strip() or action.help == argparse.SUPPRESS:
                gaps.append(f"{name} {'/'.join(action.option_strings) or action.dest}: no help")
        parser.format_help()  # a stray % in a help text fails here, not in front of a user
    return gaps


def test_every_command_has_a_description_examples_and_help_for_every_option():
    parser = build_parser()
    assert len(list(_parsers(parser))) > 20
    assert _documentation_gaps(parser) == []


def test_every_example_is_a_command_line_that_parses():
    root = build_parser()
    for path, parser in _parsers(root):
        name = " ".join(("bizenv", *path))
        for line in _examples_of(parser):
            if line == "bizenv COMMAND --help":
                continue
            # an example runs the command it documents (or one of its sub-commands)
            argv = _example_argv(line)
            assert " ".join(("bizenv", *argv)).startswith(name), (name, line)
            args = root.parse_args(argv)
            assert callable(getattr(args, "func", None)), (name, line)


def test_the_documentation_check_finds_what_is_missing():
    parser = build_parser()
    commands = parser._subparsers._group_actions[0]
    commands.choices["report"].add_argument("--quiet", action="store_true")
    bare = commands.add_parser("bare")
    bare.add_argument("thing")
    assert _documentation_gaps(parser) == [
        "bizenv bare: no summary",
        "bizenv report --quiet: no help",
        "bizenv bare: no description",
        "bizenv bare: no examples",
        "bizenv bare thing: no help",
    ]


def test_help_shows_description_and_examples(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["quarantine", "list", "--help"])
    assert exit_info.value.code == 0
    out = capsys.readouterr().out
    assert "Quarantined rows, oldest first" in out
    assert "examples:\n  bizenv quarantine list\n  bizenv quarantine list --dataset registration --all\n" in out
    assert "--all                 include resolved rows" in out


@pytest.fixture
def fake_warehouse(tmp_path, monkeypatch):
    """`connect` without a database: commands get a stand-in engine, the readers are replaced."""
    monkeypatch.setenv("BIZENV_DATA_DIR", str(tmp_path))
    monkeypatch.delenv("BIZENV_WAREHOUSE_URL", raising=False)
    engine = types.SimpleNamespace(url=types.SimpleNamespace(
        render_as_string=lambda hide_password: "postgresql+psycopg://bizenv:***@db/warehouse"))

    @contextlib.contextmanager
    def connect(settings, *, migrated=True):
        yield engine

    monkeypatch.setattr("bizenv.warehouse.connect", connect)
    return engine


def test_grant_readonly_calls_the_marts_function_and_prints_one_line(fake_warehouse, monkeypatch, capsys):
    from bizenv.errors import Refused

    calls = []

    def grant_readonly(engine, role):
        if role == "missing_role":
            raise Refused("role missing_role does not exist in the warehouse; create it first")
        calls.append((engine, role))

    monkeypatch.setitem(sys.modules, "bizenv.marts", types.SimpleNamespace(grant_readonly=grant_readonly))
    assert main(["db", "grant-readonly", "dashboard_reader"]) == 0
    assert calls == [(fake_warehouse, "dashboard_reader")]
    assert capsys.readouterr().out == ("role dashboard_reader can read schema mart, and nothing else, on warehouse "
                                       "postgresql+psycopg://bizenv:***@db/warehouse\n")
    assert main(["db", "grant-readonly", "missing_role"]) == 1
    printed = capsys.readouterr()
    assert (printed.out, printed.err) == ("", "error: role missing_role does not exist in the warehouse; create it "
                                               "first\n")


def test_indicators_show_table_names_regions_and_targets_from_the_configuration(fake_warehouse, monkeypatch,
                                                                                capsys):
    frame = pd.DataFrame({
        "month": ["2024-06"] * 2, "region_code": ["152900", "152923"],
        "indicator_code": ["tax_online_rate", "startup_workdays_median"],
        "name_zh": ["网上办税率", "企业设立登记时长"], "name_en": ["x", "y"], "unit": ["ratio", "个工作日"],
        "value": [3 / 7, np.nan], "numerator": [3.0, np.nan], "denominator": [7.0, np.nan],
        "sample_size": [7, 0], "target": [0.9, 0.5], "meets_target": [False, None],
        "previous_value": [1.0, None], "last_year_value": [np.nan, np.nan], "breakdown": ["", ""],
    })
    monkeypatch.setattr("bizenv.indicators.show", lambda engine, month, region=None: frame)
    assert main(["indicators", "show", "--month", "2024-06"]) == 0
    assert capsys.readouterr().out.split("\n") == [
        "区划代码  区划      指标              分项  单位       数值     目标  达标    样本量    上月  去年同期",
        "--------  --------  ----------------  ----  --------  -----  -------  ------  ------  ------  --------",
        "152900    阿拉善盟  网上办税率        —     %         42.9%  ≥ 90.0%  未达标       7  100.0%         —",
        "152923    额济纳旗  企业设立登记时长  —     个工作日      —   ≤ 0.50  无数据       0       —         —",
        "",
    ]
    assert main(["indicators", "show", "--month", "2024-06", "--format", "json"]) == 0
    records = pd.read_json(io.StringIO(capsys.readouterr().out))
    assert list(records.columns) == list(frame.columns)


def test_quarantine_list_table_shows_resolution_only_with_all(fake_warehouse, monkeypatch, capsys):
    frame = pd.DataFrame({
        "dataset": ["tax_filing"], "batch_id": ["tax_filing-20240701T020000-9c993a2a"], "file_name": ["税务.csv"],
        "source_row": [51], "record_key": ["SB2024060028425"], "region_code": ["152921"],
        "reason_zh": ["纳税人识别号「9.11529E+17」：代码被Excel转换为科学计数法"], "reason_en": ["x"],
        "failures": ["[]"], "record": ["{}"], "quarantined_at": [dt.datetime(2024, 6, 30, 16, 0)],
        "status": ["open"], "resolved_at": [None], "resolved_by_batch": [None], "resolved_by_file": [None],
    })
    asked = []

    def list_quarantine(engine, dataset=None, *, include_resolved=False, month=None, rule=None):
        asked.append((dataset, include_resolved))
        return frame

    monkeypatch.setattr("bizenv.quarantine.list_quarantine", list_quarantine)
    assert main(["quarantine", "list", "--dataset", "tax_filing"]) == 0
    assert main(["quarantine", "list", "--all"]) == 0
    assert asked == [("tax_filing", False), (None, True)]
    plain, everything = capsys.readouterr().out.split("\n数据集")
    assert plain.split("\n")[2] == ("tax_filing  tax_filing-20240701T020000-9c993a2a  税务.csv    51  SB2024060028425  "
                                    "152921    纳税人识别号「9.11529E+17」：代码被Excel转换为科学计数法  "
                                    "2024-07-01 00:00:00")
    assert everything.split("\n")[2].endswith("2024-07-01 00:00:00  待更正  —")
