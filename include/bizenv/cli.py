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
import textwrap
from collections.abc import Callable, Sequence
from functools import partial
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
    command.add_argument(
        "--format", choices=("table", "json", "csv"), default="table",
        help="table: aligned columns for reading (the default); json: one array of records with every "
        "column; csv: every column, a value a spreadsheet would run as a formula prefixed with '",
    )


def _print_frame(frame: pd.DataFrame, fmt: str, table: Callable[[pd.DataFrame], str] | None = None) -> None:
    """`frame` as json or csv with every column, or as the aligned `table` (by default each column
    under its own name)."""
    if fmt == "json":
        print(frame.to_json(orient="records", force_ascii=False, date_format="iso"))
    elif fmt == "csv":
        from bizenv.quarantine import neutralised

        # a spreadsheet opening this output must show a delivered "=HYPERLINK(...)", not run it
        frame.map(neutralised).to_csv(sys.stdout, index=False, quoting=csv.QUOTE_MINIMAL)
    else:
        from bizenv.tables import frame_table

        print((table or frame_table)(frame))


def cmd_db_upgrade(args: argparse.Namespace) -> int:
    from bizenv.warehouse import upgrade

    settings = load_settings()
    revision = upgrade(settings)
    print(f"warehouse at revision {revision}")
    return 0


def cmd_db_grant_readonly(args: argparse.Namespace) -> int:
    from bizenv.marts import grant_readonly
    from bizenv.warehouse import connect

    with connect(load_settings()) as engine:
        grant_readonly(engine, args.role)
        shown = engine.url.render_as_string(hide_password=True)
    print(f"role {args.role} can read schema mart, and nothing else, on warehouse {shown}")
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

    settings = load_settings()
    summary = ingest_file(
        settings,
        args.dataset,
        Path(args.path),
        max_bad_share=args.max_bad_share if args.max_bad_share is not None else DEFAULT_MAX_BAD_SHARE,
    )
    code = _report_batches([summary])
    if summary.status == "loaded":
        _revise_open_months(settings, [summary.batch_id])
    return code


def _revise_open_months(settings, batch_ids: list[str]) -> None:
    """After a delivery: the published, still open months it touches are recomputed (one note
    each on stderr; stdout keeps the batch summaries only)."""
    from bizenv.indicators import revise_open_months
    from bizenv.warehouse import connect

    if not batch_ids:
        return
    with connect(settings) as engine:
        runs = revise_open_months(engine, batch_ids, triggered_by="cli")
    for run in runs:
        print(f"note: {run.month} recomputed after the delivery and published as {run.run_id}", file=sys.stderr)


def cmd_ingest(args: argparse.Namespace) -> int:
    from bizenv.sources import ingest_source
    from bizenv.sources.drop import DropRejected

    settings = load_settings()
    try:
        summaries = ingest_source(settings, args.source)
    except DropRejected as rejected:  # the readable files of the drop were processed all the same
        _report_batches(rejected.summaries)
        _revise_open_months(settings, [s.batch_id for s in rejected.summaries if s.status == "loaded"])
        raise
    code = _report_batches(summaries)
    _revise_open_months(settings, [s.batch_id for s in summaries if s.status == "loaded"])
    return code


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


def _as_of(text: str) -> dt.datetime:
    """--as-of as naive UTC, like the warehouse's change stamps: a time with an offset is
    converted, one without is UTC."""
    try:
        moment = dt.datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"--as-of {text!r} is not a timestamp; e.g. 2024-07-05T08:00:00 (UTC) or "
                         "2024-07-05T16:00:00+08:00") from None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.UTC).replace(tzinfo=None)
    return moment


def cmd_indicators_compute(args: argparse.Namespace) -> int:
    from bizenv.indicators import compute_snapshot
    from bizenv.warehouse import connect

    if args.as_of is not None:
        from bizenv.indicators import compute_as_of

        as_of = _as_of(args.as_of)
        with connect(load_settings()) as engine:
            frame = compute_as_of(engine, args.month, as_of)
        _print_frame(frame, args.format, _indicator_table)
        return 0
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


def cmd_indicators_revise(args: argparse.Namespace) -> int:
    from bizenv.indicators import revise
    from bizenv.warehouse import connect

    with connect(load_settings()) as engine:
        run = revise(engine, args.month, args.reason, triggered_by="cli")
    print(json.dumps({"run_id": run.run_id, "month": run.month, "version": run.version, "status": run.status,
                      "rows": run.row_count, "reason": " ".join(args.reason.split())}, ensure_ascii=False))
    return 0


def cmd_indicators_show(args: argparse.Namespace) -> int:
    from bizenv.indicators import show
    from bizenv.warehouse import connect

    with connect(load_settings()) as engine:
        frame = show(engine, args.month, args.region)
    _print_frame(frame, args.format, _indicator_table)
    return 0


def _indicator_table(frame: pd.DataFrame) -> str:
    from bizenv.indicators import load_catalog
    from bizenv.regions import load_regions
    from bizenv.tables import indicator_table

    if frame.empty:  # an unpublished month needs neither file
        return indicator_table(frame)
    regions = load_regions()
    return indicator_table(
        frame,
        region_names={regions.prefecture_code: regions.prefecture_name, **regions.names},
        target_operators={d.code: d.target_operator for d in load_catalog() if d.target_operator},
    )


def cmd_report(args: argparse.Namespace) -> int:
    from bizenv.report import write_report
    from bizenv.warehouse import connect

    with connect(load_settings()) as engine:
        summary = write_report(engine, args.month, Path(args.out))
    print(json.dumps(summary, ensure_ascii=False))
    return 0


def cmd_quarantine_list(args: argparse.Namespace) -> int:
    from bizenv.quarantine import EXIT_WITHOUT_DATE_RULE, check_rule, list_quarantine
    from bizenv.tables import quarantine_table
    from bizenv.warehouse import connect

    if args.rule is not None and check_rule(args.rule) == EXIT_WITHOUT_DATE_RULE:
        return _list_exits_without_date(args)
    with connect(load_settings()) as engine:
        frame = list_quarantine(engine, args.dataset, include_resolved=args.all, rule=args.rule)
    _print_frame(frame, args.format, partial(quarantine_table, with_resolution=args.all))
    return 0


def _list_exits_without_date(args: argparse.Namespace) -> int:
    """`quarantine list --rule exit_without_date`: the count line (on stderr with json and csv, so
    the output stays one document), then the entities."""
    from bizenv.datasets import get_dataset
    from bizenv.quarantine import EXIT_WITHOUT_DATE_RULE, exits_without_date_line, list_exits_without_date
    from bizenv.warehouse import connect

    if args.all:
        raise ValueError(f"--all does not apply to --rule {EXIT_WITHOUT_DATE_RULE}: its exits stay listed until "
                         "the department delivers the 状态日期")
    if args.dataset and get_dataset(args.dataset).name != "registration":
        raise ValueError(f"--rule {EXIT_WITHOUT_DATE_RULE} lists registration entities; drop --dataset {args.dataset}")
    with connect(load_settings()) as engine:
        frame = list_exits_without_date(engine)
    print(exits_without_date_line(frame), file=sys.stdout if args.format == "table" else sys.stderr)
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

    settings = load_settings()
    outcome = reload_batch(settings, args.batch_id, max_bad_share=args.max_bad_share)
    if not outcome.reloaded:
        print(json.dumps(outcome.summary.as_dict(), ensure_ascii=False))
        print(f"note: batch {args.batch_id} is loaded already; nothing reloaded", file=sys.stderr)
        return 0
    code = _report_batches([outcome.summary])
    if outcome.summary.status == "loaded":
        _revise_open_months(settings, [outcome.summary.batch_id])
    return code


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


def cmd_bench(args: argparse.Namespace) -> int:
    from bizenv.simulator.bench import run_bench

    run_bench(args.entities, args.months, args.month, args.postgres,
              Path(args.json) if args.json else None, argv=sys.argv[2:], stage_timeout=args.stage_timeout,
              memory_rows=args.memory_rows)
    return 0


def _row_counts(text: str) -> list[int]:
    try:
        counts = [int(part) for part in text.split(",") if part.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a comma-separated list of row counts") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"{text!r}: give one or more row counts of at least 1")
    return counts


def _examples(*lines: str) -> str:
    return "examples:\n" + "\n".join(f"  {line}" for line in lines)


def _command(commands: argparse._SubParsersAction, name: str, summary: str, *examples: str,
             description: str | None = None) -> argparse.ArgumentParser:
    """A (sub)command with its one-line summary in the parent's list, a description and examples
    in its own `--help` (tests/unit/test_cli.py walks the tree for them)."""
    return commands.add_parser(name, help=summary, description=_paragraph(description or summary),
                               epilog=_examples(*examples), formatter_class=argparse.RawDescriptionHelpFormatter)


def _paragraph(text: str) -> str:
    # RawDescriptionHelpFormatter keeps the example lines as written, and so does not wrap this either
    return textwrap.fill(text, width=100)


def _subcommands(parser: argparse.ArgumentParser, dest: str, *, required: bool = True) -> argparse._SubParsersAction:
    return parser.add_subparsers(dest=dest, required=required, title="commands", metavar="COMMAND")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="bizenv",
        description=_paragraph(
            "营商环境 cross-department data pipeline: ingest department data, publish monthly indicators and read "
            "them back. Errors a user can fix end with one line on stderr and exit code 1 (2: a batch rejected "
            "for its content)."),
        epilog=_examples(
            "bizenv db upgrade",
            "bizenv ingest-file registration var/files/registration.csv",
            "bizenv indicators compute --month 2024-06",
            "bizenv indicators show --month 2024-06 --region 152921",
            "bizenv quarantine list --dataset registration",
            "bizenv COMMAND --help",
        ),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    commands = _subcommands(parser, "command")

    db = _subcommands(_command(
        commands, "db", "warehouse schema and access",
        "bizenv db upgrade", "bizenv db grant-readonly dashboard_reader",
        description="Create or migrate the warehouse (BIZENV_WAREHOUSE_URL), and let a database role read the "
        "marts.",
    ), "db_command")
    _command(db, "upgrade", "create or migrate the warehouse", "bizenv db upgrade",
             "BIZENV_WAREHOUSE_URL=postgresql+psycopg://bizenv@db/warehouse bizenv db upgrade",
             description="Create the warehouse or migrate it to the newest revision, then re-create every view of "
             "sql/views and sql/marts. Prints the revision.").set_defaults(func=cmd_db_upgrade)
    grant = _command(db, "grant-readonly", "let a database role read the marts and nothing else (PostgreSQL)",
                     "bizenv db grant-readonly dashboard_reader",
                     description="Let a PostgreSQL role read schema mart, where dashboards read and where no "
                     "personal data is, and nothing else (bizenv.marts.grant_readonly). The role is created "
                     "(LOGIN, no password: set one with `alter role ... password`) when it does not exist, and "
                     "keeps reading the views every `bizenv db upgrade` re-creates. Prints one line. An embedded "
                     "DuckDB warehouse has no roles: refused, naming the read-only copy dashboards open instead.")
    grant.add_argument("role", help="role name: lowercase letters, digits and _, e.g. dashboard_reader")
    grant.set_defaults(func=cmd_db_grant_readonly)

    simulate = _command(
        commands, "simulate", "synthetic department data",
        "bizenv simulate --out var/files",
        "bizenv simulate --out var/files --entities 2000 --months 2024-01:2024-06 --seed 7",
        "bizenv simulate --out var/files --database sqlite:///bdc.sqlite",
        "bizenv simulate serve --data var/files --token local-token",
        description="Write synthetic department files (one per dataset, as departments deliver them) for "
        "trying the pipeline out; `serve` puts them behind a local REST API.",
    )
    simulate.add_argument("--out", help="directory for the department files (required without `serve`)")
    simulate.add_argument("--entities", type=int, default=500, help="number of market entities (default %(default)s)")
    simulate.add_argument("--months", default="2024-01:2024-06",
                          help="FIRST:LAST months to simulate (default %(default)s)")
    simulate.add_argument("--seed", type=int, default=7, help="random seed; the same seed gives the same files "
                          "(default %(default)s)")
    simulate.add_argument("--database", help="also fill the department database of each `database` source "
                          "(SQLAlchemy URL, e.g. sqlite:///bdc.sqlite)")
    simulate.set_defaults(func=cmd_simulate)
    serve = _command(
        _subcommands(simulate, "simulate_command", required=False), "serve",
        "run a local department HTTP API over simulated data",
        "bizenv simulate serve --data var/files --token local-token",
        "bizenv simulate serve --data var/files --token local-token --host 0.0.0.0 --port 9000",
        description="Serve the files written by `bizenv simulate --out` as a department REST API (bearer token, "
        "paged, incremental since a time), for the `http` sources of sources.yaml. Runs until stopped.",
    )
    serve.add_argument("--data", required=True, help="directory written by `bizenv simulate --out`")
    serve.add_argument("--host", default="127.0.0.1", help="address to listen on (default %(default)s)")
    serve.add_argument("--port", type=int, default=8765, help="port to listen on (default %(default)s)")
    serve.add_argument("--token", required=True, help="bearer token the API expects")
    serve.set_defaults(func=cmd_simulate_serve)

    ingest_file = _command(
        commands, "ingest-file", "one department file; prints a JSON summary",
        "bizenv ingest-file registration var/files/registration.csv",
        "bizenv ingest-file real_estate_case 不动产登记2024-06.xlsx --max-bad-share 0.1",
        description="Land, validate and merge one department file (CSV in UTF-8, GB18030 or UTF-16, or XLSX) "
        "as one batch. Prints the batch's reconciled counts as one JSON line; exits 2 with one line when "
        "the batch is rejected whole.",
    )
    ingest_file.add_argument("dataset", help="registration, tax_filing, credit_record or real_estate_case")
    ingest_file.add_argument("path", help="the department file")
    ingest_file.add_argument(
        "--max-bad-share",
        type=float,
        default=None,
        help="reject the batch above this share of bad rows (default 0.05)",
    )
    ingest_file.set_defaults(func=cmd_ingest_file)

    ingest = _command(
        commands, "ingest", "one configured source, incremental",
        "bizenv ingest amr_registration", "bizenv ingest bdc_real_estate_db",
        description="Extract what changed since the stored watermark from one source of sources.yaml, land "
        "it and load it, then advance the watermark; the same steps as the source's ingest DAG. Prints one "
        "JSON line per batch.",
    )
    ingest.add_argument("source", help="a source name of include/config/sources.yaml, e.g. amr_registration")
    ingest.set_defaults(func=cmd_ingest)

    indicators = _subcommands(_command(
        commands, "indicators", "monthly indicator snapshots",
        "bizenv indicators compute --month 2024-06", "bizenv indicators show --month 2024-06",
        "bizenv indicators revise --month 2024-05 --reason \"税务局更正5月申报数据\"",
        description="Compute, validate and publish a month's indicator snapshot, show the published one, and "
        "revise a published month with a reason.",
    ), "indicators_command")
    compute = _command(
        indicators, "compute", "compute, validate and publish a month",
        "bizenv indicators compute --month 2024-06",
        "bizenv indicators compute --month 2024-06 --as-of 2024-07-05T08:00:00",
        "bizenv indicators compute --month 2024-06 --as-of 2024-07-05T16:00:00+08:00 --format csv",
        description="Compute every indicator of indicators.yaml for the month as a new snapshot version, check "
        "it and publish it. Prints the run as one JSON line. A final (正式) month is refused: change it with "
        "`bizenv indicators revise`. With --as-of, print the month's rows as they would have been computed "
        "from the warehouse at that time, like `indicators show`, and store nothing.",
    )
    compute.add_argument("--month", required=True, help="reporting month, YYYY-MM")
    compute.add_argument("--as-of", metavar="TIMESTAMP",
                         help="compute from the warehouse as it stood then and only print the rows; ISO time, "
                         "UTC unless it has an offset, e.g. 2024-07-05T08:00:00")
    _add_format_option(compute)
    compute.set_defaults(func=cmd_indicators_compute)
    revise = _command(
        indicators, "revise", "revise a published month, final or not, with a reason",
        "bizenv indicators revise --month 2024-06 --reason \"税务局更正6月申报渠道\"",
        "bizenv indicators revise --month 2024-06 --reason \"corrected registration delivery of 2024-07-20\"",
        description="Recompute, check and publish a published month as a revision: the only way a final (正式) "
        "month changes. The reason is recorded on the run and with every value it changes in "
        "mart.snapshot_revision. Prints the run as one JSON line.",
    )
    revise.add_argument("--month", required=True, help="reporting month, YYYY-MM")
    revise.add_argument("--reason", required=True, help="why the month is revised (recorded)")
    revise.set_defaults(func=cmd_indicators_revise)
    show = _command(
        indicators, "show", "the latest published snapshot of a month",
        "bizenv indicators show --month 2024-06",
        "bizenv indicators show --month 2024-06 --region 152921",
        "bizenv indicators show --month 2024-06 --format csv > indicators-2024-06.csv",
        description="The latest published snapshot of a month, by reporting unit in catalog order. The table "
        "shows value, target, 达标 / 未达标 / 样本不足 / 无目标 / 无数据, sample size, the previous month and "
        "the same month last year (ratios in %, working days with two decimals, — for no value); json and "
        "csv hold every column of the snapshot.",
    )
    show.add_argument("--month", required=True, help="reporting month, YYYY-MM")
    show.add_argument("--region", help="one reporting unit's division code, e.g. 152921 (default: all)")
    _add_format_option(show)
    show.set_defaults(func=cmd_indicators_show)

    quarantine = _subcommands(_command(
        commands, "quarantine", "rejected rows",
        "bizenv quarantine list", "bizenv quarantine summary --month 2024-06",
        "bizenv quarantine export --department 市场监管局 --month 2024-06 --out feedback",
        description="Rows that failed validation, kept with their reasons (personal IDs masked) until a "
        "corrected delivery resolves them.",
    ), "quarantine_command")
    qlist = _command(
        quarantine, "list", "open quarantined rows with their reasons",
        "bizenv quarantine list", "bizenv quarantine list --dataset registration --all",
        "bizenv quarantine list --format json", "bizenv quarantine list --rule uscc_check_char",
        "bizenv quarantine list --rule exit_without_date",
        description="Quarantined rows, oldest first: dataset, batch, file, row, record key, region, the "
        "reason (Chinese) and when it was found (Asia/Shanghai); with --all also resolved rows and the batch "
        "that resolved them. json and csv add the English reason, the failed rules and the masked record. "
        "--rule exit_without_date lists instead the entities whose exit (注销/吊销/迁出) is dated by the "
        "department's 更新时间 alone, after a count line, so the department can supply the 状态日期.",
    )
    qlist.add_argument("--dataset", help="only this dataset, e.g. registration (default: all four)")
    qlist.add_argument("--all", action="store_true", help="include resolved rows")
    qlist.add_argument(
        "--rule",
        help="only rows that failed this validation rule, e.g. uscc_check_char; exit_without_date: the "
        "entities whose exit has no 状态日期 and no application time, dated by 更新时间",
    )
    _add_format_option(qlist)
    qlist.set_defaults(func=cmd_quarantine_list)
    qsummary = _command(
        quarantine, "summary", "open and resolved rows per dataset",
        "bizenv quarantine summary", "bizenv quarantine summary --month 2024-06 --format json",
    )
    qsummary.add_argument("--month", help="rows quarantined in this month (YYYY-MM, Asia/Shanghai)")
    _add_format_option(qsummary)
    qsummary.set_defaults(func=cmd_quarantine_summary)
    qexport = _command(
        quarantine, "export", "feedback files (GB18030 CSV and XLSX) for a department",
        "bizenv quarantine export --department 市场监管局 --month 2024-06 --out feedback",
        "bizenv quarantine export --dataset tax_filing --month 2024-06 --out feedback",
        description="Write the 数据异议/纠错反馈 files of one department (or dataset) and month: the open rows "
        "under the dataset's own Chinese headers, so the department can correct and re-deliver them. "
        "Prints the paths written.",
    )
    target = qexport.add_mutually_exclusive_group(required=True)
    target.add_argument("--department", help="e.g. 市场监管局")
    target.add_argument("--dataset", help="e.g. registration")
    qexport.add_argument("--month", required=True, help="YYYY-MM: rows quarantined in this month")
    qexport.add_argument("--out", required=True, help="directory for the feedback files")
    qexport.set_defaults(func=cmd_quarantine_export)

    reload = _command(
        commands, "reload", "re-process a failed batch from its landing file",
        "bizenv reload registration-20240701T020000-1a2b3c4d",
        "bizenv reload registration-20240701T020000-1a2b3c4d --max-bad-share 0.1",
        description="Load a landed or failed batch again from its landing file under the same batch id, "
        "without extracting again. A loaded batch is left as it is (exit 0, a note on stderr).",
    )
    reload.add_argument("batch_id", help="the batch id, as ops.batch and the ingest summary name it")
    reload.add_argument("--max-bad-share", type=float, default=None,
                        help="reject the batch above this share of bad rows (default: its source's, else 0.05)")
    reload.set_defaults(func=cmd_reload)

    crosswalk = _subcommands(_command(
        commands, "crosswalk", "legacy 注册号 → USCC crosswalk", "bizenv crosswalk load crosswalk.csv",
    ), "crosswalk_command")
    cload = _command(
        crosswalk, "load", "load a crosswalk file (注册号, 统一社会信用代码)",
        "bizenv crosswalk load crosswalk.csv", "bizenv crosswalk load 注册号对照.xlsx",
    )
    cload.add_argument("path",
                       help="CSV or XLSX file with the columns 注册号 and 统一社会信用代码 (or legacy_reg_no, uscc)")
    cload.set_defaults(func=cmd_crosswalk_load)

    conflicts = _subcommands(_command(
        commands, "conflicts", "department values that disagree with core", "bizenv conflicts list",
    ), "conflicts_command")
    clist = _command(
        conflicts, "list", "recorded survivorship conflicts",
        "bizenv conflicts list", "bizenv conflicts list --dataset tax_filing --format csv",
    )
    clist.add_argument("--dataset", help="only conflicts from this dataset, e.g. tax_filing (default: all)")
    _add_format_option(clist)
    clist.set_defaults(func=cmd_conflicts_list)

    profile = _subcommands(_command(
        commands, "profile", "一企一档 enterprise profile", "bizenv profile show 91152921MA0N00010T",
    ), "profile_command")
    pshow = _command(
        profile, "show", "one enterprise's profile (no personal data)",
        "bizenv profile show 91152921MA0N00010T", "bizenv profile show 91152921MA0N00010T --format json",
    )
    pshow.add_argument("uscc", help="the enterprise's 统一社会信用代码 (18 characters)")
    _add_format_option(pshow)
    pshow.set_defaults(func=cmd_profile_show)

    report = _command(
        commands, "report", "the monthly HTML report of the latest published snapshot",
        "bizenv report --month 2024-06 --out var/reports/indicators-2024-06.html",
        description="Write the month's self-contained HTML report from its latest published snapshot; prints "
        "a JSON summary. A month without a published snapshot is refused.",
    )
    report.add_argument("--month", required=True, help="reporting month, YYYY-MM")
    report.add_argument("--out", required=True, help="the HTML file to write")
    report.set_defaults(func=cmd_report)

    cal = _subcommands(_command(
        commands, "calendar", "statutory working-day calendar", "bizenv calendar check",
    ), "calendar_command")
    ccheck = _command(
        cal, "check", "list the covered years and their sources; fail for a needed year that is missing",
        "bizenv calendar check", "bizenv calendar check --year 2027 --year 2028",
    )
    ccheck.add_argument("--year", type=int, action="append", metavar="Y",
                        help="a year that must be covered (repeatable; default: this year and the next, "
                        "Asia/Shanghai)")
    ccheck.set_defaults(func=cmd_calendar_check)

    demo = _command(
        commands, "demo", "a whole month end to end, through Airflow",
        "bizenv demo", "bizenv demo --month 2024-03",
        description="Simulate six months of data, deliver it the three ways departments do, run every ingest "
        "DAG and monthly_indicators with `airflow dags test`, then print the batches and the month's "
        "indicators (what `make demo` runs).",
    )
    demo.add_argument("--month", default="2024-06", help="reporting month to show, YYYY-MM (default %(default)s)")
    demo.set_defaults(func=cmd_demo)

    bench = _command(
        commands, "bench", "time every stage of a month on both warehouses, beside to_sql and COPY",
        "bizenv bench --entities 100000", "bizenv bench --entities 1000000 --months 1 --json var/bench.json",
        "bizenv bench --entities 20000 --months 36 --postgres ''",
        description="Simulate department files, then run each stage (ingest-file per dataset, the registration "
        "ingest's read/land/standardize/validate/merge, indicators, report) as its own process on DuckDB and "
        "PostgreSQL and print rows, seconds, rows/s and peak RSS per stage, the fixed cost of a task, and the "
        "registration load beside read_csv + to_sql and a raw COPY of the same file (docs/performance.md). "
        "Every warehouse is new and dropped afterwards.",
    )
    bench.add_argument("--entities", type=int, default=100_000, help="market entities (default %(default)s)")
    bench.add_argument("--months", type=int, default=12,
                       help="months of history simulated, ending at --month (default %(default)s)")
    bench.add_argument("--month", default="2024-06", help="the month computed and reported (default %(default)s)")
    bench.add_argument("--postgres", default=os.environ.get("BIZENV_TEST_POSTGRES_URL",
                                                             "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"),
                       help="admin URL; a database is created and dropped per run ('' for DuckDB only, no ratios; "
                       "default $BIZENV_TEST_POSTGRES_URL or the local server)")
    bench.add_argument("--json", metavar="FILE", help="also write every figure to FILE")
    bench.add_argument("--memory-rows", type=_row_counts, default=None, metavar="N,N",
                       help="also ingest a tax-filing file of each many rows (made from the simulated one) into a "
                       "new warehouse and print its peak RSS, e.g. 200000,2000000 (default: not measured)")
    bench.add_argument("--stage-timeout", type=int, default=0, metavar="SECONDS",
                       help="kill an indicators stage running longer and record it as timed out (default: no limit)")
    bench.set_defaults(func=cmd_bench)
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
