"""Alerts of the bizenv DAGs: a failed task (an ingest refused or still failing after its retries,
department data late past the freshness deadline, a snapshot that fails its checks, a working-day
calendar without the month's year) is reported through one Airflow Connection.

The Connection's id is `$BIZENV_ALERT_CONN_ID` (default `bizenv_alerts`) and its type picks the
channel: `smtp` sends an e-mail, `http`/`https` POSTs the alert as JSON to a webhook. Without that
Connection an alert is one warning line in the task log and nothing else, so the embedded demo
runs unchanged. A delivery that fails is logged in one line too: an alert never changes a task's
outcome.

Every text of an alert passes the resident-ID rule of bizenv.codes (`mask_resident_ids_in_text`,
the rule `bizenv.standardize.hide_resident_ids` applies to department text): a reason quotes
department-supplied text (file names, values) and must not carry a full 身份证号
(docs/security.md).

Imported only inside callbacks and tasks (`bizenv.airflow.dag_config.FailureAlert`), so no DAG file
loads it while parsed and importing it loads no Airflow.
"""

from __future__ import annotations

import base64
import functools
import json
import logging
import os
import smtplib
import ssl
import urllib.request
from dataclasses import asdict, dataclass
from email.message import EmailMessage
from typing import Any

import pendulum

from bizenv.airflow.runtime import TIMEZONE

log = logging.getLogger(__name__)

ALERT_CONN_ENV = "BIZENV_ALERT_CONN_ID"
DEFAULT_ALERT_CONN_ID = "bizenv_alerts"
DEFAULT_TIMEOUT_SECONDS = 10.0
MAX_REASON_CHARS = 1000  # a drop refusal lists every unreadable file; a mail subject line cannot

# category -> (Chinese, English) heading of the alert
CATEGORIES = {
    "ingest_failed": ("数据接入失败", "ingest failed"),
    "data_late": ("部门数据逾期未到", "department data late"),
    "snapshot_invalid": ("指标快照校验未通过", "indicator snapshot check failed"),
    "calendar_missing": ("工作日历缺少年份", "working-day calendar year missing"),
    "task_failed": ("任务失败", "task failed"),
    "calendar_warning": ("下一年工作日历尚未录入", "next year's working-day calendar not entered yet"),
}
INGEST_TASKS = frozenset({"extract_and_land", "validate_and_merge", "advance_watermark"})


@dataclass(frozen=True)
class Alert:
    category: str
    dag_id: str
    dag_display_name: str
    source: str | None
    department: str | None
    task_id: str
    batch: str | None  # a mapped merge's batch id
    run_id: str
    logical_date: str | None
    try_number: int | None
    reason: str
    log_url: str | None

    @property
    def subject(self) -> str:
        zh, en = CATEGORIES[self.category]
        return f"【bizenv】{zh} · {en}: {self.dag_display_name} ({self.dag_id}.{self.task_id})"

    @property
    def text(self) -> str:
        zh, en = CATEGORIES[self.category]
        if self.source:
            source = f"{self.source} ({self.department})" if self.department else self.source
        else:
            source = "无（月度指标）· none (monthly indicators)"
        task = f"{self.task_id} [批次 batch {self.batch}]" if self.batch else self.task_id
        run = self.run_id + (f", logical date {self.logical_date}" if self.logical_date else "")
        if self.try_number:
            run += f", 第 {self.try_number} 次尝试 · try {self.try_number}"
        lines = [
            f"{zh} · {en}",
            "",
            f"DAG: {self.dag_display_name} ({self.dag_id})",
            f"数据来源 · source: {source}",
            f"任务 · task: {task}",
            f"运行 · run: {run}",
            f"原因 · reason: {self.reason}",
        ]
        if self.log_url:
            lines.append(f"日志 · log: {self.log_url}")
        return "\n".join(lines) + "\n"

    def as_json(self) -> dict[str, Any]:
        zh, en = CATEGORIES[self.category]
        return {**asdict(self), "title_zh": zh, "title_en": en, "subject": self.subject, "text": self.text}


def masked(text: str) -> str:
    from bizenv.codes import mask_resident_ids_in_text

    return mask_resident_ids_in_text(text)[0]


def one_line(error: BaseException | str | None) -> str:
    """The first line of an error, masked and bounded."""
    if error is None:
        # a task failed from outside (a timeout, a lost worker, marked failed): no exception here
        return "no error recorded; see the task log"
    text = str(error).strip()
    line = text.splitlines()[0] if text else type(error).__name__
    if len(line) > MAX_REASON_CHARS:
        line = line[: MAX_REASON_CHARS - 1] + "…"
    return masked(line)


def _caused_by(error: BaseException | None, kind: type) -> bool:
    seen = 0
    while error is not None and seen < 10:
        if isinstance(error, kind):
            return True
        error, seen = error.__cause__ or error.__context__, seen + 1
    return False


def category_of(task_id: str, error: BaseException | None) -> str:
    from bizenv.calendar import CalendarCoverageError

    if _caused_by(error, CalendarCoverageError):
        return "calendar_missing"
    if task_id in INGEST_TASKS:
        return "ingest_failed"
    if task_id == "wait_for_departments":  # past the deadline, or the sensor's own timeout
        return "data_late"
    if task_id == "validate_snapshot":
        return "snapshot_invalid"
    return "task_failed"


def alert_from_context(context, source: str | None, *, category: str | None = None,
                       reason: str | None = None) -> Alert:
    """The alert for a task from its Airflow context; `reason` and `category` default to the
    failure's exception."""
    dag = context.get("dag")
    ti = context.get("ti") or context.get("task_instance")
    error = context.get("exception")
    dag_id = getattr(dag, "dag_id", None) or getattr(ti, "dag_id", "")
    task_id = getattr(ti, "task_id", "")
    department = None
    if source:
        from bizenv.sources.config import load_sources_checked

        # the department is a convenience: a sources.yaml broken since the DAG was parsed must
        # not stop the alert
        try:
            configured = load_sources_checked()[0].get(source)
        except Exception:
            configured = None
        department = configured.department if configured is not None else None
    map_index = getattr(ti, "map_index", -1)
    batch = None
    if map_index is not None and map_index >= 0:
        batch = getattr(ti, "rendered_map_index", None) or str(map_index)
    logical_date = context.get("logical_date")
    try:
        log_url = ti.log_url if ti is not None else None
    except Exception:  # the UI's address is a convenience; the alert goes out without it
        log_url = None
    return Alert(
        category=category or category_of(task_id, error),
        dag_id=dag_id,
        dag_display_name=getattr(dag, "dag_display_name", None) or dag_id,
        source=source,
        department=department,
        task_id=task_id,
        batch=masked(batch) if batch else None,
        run_id=masked(str(getattr(ti, "run_id", "") or context.get("run_id", ""))),
        # operators read Shanghai time (the schedules' zone)
        logical_date=pendulum.instance(logical_date).in_timezone(TIMEZONE).isoformat() if logical_date else None,
        try_number=getattr(ti, "try_number", None),
        reason=masked(reason) if reason is not None else one_line(error),
        log_url=masked(log_url) if log_url else None,
    )


def alert_conn_id() -> str:
    return os.environ.get(ALERT_CONN_ENV, "").strip() or DEFAULT_ALERT_CONN_ID


def send_alert(alert: Alert, conn_id: str | None = None) -> str | None:
    """Deliver `alert` through the alert Connection; returns the channel used ("smtp" or
    "webhook"), None when nothing was sent (no such Connection, a type that is neither, or the
    delivery failed: each one warning line)."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    conn_id = conn_id or alert_conn_id()
    try:
        conn = BaseHook.get_connection(conn_id)
    except AirflowNotFoundException:
        log.warning("alert not sent: no Airflow Connection %r (set %s or define the Connection): %s",
                    conn_id, ALERT_CONN_ENV, alert.subject)
        return None
    kind = (conn.conn_type or "").lower()
    try:
        if kind == "smtp":
            send_email(conn, alert)
            log.info("alert sent by e-mail through Connection %r: %s", conn_id, alert.subject)
            return "smtp"
        if kind in ("http", "https"):
            post_webhook(conn, alert)
            log.info("alert posted to the webhook of Connection %r: %s", conn_id, alert.subject)
            return "webhook"
    except (OSError, smtplib.SMTPException, ValueError) as error:
        log.warning("alert not delivered through Connection %r (%s): %s", conn_id, kind,
                    one_line(error) or type(error).__name__)
        return None
    log.warning("alert not sent: Connection %r has type %r; use smtp, http or https", conn_id, conn.conn_type)
    return None


def _flag(extra: dict, key: str) -> bool:
    value = extra.get(key, False)
    return value.strip().lower() in ("1", "true", "yes", "on") if isinstance(value, str) else bool(value)


def _timeout(extra: dict) -> float:
    try:
        return float(extra.get("timeout", DEFAULT_TIMEOUT_SECONDS))
    except (TypeError, ValueError):
        raise ValueError(f"extra.timeout {extra.get('timeout')!r} is not a number of seconds") from None


def webhook_url(conn) -> str:
    """The webhook's address: extra `url`; else a host that is a whole URL (the HttpHook form);
    else `<type>://host[:port]/<schema>`, which is what the URI `http://host:port/path` gives."""
    extra = conn.extra_dejson or {}
    if extra.get("url"):
        return str(extra["url"])
    host = (conn.host or "").strip()
    if not host:
        raise ValueError("the Connection has no host (or extra.url) to post the alert to")
    if "://" in host:
        return host
    scheme = "https" if conn.conn_type == "https" else "http"
    port = f":{conn.port}" if conn.port else ""
    path = (conn.schema or "").lstrip("/")
    return f"{scheme}://{host}{port}/{path}"


def post_webhook(conn, alert: Alert) -> None:
    """POST the alert as UTF-8 JSON. Login and password are sent as basic auth, a password alone
    as a bearer token."""
    extra = conn.extra_dejson or {}
    url = webhook_url(conn)
    if not url.startswith(("http://", "https://")):
        raise ValueError(f"webhook address {url.split('?')[0]!r} is not http(s)")
    headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "bizenv-alerts"}
    if conn.login and conn.password:
        token = base64.b64encode(f"{conn.login}:{conn.password}".encode()).decode("ascii")
        headers["Authorization"] = f"Basic {token}"
    elif conn.password:
        headers["Authorization"] = f"Bearer {conn.password}"
    body = json.dumps(alert.as_json(), ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")  # noqa: S310 - http(s) checked above
    with urllib.request.urlopen(request, timeout=_timeout(extra)) as response:  # noqa: S310 - http(s) checked above
        response.read()


def _addresses(value: Any) -> list[str]:
    items = value if isinstance(value, list | tuple) else str(value or "").replace(";", ",").split(",")
    return [item.strip() for item in items if str(item).strip()]


def send_email(conn, alert: Alert) -> None:
    """Send the alert as a plain-text UTF-8 mail. The extras follow the SMTP provider's Connection:
    `from_email`, `to` (comma-separated), `disable_ssl` (default: implicit TLS, port 465),
    `disable_tls` (default: STARTTLS when not implicit TLS), `timeout`.

    Not the provider's SmtpNotifier: it renders subject and body as Jinja templates, and an
    alert's reason quotes department text (a dropped file's name) that must never be a template."""
    extra = conn.extra_dejson or {}
    recipients = _addresses(extra.get("to"))
    if not recipients:
        raise ValueError("an smtp alert Connection needs extra.to (comma-separated addresses)")
    sender = extra.get("from_email") or (conn.login if conn.login and "@" in conn.login else "bizenv@localhost")
    message = EmailMessage()
    message["Subject"] = alert.subject
    message["From"] = sender
    message["To"] = ", ".join(recipients)
    message.set_content(alert.text, charset="utf-8")
    use_ssl, use_starttls = not _flag(extra, "disable_ssl"), not _flag(extra, "disable_tls")
    host, timeout = conn.host or "localhost", _timeout(extra)
    context = ssl.create_default_context()
    if use_ssl:
        client = smtplib.SMTP_SSL(host, conn.port or 465, timeout=timeout, context=context)
    else:
        client = smtplib.SMTP(host, conn.port or (587 if use_starttls else 25), timeout=timeout)
    with client:
        if not use_ssl and use_starttls:
            client.starttls(context=context)
        if conn.login and conn.password:
            client.login(conn.login, conn.password)
        client.send_message(message)


@functools.cache
def _notifier_class():
    # built on first use: a BaseNotifier subclass at module level would load Airflow on import
    from airflow.sdk import BaseNotifier

    class BizenvAlertNotifier(BaseNotifier):
        """Reports a failed task through the alert Connection."""

        template_fields = ()  # nothing is a template: the reason carries department text

        def __init__(self, source: str | None = None):
            super().__init__()
            self.source = source

        def notify(self, context) -> None:
            send_alert(alert_from_context(context, self.source))

    return BizenvAlertNotifier


def alert_notifier(source: str | None = None):
    """The notifier of one DAG's failures (`source`: its department source, None for the
    monthly DAG), an Airflow `BaseNotifier`: call it with the task's context."""
    return _notifier_class()(source)


def send_warning(context, category: str, reason: str) -> str | None:
    """An alert for something that does not fail the task yet (the next year's calendar missing
    in December)."""
    return send_alert(alert_from_context(context, None, category=category, reason=reason))
