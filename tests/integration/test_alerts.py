"""Alerts of failed runs, end to end with `dag.test()`: the task's on_failure_callback (the
bizenv notifier) delivers through the Connection named by BIZENV_ALERT_CONN_ID, defined in the
environment as in production: a JSON webhook to a local HTTP receiver, an e-mail to a local SMTP
sink."""

from __future__ import annotations

import email
import email.policy
import json
import logging
import socketserver
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import quote

import pendulum
import pytest
from sqlalchemy import text

from bizenv.settings import load_settings
from bizenv.sources import drop
from bizenv.warehouse import make_engine, upgrade
from conftest import PROJECT_ROOT

pytestmark = pytest.mark.airflow

RESIDENT_ID = "110101199003071234"  # a made-up number with a resident ID's structure
REGISTRATION_DISPLAY = "市场监管局·市场主体登记数据接入（文件）"
MONTHLY_DISPLAY = "月度营商环境指标计算与发布"


# --- local receivers ---------------------------------------------------------------------------

class _Receiver:
    def __init__(self, server: socketserver.BaseServer) -> None:
        self.server = server
        self.received: list = []
        self.port = server.server_address[1]
        self.thread = threading.Thread(target=server.serve_forever, daemon=True)

    def wait_for(self, count: int, seconds: float = 10) -> list:
        deadline = time.monotonic() + seconds
        while len(self.received) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return list(self.received)


@pytest.fixture
def webhook() -> Iterator[_Receiver]:
    """An HTTP server on 127.0.0.1 recording each POST's path, headers and JSON body."""
    received: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append({"path": self.path, "headers": dict(self.headers), "json": json.loads(body)})
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    receiver = _Receiver(ThreadingHTTPServer(("127.0.0.1", 0), Handler))
    receiver.received = received
    receiver.thread.start()
    yield receiver
    receiver.server.shutdown()
    receiver.server.server_close()


@pytest.fixture
def smtp_sink() -> Iterator[_Receiver]:
    """The server side of SMTP, as far as a client sending one plain message needs it."""
    received: list[dict] = []

    class Handler(socketserver.StreamRequestHandler):
        def reply(self, line: str) -> None:
            self.wfile.write(line.encode("ascii") + b"\r\n")

        def handle(self) -> None:
            envelope: dict = {"rcpt": []}
            self.reply("220 sink ESMTP")
            while line := self.rfile.readline():
                command = line.decode("ascii", "replace").strip()
                verb = command.split(" ", 1)[0].upper()
                if verb in ("EHLO", "HELO"):
                    self.reply("250 sink")
                elif verb == "MAIL":
                    envelope["from"] = command.split(":", 1)[1].strip()
                    self.reply("250 OK")
                elif verb == "RCPT":
                    envelope["rcpt"].append(command.split(":", 1)[1].strip())
                    self.reply("250 OK")
                elif verb == "DATA":
                    self.reply("354 end with <CRLF>.<CRLF>")
                    data = b""
                    while (chunk := self.rfile.readline()) not in (b".\r\n", b""):
                        data += chunk[1:] if chunk.startswith(b"..") else chunk
                    message = email.message_from_bytes(data, policy=email.policy.default)
                    received.append({**envelope, "message": message})
                    envelope = {"rcpt": []}
                    self.reply("250 queued")
                elif verb == "QUIT":
                    self.reply("221 bye")
                    return
                else:
                    self.reply("250 OK")

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    receiver = _Receiver(server)
    receiver.received = received
    receiver.thread.start()
    yield receiver
    server.shutdown()
    server.server_close()


# --- the DAG runs' environment -----------------------------------------------------------------

@pytest.fixture(params=["duckdb", pytest.param("postgres", marks=pytest.mark.postgres)])
def task_warehouse(request, tmp_path: Path, monkeypatch, airflow_db):
    if request.param == "duckdb":
        url = f"duckdb:///{tmp_path / 'var' / 'warehouse.duckdb'}"
    else:
        url = request.getfixturevalue("postgres_database")
    monkeypatch.setenv("BIZENV_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("BIZENV_WAREHOUSE_URL", url)
    monkeypatch.setenv("BIZENV_DROP_STABLE_SECONDS", "0")
    for name in ("AIRFLOW_CONN_BIZENV_WAREHOUSE", "AIRFLOW_CONN_BIZENV_ALERTS", "BIZENV_ALERT_CONN_ID"):
        monkeypatch.delenv(name, raising=False)
    settings = load_settings()
    upgrade(settings)
    return settings


def _dag(dag_id: str):
    from airflow.dag_processing.dagbag import DagBag

    bag = DagBag(dag_folder=str(PROJECT_ROOT / "dags"))
    assert bag.import_errors == {}
    return bag.get_dag(dag_id)


def _drop_broken_file(settings) -> str:
    """A settled file without the registration's columns, named with a resident ID, as a
    department clerk might name it: the drop refuses it."""
    drop_dir = settings.data_dir / "drop" / "registration"
    drop_dir.mkdir(parents=True, exist_ok=True)
    name = f"登记_{RESIDENT_ID}.csv"
    (drop_dir / name).write_text("foo,bar\n1,2\n", encoding="utf-8")
    drop.done_marker(drop_dir / name).touch()
    return name


def test_a_refused_drop_file_fails_the_run_and_posts_the_alert_to_the_webhook(task_warehouse, webhook, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CONN_BIZENV_ALERTS", json.dumps({
        "conn_type": "http", "host": "127.0.0.1", "port": webhook.port, "schema": "hooks/bizenv",
        "password": "alert-token-123"}))
    _drop_broken_file(task_warehouse)

    run = _dag("ingest_amr_registration").test()

    assert run.state == "failed"
    [post] = webhook.wait_for(1)
    assert post["path"] == "/hooks/bizenv"
    assert post["headers"]["Authorization"] == "Bearer alert-token-123"
    assert post["headers"]["Content-Type"] == "application/json; charset=utf-8"
    alert = post["json"]
    masked_name = "登记_1101**********1234.csv"
    assert {key: alert[key] for key in ("category", "dag_id", "dag_display_name", "source", "department",
                                        "task_id", "batch", "run_id", "try_number")} == {
        "category": "ingest_failed", "dag_id": "ingest_amr_registration", "dag_display_name": REGISTRATION_DISPLAY,
        "source": "amr_registration", "department": "市场监管局", "task_id": "advance_watermark", "batch": None,
        "run_id": run.run_id, "try_number": 1}
    rejected = task_warehouse.data_dir / "drop" / "registration_archive" / "rejected"
    assert alert["reason"] == (
        f"amr_registration: 1 file(s) rejected and moved to {rejected}: {masked_name}: missing required column(s) "
        "企业名称(name), 市场主体类型(entity_type), 所属区划代码(region_code), 成立日期(established_date), "
        "登记状态(status), 更新时间(updated_at)")
    assert alert["subject"] == (f"【bizenv】数据接入失败 · ingest failed: {REGISTRATION_DISPLAY} "
                                "(ingest_amr_registration.advance_watermark)")
    assert alert["title_zh"] == "数据接入失败" and alert["title_en"] == "ingest failed"
    assert f"DAG: {REGISTRATION_DISPLAY} (ingest_amr_registration)\n" in alert["text"]
    assert "数据来源 · source: amr_registration (市场监管局)\n" in alert["text"]
    assert f"原因 · reason: {alert['reason']}\n" in alert["text"]
    assert alert["log_url"] == (f"http://localhost:8080/dags/ingest_amr_registration/runs/{quote(run.run_id)}"
                                "/tasks/advance_watermark?try_number=1")
    # the file is refused under its own name, but the alert never carries the full number
    assert RESIDENT_ID not in json.dumps(post, ensure_ascii=False)
    assert next(p.name for p in rejected.iterdir()).startswith("登记_")

    # a month whose working-day calendar year is missing fails the monthly gate: one more alert
    # (2027 is in neither the calendar file nor the package, whose data ends with 2026)
    monthly = _dag("monthly_indicators").test(logical_date=pendulum.datetime(2028, 1, 1, 3, tz="Asia/Shanghai"))
    assert monthly.state == "failed"
    [_, post] = webhook.wait_for(2)
    alert = post["json"]
    assert (alert["category"], alert["dag_id"], alert["dag_display_name"], alert["source"], alert["task_id"]) == (
        "calendar_missing", "monthly_indicators", MONTHLY_DISPLAY, None, "wait_for_departments")
    assert alert["reason"].startswith("cannot compute the indicators of 2027-12: no official working-day calendar "
                                      "for 2027")
    assert "数据来源 · source: 无（月度指标）· none (monthly indicators)\n" in alert["text"]


def test_without_the_alert_connection_a_failure_logs_one_warning_and_runs_as_before(task_warehouse, caplog):
    _drop_broken_file(task_warehouse)
    with caplog.at_level(logging.WARNING, logger="bizenv.airflow.notify"):
        run = _dag("ingest_amr_registration").test()
    assert run.state == "failed"
    lines = [r.getMessage() for r in caplog.records if r.name == "bizenv.airflow.notify"]
    assert lines == ["alert not sent: no Airflow Connection 'bizenv_alerts' (set BIZENV_ALERT_CONN_ID or define "
                     "the Connection): 【bizenv】数据接入失败 · ingest failed: "
                     f"{REGISTRATION_DISPLAY} (ingest_amr_registration.advance_watermark)"]


def test_late_department_data_is_mailed_with_the_december_calendar_warning(task_warehouse, smtp_sink, monkeypatch):
    """No department delivered June 2024, and the gate's deadline (12 hours after the run was
    due) is long past."""
    from bizenv import calendar

    monkeypatch.setenv("BIZENV_ALERT_CONN_ID", "bizenv_mail")
    monkeypatch.setenv("AIRFLOW_CONN_BIZENV_MAIL", f"smtp://127.0.0.1:{smtp_sink.port}?to=ops%40example.gov.cn"
                                                   "%2Cduty%40example.gov.cn&from_email=bizenv%40example.gov.cn"
                                                   "&disable_ssl=true&disable_tls=true&timeout=5")
    # the run happens on some December day while next year's calendar is still missing
    monkeypatch.setattr(calendar, "next_year_warning",
                        lambda today: "the indicators of 2025-01 (run on 2025-02-01) will fail: no calendar for 2025")

    run = _dag("monthly_indicators").test(logical_date=pendulum.datetime(2024, 7, 1, 3, tz="Asia/Shanghai"))

    assert run.state == "failed"
    warning, late = smtp_sink.wait_for(2)
    for mail in (warning, late):
        assert mail["from"] == "<bizenv@example.gov.cn>"
        assert mail["rcpt"] == ["<ops@example.gov.cn>", "<duty@example.gov.cn>"]
        assert mail["message"]["To"] == "ops@example.gov.cn, duty@example.gov.cn"
    assert warning["message"]["Subject"] == (
        f"【bizenv】下一年工作日历尚未录入 · next year's working-day calendar not entered yet: {MONTHLY_DISPLAY} "
        "(monthly_indicators.wait_for_departments)")
    assert "原因 · reason: the indicators of 2025-01 (run on 2025-02-01) will fail: no calendar for 2025\n" in (
        warning["message"].get_content())
    assert late["message"]["Subject"] == (f"【bizenv】部门数据逾期未到 · department data late: {MONTHLY_DISPLAY} "
                                          "(monthly_indicators.wait_for_departments)")
    body = late["message"].get_content()
    assert body.startswith("部门数据逾期未到 · department data late\n\n"
                           f"DAG: {MONTHLY_DISPLAY} (monthly_indicators)\n"
                           "数据来源 · source: 无（月度指标）· none (monthly indicators)\n"
                           "任务 · task: wait_for_departments\n"
                           f"运行 · run: {run.run_id}, logical date 2024-07-01T03:00:00+08:00, 第 1 次尝试 · try 1\n"
                           "原因 · reason: department data for 2024-06 is stale after the deadline: registration, "
                           "tax_filing, credit_record, real_estate_case\n")
    engine = make_engine(task_warehouse.warehouse_url)
    with engine.connect() as conn:
        assert conn.execute(text("select count(*) from ops.snapshot_run")).scalar_one() == 0
    engine.dispose()


def test_a_snapshot_failing_its_checks_alerts(task_warehouse, webhook, monkeypatch):
    """The gate is marked done; the computed snapshot then gets a rate above 1 before the suite
    checks it."""
    import bizenv.indicators

    monkeypatch.setenv("AIRFLOW_CONN_BIZENV_ALERTS", f"http://127.0.0.1:{webhook.port}/hooks/bizenv")
    compute = bizenv.indicators.compute

    def compute_a_broken_rate(engine, month, **options):
        run = compute(engine, month, **options)
        with engine.begin() as conn:
            conn.execute(text("update mart.indicator_snapshot set value = 1.5 where run_id = :run_id "
                              "and region_code = '152900' and indicator_code = 'tax_online_rate'"),
                         {"run_id": run.run_id})
        return run

    monkeypatch.setattr(bizenv.indicators, "compute", compute_a_broken_rate)
    run = _dag("monthly_indicators").test(logical_date=pendulum.datetime(2024, 7, 1, 3, tz="Asia/Shanghai"),
                                          mark_success_pattern="^wait_for_departments$")
    assert run.state == "failed"
    [post] = webhook.wait_for(1)
    alert = post["json"]
    assert post["path"] == "/hooks/bizenv" and "Authorization" not in post["headers"]
    assert (alert["category"], alert["dag_id"], alert["dag_display_name"], alert["task_id"], alert["try_number"]) == (
        "snapshot_invalid", "monthly_indicators", MONTHLY_DISPLAY, "validate_snapshot", 1)
    engine = make_engine(task_warehouse.warehouse_url)
    with engine.connect() as conn:
        status, reason = conn.execute(text("select status, reason from ops.snapshot_run")).one()
    engine.dispose()
    assert status == "failed" and "tax_online_rate" in reason and "152900" in reason
    assert alert["reason"] == reason
    assert alert["subject"] == (f"【bizenv】指标快照校验未通过 · indicator snapshot check failed: {MONTHLY_DISPLAY} "
                                "(monthly_indicators.validate_snapshot)")
