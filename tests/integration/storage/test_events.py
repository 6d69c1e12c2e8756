"""Store.logs / alerts / incidents on SQLite (FTS5) and MariaDB (FULLTEXT)."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

import storage
from storage.engine import write_transaction
from storage.schema import alert_rules, alerts, incidents, log_entries
from storage.timeparse import utc_now
from tests.support import inserted_id

LINES = [
    ("info", "GET /orders 200 in 12 ms", "req-1"),
    ("warning", "slow query on orders: 1.8 s", "req-2"),
    ("error", "upstream timeout talking to payments", "req-3"),
    ("critical", "database connection timeout, giving up", "req-4"),
    ("error", "payments refused the card", "req-5"),
]


@pytest.fixture
def events_store(store: storage.Store) -> storage.Store:
    now = utc_now()
    now_ms = int(now.timestamp() * 1000)
    naive = now.replace(tzinfo=None)
    with write_transaction(store.engine) as conn:
        conn.execute(
            log_entries.insert(),
            [
                {
                    "ts": now_ms - (len(LINES) - i) * 1000,
                    "host": "web1",
                    "source": "/var/log/app.log",
                    "level": level,
                    "channel": "app",
                    "message": message,
                    "context": {"n": i},
                    "request_id": request_id,
                }
                for i, (level, message, request_id) in enumerate(LINES)
            ]
            + [
                {
                    "ts": now_ms - 3 * 86_400_000,
                    "host": "web1",
                    "source": "/var/log/app.log",
                    "level": "error",
                    "channel": "app",
                    "message": "old timeout from three days ago",
                    "context": None,
                    "request_id": None,
                }
            ],
        )
        rule = inserted_id(
            conn.execute(
                alert_rules.insert(),
                {
                    "name": "cpu high",
                    "metric": "system.cpu.percent",
                    "condition": ">",
                    "threshold": 90.0,
                    "created_at": naive,
                    "updated_at": naive,
                },
            )
        )
        conn.execute(
            alerts.insert(),
            [
                {
                    "rule_id": rule,
                    "state": "firing",
                    "value": 97.0,
                    "started_at": naive - timedelta(minutes=5),
                },
                {
                    "rule_id": rule,
                    "state": "resolved",
                    "value": 93.0,
                    "started_at": naive - timedelta(hours=2),
                    "resolved_at": naive - timedelta(hours=1),
                },
            ],
        )
        conn.execute(
            incidents.insert(),
            [
                {
                    "title": "Checkout down",
                    "status": "investigating",
                    "severity": "critical",
                    "opened_at": naive,
                    "resolved_at": None,  # executemany takes its columns from the first row
                },
                {
                    "title": "Slow search",
                    "status": "resolved",
                    "severity": "low",
                    "opened_at": naive - timedelta(days=2),
                    "resolved_at": naive - timedelta(days=1),
                },
            ],
        )
    return store


def test_logs_full_text_search_needs_every_word(events_store):
    found = events_store.logs(query="timeout")
    assert found["message"].tolist() == [
        "database connection timeout, giving up",
        "upstream timeout talking to payments",
    ]
    assert events_store.logs(query="payments timeout")["request_id"].tolist() == ["req-3"]
    assert events_store.logs(query="timeout", since="7d")["message"].str.contains("three days").sum() == 1
    assert events_store.logs(query='nothing "like" this').empty  # quotes in user input are not operators


def test_logs_level_is_a_minimum_and_filters_combine(events_store):
    assert events_store.logs(level="error")["level"].tolist() == ["error", "critical", "error"]
    assert events_store.logs(level="warning", query="orders")["request_id"].tolist() == ["req-2"]
    assert events_store.logs(request_id="req-5")["message"].tolist() == ["payments refused the card"]
    frame = events_store.logs()
    assert len(frame) == 5 and str(frame["ts"].dt.tz) == "UTC"
    assert frame["ts"].is_monotonic_decreasing
    assert events_store.logs(limit=2)["request_id"].tolist() == ["req-5", "req-4"]


def test_logs_bad_input_is_named(events_store):
    with pytest.raises(ValueError, match="level: 'loud' is not one of"):
        events_store.logs(level="loud")
    with pytest.raises(ValueError, match="limit"):
        events_store.logs(limit=0)


def test_alerts_and_incidents(events_store):
    firing = events_store.alerts(state="firing")
    assert firing[["rule", "metric", "value"]].values.tolist() == [["cpu high", "system.cpu.percent", 97.0]]
    assert str(firing["started_at"].dt.tz) == "UTC"
    assert events_store.alerts()["state"].tolist() == ["firing", "resolved"]
    assert events_store.incidents(status="open")["title"].tolist() == ["Checkout down"]
    assert events_store.incidents(since="1d")["title"].tolist() == ["Checkout down"]
    assert pd.isna(events_store.incidents(status="open")["resolved_at"].iloc[0])
    with pytest.raises(ValueError, match="state: 'burning'"):
        events_store.alerts(state="burning")
