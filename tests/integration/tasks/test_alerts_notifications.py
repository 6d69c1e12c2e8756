"""Notifications to real receivers on localhost: a signed webhook sees firing then resolved, a
failing receiver is retried with backoff, and a local SMTP server receives the e-mail."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email import message_from_bytes, policy
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

import storage
from dashboard.components.channel_health import channel_health
from storage import alerts as alertstore
from storage.users import Role
from tasks.actions import alerts as actions
from tasks.actions.gate import Actor
from tasks.alerting.delivery import deliver_due
from tasks.alerting.evaluate import evaluate_rules
from tasks.alerting.notify import verify
from tasks.alerting.secrets import secret_box
from tests.support import free_port

ADA = Actor("ada", Role.ADMIN)
SETTINGS = storage.load_settings(secret_key="test-secret-key-0123456789abcdef")
BOX = secret_box(SETTINGS)
BASE = "http://vitals.example"
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=1)


class Receiver:
    """An HTTP server that records each POST and answers with the next status in ``statuses``."""

    def __init__(self, statuses: list[int] | None = None) -> None:
        self.requests: list[dict[str, Any]] = []
        self.statuses = list(statuses or [])
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append({"headers": dict(self.headers), "body": body})
                status = receiver.statuses.pop(0) if receiver.statuses else 200
                self.send_response(status)
                self.end_headers()
                self.wfile.write(b"ok" if status == 200 else b"try later")

            def log_message(self, *args: object) -> None:
                pass

        self.port = free_port()
        self.server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"


@pytest.fixture
def receiver_factory() -> Iterator[Any]:
    started: list[Receiver] = []

    def make(statuses: list[int] | None = None) -> Receiver:
        found = Receiver(statuses)
        found.thread.start()
        started.append(found)
        return found

    yield make
    for found in started:
        found.server.shutdown()
        found.server.server_close()


def write(store: storage.Store, at: datetime, value: float) -> None:
    store.write(
        pd.DataFrame({"ts": [at], "metric": ["system.cpu.percent"], "host": ["web1"], "value": [value]})
    )


def hot_rule(store: storage.Store, channel_id: int) -> None:
    actions.save_rule(
        store,
        ADA,
        {
            "name": "cpu hot",
            "metric": "system.cpu.percent",
            "operator": "gt",
            "threshold": 90,
            "window": "1m",
            "repeat": "0",
            "channels": [channel_id],
            "severity": "critical",
            "runbook_url": "https://runbooks.example/cpu",
        },
    )


def test_signed_webhook_sees_firing_then_resolved(store: storage.Store, receiver_factory) -> None:
    receiver = receiver_factory()
    channel = actions.create_channel(
        store, SETTINGS, ADA, {"name": "hook", "kind": "webhook", "url": receiver.url}
    )
    assert channel.signing_secret
    hot_rule(store, channel.id)
    write(store, NOW, 99)
    evaluate_rules(store, NOW + timedelta(seconds=1), group_wait=0)
    write(store, NOW + timedelta(seconds=60), 10)
    evaluate_rules(store, NOW + timedelta(seconds=61), group_wait=0)
    report = deliver_due(store, BOX, BASE, now=NOW + timedelta(seconds=62))
    assert report.sent == 2
    events = []
    for request in receiver.requests:
        headers = request["headers"]
        assert verify(
            channel.signing_secret,
            headers["X-Vitals-Timestamp"],
            request["body"],
            headers["X-Vitals-Signature"],
        )
        assert not verify(
            "wrong-secret", headers["X-Vitals-Timestamp"], request["body"], headers["X-Vitals-Signature"]
        )
        # A receiver rejects an old timestamp even with a right signature.
        assert not verify(
            channel.signing_secret,
            headers["X-Vitals-Timestamp"],
            request["body"],
            headers["X-Vitals-Signature"],
            now=float(headers["X-Vitals-Timestamp"]) + 3600,
        )
        body = json.loads(request["body"])
        events.append(body["event"])
        alert = body["alerts"][0]
        assert alert["rule"]["name"] == "cpu hot" and alert["host"] == "web1"
        assert alert["url"].startswith(f"{BASE}/alerts?alert=")
        assert alert["annotations"]["runbook_url"] == "https://runbooks.example/cpu"
    assert events == ["firing", "resolved"]


def _overview(store: storage.Store, data_dir: Path) -> str:
    """The Overview page's layout as the browser receives it, as JSON text."""
    from app import create_app
    from dashboard.pages import overview

    settings = SETTINGS.model_copy(update={"data_dir": data_dir})  # the key its channels were stored with
    app = create_app(settings, store, run_scheduler=False)
    with app.server.test_request_context("/"):
        return json.dumps(overview.layout().to_plotly_json(), default=str)


def test_receiver_failing_twice_gets_one_success_and_three_logged_attempts(
    store: storage.Store, receiver_factory, tmp_path: Path
) -> None:
    receiver = receiver_factory([503, 500])
    channel = actions.create_channel(
        store, SETTINGS, ADA, {"name": "hook", "kind": "webhook", "url": receiver.url}
    )
    hot_rule(store, channel.id)
    write(store, NOW, 99)
    evaluate_rules(store, NOW + timedelta(seconds=1), group_wait=0)
    start = NOW + timedelta(seconds=2)
    assert deliver_due(store, BOX, BASE, now=start).retrying == 1
    failing = store.alerts.failing_channels(since="1d")  # shown on the Alerts page and Overview
    assert failing[["name", "kind", "failed", "retrying"]].values.tolist() == [["hook", "webhook", 0, 1]]
    assert failing.iloc[0]["last_error"] == "HTTP 503: try later"
    notice = json.dumps(channel_health(store).to_plotly_json(), default=str)
    assert "1 notification channel failing" in notice and "hook (webhook)" in notice and "try later" in notice
    assert "hook (webhook)" in _overview(store, tmp_path)  # and on Overview, for everyone
    assert deliver_due(store, BOX, BASE, now=start + timedelta(seconds=30)).sent == 0  # not due before 1 min
    assert deliver_due(store, BOX, BASE, now=start + timedelta(seconds=61)).retrying == 1
    assert deliver_due(store, BOX, BASE, now=start + timedelta(seconds=62 + 240)).sent == 0  # 5 min wait
    assert deliver_due(store, BOX, BASE, now=start + timedelta(seconds=62 + 300)).sent == 1
    assert deliver_due(store, BOX, BASE, now=start + timedelta(hours=2)).sent == 0
    assert store.alerts.failing_channels(since="1d").empty  # one success clears the channel
    assert channel_health(store).children is None
    log = store.alerts.deliveries(channel_id=channel.id, since=NOW - timedelta(days=1)).sort_values("attempt")
    assert list(log["attempt"]) == [1, 2, 3]
    assert list(log["status_code"]) == [503, 500, 200]
    assert list(log["status"]) == ["error", "error", "ok"]
    assert log.iloc[0]["response"] == "try later"
    assert len(receiver.requests) == 3
    bodies = {request["body"] for request in receiver.requests}
    assert len(bodies) == 1  # every retry sends the same message


def test_receiver_that_never_answers_is_marked_failed(store: storage.Store) -> None:
    channel = actions.create_channel(
        store, SETTINGS, ADA, {"name": "dead", "kind": "webhook", "url": f"http://127.0.0.1:{free_port()}/"}
    )
    hot_rule(store, channel.id)
    write(store, NOW, 99)
    evaluate_rules(store, NOW + timedelta(seconds=1), group_wait=0)
    at = NOW + timedelta(seconds=2)
    for wait in (0, 60, 300, 900):
        at += timedelta(seconds=wait)
        deliver_due(store, BOX, BASE, now=at)
    outbox = alertstore.outbox_frame(store.engine, channel.id)
    assert list(outbox["status"]) == ["failed"] and outbox.iloc[0]["attempts"] == 4
    assert list(store.alerts.failing_channels(since="1d")["name"]) == ["dead"]


def test_local_smtp_server_receives_plain_and_html(store: storage.Store) -> None:
    aiosmtpd = pytest.importorskip("aiosmtpd.controller")
    received: list[bytes] = []

    class Handler:
        async def handle_DATA(self, server: object, session: object, envelope: Any) -> str:
            received.append(envelope.content)
            return "250 OK"

    port = free_port()
    controller = aiosmtpd.Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        channel = actions.create_channel(
            store,
            SETTINGS,
            ADA,
            {"name": "mail", "kind": "email", "host": "127.0.0.1", "port": port, "to": "oncall@example.com"},
        )
        hot_rule(store, channel.id)
        write(store, NOW, 99)
        evaluate_rules(store, NOW + timedelta(seconds=1), group_wait=0)
        assert deliver_due(store, BOX, BASE, now=NOW + timedelta(seconds=2)).sent == 1
    finally:
        controller.stop()
    assert len(received) == 1
    mail = message_from_bytes(received[0], policy=policy.default)  # parts decode to str
    assert mail["To"] == "oncall@example.com" and "FIRING" in mail["Subject"]
    parts = {part.get_content_type(): part.get_content() for part in mail.walk() if not part.is_multipart()}
    assert "cpu hot" in parts["text/plain"] and "<table" in parts["text/html"]


def test_send_test_is_logged(store: storage.Store, receiver_factory) -> None:
    receiver = receiver_factory()
    channel = actions.create_channel(
        store, SETTINGS, ADA, {"name": "hook", "kind": "webhook", "url": receiver.url}
    )
    result = actions.test_channel(store, SETTINGS, ADA, channel.id, BASE)
    assert result.ok and json.loads(receiver.requests[0]["body"])["event"] == "test"
    log = store.alerts.deliveries(channel_id=channel.id)
    assert list(log["event"]) == ["test"] and list(log["status_code"]) == [200]
