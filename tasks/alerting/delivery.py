"""Draining the notification outbox: send what is due, log every attempt, retry with backoff.

The outbox lives in the store, so a queued or retrying notification survives a restart and any
process may send it (claiming a message is one conditional UPDATE). The scheduled job
``vitals.deliver_notifications`` drains it: a Celery task on the ``collect`` queue under beat in
production, the embedded scheduler's thread otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from storage import Store
from storage import alerts as alertstore
from storage.secrets import SecretBox
from storage.timeparse import utc_now
from tasks.alerting.notify import SendResult, build_message, send

__all__ = ["BACKOFF_SECONDS", "DrainReport", "deliver_due", "send_test"]

# After the first attempt fails: retry 1, 5 and 15 minutes later, then give up (failed).
BACKOFF_SECONDS: tuple[float, ...] = (60.0, 300.0, 900.0)


@dataclass
class DrainReport:
    sent: int = 0
    retrying: int = 0
    failed: int = 0


def _message_alerts(store: Store, alert_ids: Sequence[int]) -> list[dict[str, object]]:
    found = []
    for alert_id in alert_ids:
        alert = alertstore.get_alert(store.engine, int(alert_id))
        if alert is not None:
            found.append(alert)
    return found


def deliver_due(
    store: Store,
    box: SecretBox,
    base_url: str,
    now: datetime | None = None,
    backoff: Sequence[float] = BACKOFF_SECONDS,
) -> DrainReport:
    """Send every due message once; a failure is queued again after the next backoff step."""
    now = now or utc_now()
    report = DrainReport()
    for message in alertstore.due_messages(store.engine, now):
        attempt = int(message["attempts"]) + 1
        if not alertstore.claim_message(store.engine, int(message["id"]), int(message["attempts"])):
            continue  # another worker is sending it
        channel = alertstore.get_channel(store.engine, int(message["channel_id"]), box)
        payload = message["payload"]
        if payload is None:
            # Built once, at the first attempt, so every retry sends the same body.
            payload = build_message(message["event"], _message_alerts(store, message["alert_ids"]), base_url)
        if channel is None or not channel["enabled"]:
            result = SendResult(False, None, "channel disabled", 0.0)
        else:
            result = send(channel["kind"], channel["config"], channel.get("secret", {}), payload)
        retry_at = None
        if not result.ok and attempt <= len(backoff):
            retry_at = now + timedelta(seconds=backoff[attempt - 1])
        alertstore.finish_attempt(
            store.engine,
            message,
            attempt=attempt,
            ok=result.ok,
            status_code=result.status_code,
            response=result.response,
            duration_ms=result.duration_ms,
            now=now,
            retry_at=retry_at,
            payload=payload,
        )
        if result.ok:
            report.sent += 1
        elif retry_at is not None:
            report.retrying += 1
        else:
            report.failed += 1
    return report


def send_test(store: Store, box: SecretBox, channel_id: int, base_url: str) -> SendResult:
    """Send a test message to one channel now (logged like any delivery, not retried)."""
    channel = alertstore.get_channel(store.engine, channel_id, box)
    if channel is None:
        raise LookupError(f"channel: no channel with id {channel_id}")
    now = utc_now()
    sample = {
        "id": 0,
        "state": "firing",
        "rule_id": None,
        "rule": "Test notification",
        "metric": "vitals.test",
        "severity": "info",
        "category": "general",
        "value": 1.0,
        "host": None,
        "labels": {},
        "annotations": {"summary": f"Test notification from Vitals to {channel['name']}"},
        "started_at": now,
        "resolved_at": None,
    }
    payload = build_message("test", [sample], base_url)
    result = send(channel["kind"], channel["config"], channel.get("secret", {}), payload)
    message_id = alertstore.enqueue(store.engine, channel_id, "test", [], now, 0)
    alertstore.claim_message(store.engine, message_id, 0)
    message = {"id": message_id, "channel_id": channel_id, "event": "test", "alert_ids": []}
    alertstore.finish_attempt(
        store.engine,
        message,
        attempt=1,
        ok=result.ok,
        status_code=result.status_code,
        response=result.response,
        duration_ms=result.duration_ms,
        now=now,
        retry_at=None,
        payload=payload,
    )
    return result
