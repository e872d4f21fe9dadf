"""The `bizenv` command line (docs/architecture.md). A public interface: commands and outputs are stable.

Errors a user can fix end the command with one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import csv
import datetime as dt
import errno
import json
import logging
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd

from bizenv.settings import load_settings

EXIT_REJECTED = 2
EXIT_ERROR = 1
_NOT_WRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS}
_NO_SPACE = {errno.ENOSPC, errno.EDQUOT}


def describe_os_error(error: OSError) -> str:
    """One line for a file-system error: the path, what the system said and what to change."""
    path = error.filename
    if path is None:
        return (str(error).strip().splitlines() or [type(error).__name__])[0]
    reason = error.strerror or type(error).__name__
    if error.errno in _NO_SPACE:
        return f"{path}: {reason}; free space on that file system"
    if error.errno in _NOT_WRITABLE:
        settings = load_settings()
        places = [("BIZENV_LANDING_ROOT", settings.landing_root), ("BIZENV_DOCS_DIR", settings.docs_dir),
                  ("BIZENV_REPORTS_DIR", settings.reports_dir), ("BIZENV_DATA_DIR", settings.data_dir)]
        variable = next((name for name, place in places if Path(str(path)).is_relative_to(str(place))), None)
        elsewhere = f", or point {variable} elsewhere" if variable else ", or choose another directory"
        return f"{path}: {reason}; this user must be able to write there{elsewhere}"
    return f"{path}: {reason}"


def _add_format_option(command: argparse.ArgumentParser) -> None:
    """`--format`, as `_print_frame` renders it."""
    command.add_argument("--format", choices=("table", "json", "csv"), default="table")


def _print_frame(frame: pd.DataFrame, fmt: str) -> None:
    if fmt == "json":
        print(frame.to_json(orient="records", force_ascii=False, date_format="iso"))
    elif fmt == "csv":
        from bizenv.quarantine import neutralised

        # a spreadsheet opening this output must show a delivered "=HYPERLINK(...)", not run it
        frame.map(neutralised).to_csv(sys.stdout, index=False, quoting=csv.QUOTE_MINIMAL)
    elif frame.empty:
        print("(no rows)")
    else:
        print(frame.to_string(index=False))


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from bizenv.warehouse import upgrade

    settings = load_settings()
    revision = upgrade(settings)
    print(f"warehouse at revision {revision}")
    return 0


def _report_batches(summaries) -> int:
    """Print each batch summary as one JSON line; a batch not loaded adds its one-line reason on
    stderr and makes the exit code 'rejected'."""
    for summary in summaries:
        print(json.dumps(summary.as_dict(), ensure_ascii=False))
    rejected = [s for s in summaries if s.status != "loaded"]
    for summary in rejected:
        print(f"error: {summary.reason}", file=sys.stderr)
    return EXIT_REJECTED if rejected else 0


def cmd_ingest_file(args: argparse.Namespace) -> int:
    from bizenv.ingest import DEFAULT_MAX_BAD_SHARE, ingest_file

    summary = ingest_file(
        load_settings(),
        args.dataset,
        Path(args.path),
        max_bad_share=args.max_bad_share if args.max_bad_share is not None else DEFAULT_MAX_BAD_SHARE,
    )
    return _report_batches([summary])


def cmd_ingest(args: argparse.Namespace) -> int:
    from bizenv.sources import ingest_source
    from bizenv.sources.drop import DropRejected

    try:
        return _report_batches(ingest_source(load_settings(), args.source))
    except DropRejected as rejected:  # the readable files of the drop were processed all the same
        _report_batches(rejected.summaries)
        raise


def cmd_simulate(args: argparse.Namespace) -> int:
    from bizenv.simulator.simulate import simulate, write_files

    first, _, last = args.months.partition(":")
    data = simulate(entities=args.entities, months=(first, last or first), seed=args.seed)
    paths = write_files(data, Path(args.out))
    for dataset, path in paths.items():
        print(f"{dataset}: {len(getattr(data, dataset))} rows -> {path}")
    if args.database:
        from bizenv.simulator.department_db import fill_department_database
        from bizenv.sources import load_sources

        frames = {s.dataset: getattr(data, s.dataset) for s in load_sources().values() if s.kind == "database"}
        for table, count in fill_department_database(args.database, frames).items():
            print(f"department database table {table}: {count} rows")
    return 0


def cmd_simulate_serve(args: argparse.Namespace) -> int:
    from bizenv.simulator.department_api import run_department_api

    run_department_api(Path(args.data), args.host, args.port, args.token)
    return 0


def cmd_indicators_compute(args: argparse.Namespace) -> int:
    from bizenv.indicators import compute_snapshot
    from bizenv.warehouse import connect

    with connect(load_settings()) as engine:
        run = compute_snapshot(engine, args.month, triggered_by="cli")
    print(
        json.dumps(
            {
                "run_id": run.run_id,
                "month": run.month,
                "version": run.version,
                "status": run.status,
                "rows": run.row_count,
            },
            ensure_ascii=False,
        )
    )
    return 0


def cmd_indicators_show(args: argparse.Namespace) -> int:
    from bizenv.indicators import show
    from bizenv.warehouse import connect

    with connect(load_settings()) as engine:
        frame = show(engine, args.month, args.region)
    _print_frame(frame, args.format)
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from bizenv.report import write_report
    from bizenv.warehouse import connect

    with connect(load_settings()) as engine:
        summary = write_report(engine, args.month, Path(args.out))
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    from bizenv.quarantine import list_quarantine
    from bizenv.warehouse import connect

    with connect(load_settings()) as engine:
        frame = list_quarantine(engine, args.dataset, include_resolved=args.all)
    _print_frame(frame, args.format)
    return 0


def cmd_quarantine_summary(args: argparse.Namespace) -> int:
    from bizenv.quarantine import quarantine_summary
    from bizenv.warehouse import connect

    with connect(load_settings()) as engine:
        frame = quarantine_summary(engine, args.month)
    _print_frame(frame, args.format)
    return 0


def cmd_quarantine_export(args: argparse.Namespace) -> int:
    from bizenv.quarantine import export_feedback
    from bizenv.warehouse import connect

    with connect(load_settings()) as engine:
        paths = export_feedback(engine, args.department or args.dataset, args.month, Path(args.out))
    for path in paths:
        print(path)
    return 0


def cmd_reload(args: argparse.Namespace) -> int:
    from bizenv.batches import reload_batch

    outcome = reload_batch(load_settings(), args.batch_id, max_bad_share=args.max_bad_share)
    if not outcome.reloaded:
        print(json.dumps(outcome.summary.as_dict(), ensure_ascii=False))
        print(f"note: batch {args.batch_id} is loaded already; nothing reloaded", file=sys.stderr)
        return 0
    return _report_batches([outcome.summary])


def cmd_crosswalk_load(args: argparse.Namespace) -> int:
    from bizenv.crosswalk import load_crosswalk

    return _report_batches([load_crosswalk(load_settings(), Path(args.path))])


def cmd_conflicts_list(args: argparse.Namespace) -> int:
    from bizenv.warehouse import connect, query_df

    with connect(load_settings()) as engine, engine.connect() as conn:
        frame = query_df(conn, "core/list_conflicts.sql", {"dataset": args.dataset})
    _print_frame(frame, args.format)
    return 0


def cmd_profile_show(args: argparse.Namespace) -> int:
    from bizenv.warehouse import connect, query_df

    with connect(load_settings()) as engine, engine.connect() as conn:
        frame = query_df(conn, "marts/enterprise_profile.sql", {"uscc": args.uscc.strip().upper()})
    if frame.empty:
        print(f"error: no enterprise with USCC {args.uscc} in core", file=sys.stderr)
        return EXIT_ERROR
    _print_frame(frame.T.reset_index().set_axis(["field", "value"], axis=1) if args.format == "table" else frame,
                 args.format)
    return 0


def _shanghai_today() -> dt.date:
    return dt.datetime.now(ZoneInfo("Asia/Shanghai")).date()


def cmd_calendar_check(args: argparse.Namespace) -> int:
    from bizenv import calendar

    for year, source in calendar.covered_years().items():
        print(f"{year}  {source}")
    today = _shanghai_today()
    needed = sorted(set(args.year)) if args.year else [today.year, today.year + 1]
    missing = calendar.missing_years(needed)
    for year in missing:
        try:
            calendar.year_source(year)
        except calendar.CalendarCoverageError as error:  # its message says which file to edit, and how
            print(f"error: {error}", file=sys.stderr)
    if missing:
        return EXIT_ERROR
    print(f"ok: {', '.join(str(year) for year in needed)} covered")
    return 0


def cmd_demo(args: argparse.Namespace) -> int:
    from bizenv.simulator.demo import run_demo

    return run_demo(load_settings(), args.month)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="bizenv", description="营商环境 cross-department data pipeline")
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = parser.add_subparsers(dest="command", required=True)

    db = commands.add_parser("db", help="warehouse schema").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="create or migrate the warehouse").set_defaults(func=cmd_db_upgrade)

    simulate = commands.add_parser("simulate", help="synthetic department data")
    simulate.add_argument("--out", help="directory for the department files")
    simulate.add_argument("--entities", type=int, default=500)
    simulate.add_argument("--months", default="2024-01:2024-06", help="FIRST:LAST, e.g. 2024-01:2024-06")
    simulate.add_argument("--seed", type=int, default=7)
    simulate.add_argument("--database", help="also fill the department database of each `database` source "
                          "(SQLAlchemy URL, e.g. sqlite:///bdc.sqlite)")
    simulate.set_defaults(func=cmd_simulate)
    serve = simulate.add_subparsers(dest="simulate_command").add_parser(
        "serve", help="run a local department HTTP API over simulated data"
    )
    serve.add_argument("--data", required=True, help="directory written by `bizenv simulate --out`")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8765)
    serve.add_argument("--token", required=True, help="bearer token the API expects")
    serve.set_defaults(func=cmd_simulate_serve)

    ingest_file = commands.add_parser("ingest-file", help="one department file; prints a JSON summary")
    ingest_file.add_argument("dataset")
    ingest_file.add_argument("path")
    ingest_file.add_argument(
        "--max-bad-share",
        type=float,
        default=None,
        help="reject the batch above this share of bad rows (default 0.05)",
    )
    ingest_file.set_defaults(func=cmd_ingest_file)

    ingest = commands.add_parser("ingest", help="one configured source, incremental")
    ingest.add_argument("source")
    ingest.set_defaults(func=cmd_ingest)

    indicators = commands.add_parser("indicators", help="monthly indicator snapshots").add_subparsers(
        dest="indicators_command", required=True
    )
    compute = indicators.add_parser("compute", help="compute, validate and publish a month")
    compute.add_argument("--month", required=True)
    compute.set_defaults(func=cmd_indicators_compute)
    show = indicators.add_parser("show", help="the latest published snapshot of a month")
    show.add_argument("--month", required=True)
    show.add_argument("--region")
    _add_format_option(show)
    show.set_defaults(func=cmd_indicators_show)

    quarantine = commands.add_parser("quarantine", help="rejected rows").add_subparsers(
        dest="quarantine_command", required=True
    )
    qlist = quarantine.add_parser("list", help="open quarantined rows with their reasons")
    qlist.add_argument("--dataset")
    qlist.add_argument("--all", action="store_true", help="include resolved rows")
    _add_format_option(qlist)
    qlist.set_defaults(func=cmd_quarantine_list)
    qsummary = quarantine.add_parser("summary", help="open and resolved rows per dataset")
    qsummary.add_argument("--month", help="rows quarantined in this month (YYYY-MM, Asia/Shanghai)")
    _add_format_option(qsummary)
    qsummary.set_defaults(func=cmd_quarantine_summary)
    qexport = quarantine.add_parser("export", help="feedback files (GB18030 CSV and XLSX) for a department")
    target = qexport.add_mutually_exclusive_group(required=True)
    target.add_argument("--department", help="e.g. 市场监管局")
    target.add_argument("--dataset", help="e.g. registration")
    qexport.add_argument("--month", required=True, help="YYYY-MM: rows quarantined in this month")
    qexport.add_argument("--out", required=True, help="directory for the feedback files")
    qexport.set_defaults(func=cmd_quarantine_export)

    reload = commands.add_parser("reload", help="re-process a failed batch from its landing file")
    reload.add_argument("batch_id")
    reload.add_argument("--max-bad-share", type=float, default=None,
                        help="reject the batch above this share of bad rows (default: its source's, else 0.05)")
    reload.set_defaults(func=cmd_reload)

    crosswalk = commands.add_parser("crosswalk", help="legacy 注册号 → USCC crosswalk").add_subparsers(
        dest="crosswalk_command", required=True)
    cload = crosswalk.add_parser("load", help="load a crosswalk file (注册号, 统一社会信用代码)")
    cload.add_argument("path")
    cload.set_defaults(func=cmd_crosswalk_load)

    conflicts = commands.add_parser("conflicts", help="department values that disagree with core").add_subparsers(
        dest="conflicts_command", required=True)
    clist = conflicts.add_parser("list", help="recorded survivorship conflicts")
    clist.add_argument("--dataset")
    _add_format_option(clist)
    clist.set_defaults(func=cmd_conflicts_list)

    profile = commands.add_parser("profile", help="一企一档 enterprise profile").add_subparsers(
        dest="profile_command", required=True)
    pshow = profile.add_parser("show", help="one enterprise's profile (no personal data)")
    pshow.add_argument("uscc")
    _add_format_option(pshow)
    pshow.set_defaults(func=cmd_profile_show)

    report = commands.add_parser("report", help="the monthly HTML report of the latest published snapshot")
    report.add_argument("--month", required=True)
    report.add_argument("--out", required=True, help="the HTML file to write")
    report.set_defaults(func=cmd_report)

    cal = commands.add_parser("calendar", help="statutory working-day calendar").add_subparsers(
        dest="calendar_command", required=True)
    ccheck = cal.add_parser("check", help="list the covered years and their sources; fail for a needed year "
                            "that is missing")
    ccheck.add_argument("--year", type=int, action="append", metavar="Y",
                        help="a year that must be covered (repeatable; default: this year and the next, "
                        "Asia/Shanghai)")
    ccheck.set_defaults(func=cmd_calendar_check)

    demo = commands.add_parser("demo", help="a whole month end to end, through Airflow")
    demo.add_argument("--month", default="2024-06")
    demo.set_defaults(func=cmd_demo)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if args.command == "simulate" and getattr(args, "simulate_command", None) is None and not args.out:
        parser.error("simulate needs --out DIR (or the `serve` subcommand)")
    from sqlalchemy.exc import SQLAlchemyError

    from bizenv.datasets import UnknownDatasetError
    from bizenv.errors import Refused, Retryable
    from bizenv.sources.files import BatchRejected
    from bizenv.warehouse import describe_database_error

    try:
        return args.func(args)
    except (BatchRejected, UnknownDatasetError) as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_REJECTED
    except (Refused, Retryable, ValueError, RuntimeError, FileNotFoundError, ImportError, SQLAlchemyError) as error:
        # a database error (`db upgrade` against a server that is down) by its driver's first line
        print(f"error: {describe_database_error(error)}", file=sys.stderr)
        return EXIT_ERROR
    except BrokenPipeError:
        raise
    except OSError as error:  # a read-only or full directory: the path, not a traceback
        print(f"error: {describe_os_error(error)}", file=sys.stderr)
        return EXIT_ERROR


def run() -> None:
    """Console entry point. Ends the process without interpreter finalization: DuckDB's
    bindings report spurious leaks at shutdown once Great Expectations is loaded, and all
    work is committed and flushed by now."""
    try:
        code = main()
        sys.stdout.flush()
    except BrokenPipeError:  # the reader (e.g. `| head`) went away; that is not an error of ours
        code = 0
    sys.stderr.flush()
    os._exit(code)


if __name__ == "__main__":
    run()
