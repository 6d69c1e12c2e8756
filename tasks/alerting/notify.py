"""Notification messages and the senders: signed webhook, Slack incoming webhook, email over SMTP,
and every other service through Apprise (no hand-written clients for those).

A sender gets one message (one or more alerts that fired or resolved together on a channel) and
returns a :class:`SendResult`; it never raises for a failed delivery, so the outbox can log the
attempt and retry.
"""

from __future__ import annotations

import hashlib
import hmac
import html
import json
import smtplib
import time
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any
from urllib.parse import urlparse

__all__ = [
    "SEVERITY_COLOURS",
    "SendResult",
    "build_message",
    "send",
    "sign",
    "validate_http_url",
    "verify",
]

SEVERITY_COLOURS = {"info": "#3b82f6", "warning": "#f59e0b", "critical": "#dc2626", "emergency": "#7f1d1d"}
TIMEOUT_SECONDS = 10.0
USER_AGENT = "Vitals-Alerts/1"


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status_code: int | None
    response: str
    duration_ms: float


def validate_http_url(url: str, name: str = "url") -> str:
    parts = urlparse(url.strip())
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ValueError(f"{name}: only http:// and https:// URLs are allowed, got {url.strip()!r}")
    return url.strip()


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """``sha256=<hex HMAC-SHA256 over "timestamp.body">``: what ``X-Vitals-Signature`` carries."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify(
    secret: str,
    timestamp: str,
    body: bytes,
    signature: str,
    *,
    tolerance: float = 300.0,
    now: float | None = None,
) -> bool:
    """A receiver's check: right signature and a timestamp no older than ``tolerance`` seconds."""
    try:
        age = (now if now is not None else time.time()) - float(timestamp)
    except ValueError:
        return False
    return abs(age) <= tolerance and hmac.compare_digest(sign(secret, timestamp, body), signature)


def build_message(event: str, alerts: Sequence[Mapping[str, Any]], base_url: str) -> dict[str, Any]:
    """The JSON every channel starts from: event, and per alert its rule, value, labels, annotations
    and a link back to it."""
    base = base_url.rstrip("/")
    items = []
    for alert in alerts:
        annotations = dict(alert.get("annotations") or {})
        items.append(
            {
                "id": alert["id"],
                "state": alert.get("state"),
                "rule": {
                    "id": alert.get("rule_id"),
                    "name": alert.get("rule"),
                    "metric": alert.get("metric"),
                    "severity": alert.get("severity"),
                    "category": alert.get("category"),
                },
                "value": alert.get("value"),
                "host": alert.get("host"),
                "labels": dict(alert.get("labels") or {}),
                "annotations": {"summary": alert.get("summary") or "", **annotations},
                "started_at": _iso(alert.get("started_at")),
                "resolved_at": _iso(alert.get("resolved_at")),
                "url": f"{base}/alerts?alert={alert['id']}",
            }
        )
    worst = _worst([item["rule"]["severity"] for item in items])
    title = f"[{event.upper()}] " + (
        items[0]["annotations"]["summary"] or items[0]["rule"]["name"]
        if len(items) == 1
        else f"{len(items)} alerts"
    )
    return {"event": event, "severity": worst, "title": title, "alerts": items, "url": f"{base}/alerts"}


def _iso(moment: Any) -> str | None:
    return moment.isoformat() if moment is not None and hasattr(moment, "isoformat") else None


def _worst(severities: Sequence[str | None]) -> str:
    order = ("emergency", "critical", "warning", "info")
    ranked = [order.index(s) for s in severities if s in order]
    return order[min(ranked)] if ranked else "info"


def _post(url: str, body: bytes, headers: Mapping[str, str]) -> SendResult:
    request = urllib.request.Request(
        url, data=body, method="POST", headers={"User-Agent": USER_AGENT, **headers}
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as answer:
            text = answer.read(2000).decode(errors="replace")
            return SendResult(200 <= answer.status < 300, answer.status, text, _ms(started))
    except urllib.error.HTTPError as exc:
        text = exc.read(2000).decode(errors="replace") if exc.fp is not None else ""
        return SendResult(False, exc.code, text or str(exc.reason), _ms(started))
    except (urllib.error.URLError, OSError, TimeoutError) as exc:
        return SendResult(False, None, f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}", _ms(started))


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000


def send_webhook(
    config: Mapping[str, Any], secret: Mapping[str, str], message: Mapping[str, Any]
) -> SendResult:
    url = validate_http_url(str(config.get("url", "")))
    body = json.dumps(message, separators=(",", ":"), default=str).encode()
    stamp = str(int(time.time()))
    headers = {
        "Content-Type": "application/json",
        "X-Vitals-Timestamp": stamp,
        "X-Vitals-Signature": sign(secret.get("signing_secret", ""), stamp, body),
        "X-Vitals-Event": str(message.get("event")),
    }
    return _post(url, body, headers)


def slack_payload(message: Mapping[str, Any]) -> dict[str, Any]:
    """An incoming-webhook payload: severity colour on the attachment, a button back to each alert."""
    attachments = []
    for alert in message["alerts"]:
        colour = (
            "#16a34a"
            if message["event"] == "resolved"
            else SEVERITY_COLOURS.get(alert["rule"]["severity"], "#64748b")
        )
        summary = alert["annotations"].get("summary") or alert["rule"]["name"]
        fields = [f"*Severity:* {alert['rule']['severity']}", f"*Value:* {alert['value']}"]
        if alert.get("host"):
            fields.append(f"*Host:* {alert['host']}")
        buttons = [
            {"type": "button", "text": {"type": "plain_text", "text": "Open alert"}, "url": alert["url"]}
        ]
        if alert["annotations"].get("runbook_url"):
            buttons.append(
                {
                    "type": "button",
                    "text": {"type": "plain_text", "text": "Runbook"},
                    "url": alert["annotations"]["runbook_url"],
                }
            )
        attachments.append(
            {
                "color": colour,
                "blocks": [
                    {"type": "section", "text": {"type": "mrkdwn", "text": f"*{summary}*"}},
                    {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
                    {"type": "actions", "elements": buttons},
                ],
            }
        )
    return {"text": message["title"], "attachments": attachments}


def send_slack(
    config: Mapping[str, Any], secret: Mapping[str, str], message: Mapping[str, Any]
) -> SendResult:
    url = validate_http_url(secret.get("url", ""), "webhook_url")
    body = json.dumps(slack_payload(message), default=str).encode()
    return _post(url, body, {"Content-Type": "application/json"})


def email_bodies(message: Mapping[str, Any]) -> tuple[str, str]:
    """Plain text and HTML of one message; every value is escaped in the HTML."""
    lines = [message["title"], ""]
    rows = []
    for alert in message["alerts"]:
        summary = alert["annotations"].get("summary") or alert["rule"]["name"]
        lines += [
            f"- {summary}",
            f"  severity {alert['rule']['severity']}, value {alert['value']}",
            f"  {alert['url']}",
        ]
        rows.append(
            "<tr>"
            f"<td>{html.escape(str(alert['rule']['severity']))}</td>"
            f"<td>{html.escape(str(summary))}</td>"
            f"<td>{html.escape(str(alert['value']))}</td>"
            f'<td><a href="{html.escape(alert["url"], quote=True)}">open</a></td>'
            "</tr>"
        )
    text = "\n".join(lines) + "\n"
    page = (
        f"<html><body><h3>{html.escape(message['title'])}</h3>"
        '<table border="1" cellpadding="4" cellspacing="0">'
        "<tr><th>Severity</th><th>Alert</th><th>Value</th><th></th></tr>"
        + "".join(rows)
        + "</table></body></html>"
    )
    return text, page


def send_email(
    config: Mapping[str, Any], secret: Mapping[str, str], message: Mapping[str, Any]
) -> SendResult:
    text, page = email_bodies(message)
    mail = EmailMessage()
    mail["Subject"] = message["title"]
    mail["From"] = str(config.get("sender") or "vitals@localhost")
    mail["To"] = ", ".join(config.get("to") or [])
    mail.set_content(text)
    mail.add_alternative(page, subtype="html")
    started = time.perf_counter()
    try:
        with smtplib.SMTP(
            str(config.get("host", "localhost")), int(config.get("port", 25)), timeout=TIMEOUT_SECONDS
        ) as smtp:
            if config.get("starttls"):
                smtp.starttls()
            if config.get("username"):
                smtp.login(str(config["username"]), secret.get("password", ""))
            refused = smtp.send_message(mail)
    except (smtplib.SMTPException, OSError) as exc:
        code = getattr(exc, "smtp_code", None)
        return SendResult(
            False, code if isinstance(code, int) else None, f"{type(exc).__name__}: {exc}", _ms(started)
        )
    if refused:
        return SendResult(False, None, f"refused recipients: {', '.join(refused)}", _ms(started))
    return SendResult(True, 250, "accepted", _ms(started))


def send_apprise(
    config: Mapping[str, Any], secret: Mapping[str, str], message: Mapping[str, Any]
) -> SendResult:
    import apprise  # imported here: loading every Apprise plugin costs ~0.5 s, only senders need it

    started = time.perf_counter()
    notifier = apprise.Apprise()
    if not notifier.add(secret.get("url", "")):
        return SendResult(False, None, "Apprise does not understand this URL", _ms(started))
    text, _ = email_bodies(message)
    ok = bool(notifier.notify(title=message["title"], body=text))
    return SendResult(ok, None, "delivered" if ok else "Apprise reported a failure", _ms(started))


_SENDERS = {"webhook": send_webhook, "slack": send_slack, "email": send_email, "apprise": send_apprise}


def send(
    kind: str, config: Mapping[str, Any], secret: Mapping[str, str], message: Mapping[str, Any]
) -> SendResult:
    sender = _SENDERS.get(kind)
    if sender is None:
        return SendResult(False, None, f"unknown channel kind {kind!r}", 0.0)
    try:
        return sender(config, secret, message)
    except ValueError as exc:  # a stored URL that is no longer acceptable
        return SendResult(False, None, str(exc), 0.0)
