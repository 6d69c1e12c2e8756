"""Evaluation cycles against a real store (SQLite and MariaDB): state, history, dedup, restart,
default rules, silences, and the outbox that groups notifications."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

import storage
from storage import alerts as alertstore
from storage.users import Role
from tasks.actions import PermissionDenied
from tasks.actions import alerts as actions
from tasks.actions.gate import Actor
from tasks.alerting.defaults import install_default_rules
from tasks.alerting.evaluate import evaluate_rules

ADA = Actor("ada", Role.ADMIN)
OTTO = Actor("otto", Role.OPERATOR)
VERA = Actor("vera", Role.VIEWER)
SETTINGS = storage.load_settings(secret_key="test-secret-key-0123456789abcdef")
NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)


def write(store: storage.Store, at: datetime, value: float, host: str = "web1") -> None:
    store.write(
        pd.DataFrame({"ts": [at], "metric": ["system.cpu.percent"], "host": [host], "value": [value]})
    )


def cpu_rule(store: storage.Store, **form: object) -> int:
    base = {
        "name": "cpu hot",
        "metric": "system.cpu.percent",
        "operator": "gt",
        "threshold": 90,
        "window": "1m",
        "for": "0",
        "repeat": "0",
    }
    base.update(form)
    rule = actions.save_rule(store, ADA, base)
    assert rule.id is not None
    return rule.id


def test_cycle_fires_once_per_series_records_history_and_resolves(store: storage.Store) -> None:
    write(store, NOW, 50, "web1")
    write(store, NOW, 50, "web2")
    rule_id = cpu_rule(store)
    assert evaluate_rules(store, NOW).transitions == 0
    write(store, NOW + timedelta(seconds=60), 95, "web1")
    report = evaluate_rules(store, NOW + timedelta(seconds=61))
    assert report.transitions == 1
    write(store, NOW + timedelta(seconds=120), 97, "web1")
    evaluate_rules(store, NOW + timedelta(seconds=121))  # still firing: no second alert (dedup)
    open_alerts = store.alerts.find(state="open", since=NOW - timedelta(hours=1))
    assert len(open_alerts) == 1
    alert = open_alerts.iloc[0]
    assert (alert["rule_id"], alert["host"], alert["state"], alert["value"]) == (
        rule_id,
        "web1",
        "firing",
        97,
    )
    write(store, NOW + timedelta(seconds=180), 10, "web1")
    evaluate_rules(store, NOW + timedelta(seconds=181))
    history = store.alerts.history(alert_id=int(alert["id"]))
    assert list(zip(history["from_state"], history["to_state"], history["value"], strict=True)) == [
        ("inactive", "firing", 95.0),
        ("firing", "resolved", 10.0),
    ]
    assert store.alerts.find(state="open", since=NOW - timedelta(hours=1)).empty


def test_restart_neither_refires_nor_forgets(make_store, tmp_path) -> None:
    path = tmp_path / "restart.db"
    first = storage.connect(f"sqlite:///{path}")
    cpu_rule(first, **{"for": "1m"})
    write(first, NOW, 95)
    evaluate_rules(first, NOW + timedelta(seconds=1))  # pending
    first.close()
    second = storage.connect(f"sqlite:///{path}")  # a new process: only the store remembers
    write(second, NOW + timedelta(seconds=60), 96)
    report = evaluate_rules(second, NOW + timedelta(seconds=61))
    assert report.transitions == 1  # pending -> firing: the pending start was remembered
    write(second, NOW + timedelta(seconds=120), 97)
    again = storage.connect(f"sqlite:///{path}")
    assert evaluate_rules(again, NOW + timedelta(seconds=121)).transitions == 0
    alerts = again.alerts.find(since=NOW - timedelta(hours=1))
    assert list(alerts["state"]) == ["firing"]
    assert alerts.iloc[0]["notifications"] == 1


def test_default_rules_install_once_and_stay_deleted(store: storage.Store) -> None:
    added = install_default_rules(store)
    names = set(store.alerts.rules()["name"])
    assert added == len(names) >= 15
    assert {
        "MySQL connection utilization critical",
        "Cache hit rate warning",
        "Health check failing",
    } <= names
    cpu = store.alerts.rules().set_index("name").loc["CPU use critical"]
    assert (cpu["operator"], cpu["threshold"]) == ("gt", 90.0)
    actions.delete_rule(store, ADA, int(cpu["id"]))
    assert install_default_rules(store) == 0
    assert "CPU use critical" not in set(store.alerts.rules()["name"])


def test_silence_mutes_notifications_but_state_is_recorded(store: storage.Store) -> None:
    channel = actions.create_channel(
        store, SETTINGS, ADA, {"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/"}
    )
    rule_id = cpu_rule(store, channels=[channel.id])
    actions.save_silence(
        store,
        OTTO,
        {"rule_id": rule_id, "comment": "maintenance", "starts_at": "2000-01-01", "ends_at": "2100-01-01"},
    )
    write(store, NOW, 99)
    report = evaluate_rules(store, NOW + timedelta(seconds=1))
    assert (report.transitions, report.silenced, report.notifications) == (1, 1, 0)
    assert len(store.alerts.find(state="firing", since=NOW - timedelta(hours=1))) == 1


def test_alerts_firing_together_share_one_message(store: storage.Store) -> None:
    channel = actions.create_channel(
        store, SETTINGS, ADA, {"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/"}
    )
    cpu_rule(store, channels=[channel.id])
    for host in ("web1", "web2", "web3"):
        write(store, NOW, 99, host)
    evaluate_rules(store, NOW + timedelta(seconds=1), group_wait=30)
    outbox = alertstore.outbox_frame(store.engine, channel.id)
    assert len(outbox) == 1 and len(outbox.iloc[0]["alert_ids"]) == 3


def test_roles_acknowledge_resolve_and_refusals_are_audited(store: storage.Store) -> None:
    cpu_rule(store)
    write(store, NOW, 99)
    evaluate_rules(store, NOW + timedelta(seconds=1))
    alert_id = int(store.alerts.find(state="open", since=NOW - timedelta(hours=1)).iloc[0]["id"])
    with pytest.raises(PermissionDenied):
        actions.acknowledge_alerts(store, VERA, [alert_id], "looking")
    with pytest.raises(PermissionDenied):
        actions.save_rule(store, OTTO, {"name": "x"})
    assert actions.acknowledge_alerts(store, OTTO, [alert_id], "on it") == [alert_id]
    found = store.alerts.alert(alert_id=alert_id)
    assert found is not None and (found["acknowledged_by"], found["ack_comment"]) == ("otto", "on it")
    assert actions.resolve_alerts(store, OTTO, [alert_id]) == [alert_id]
    resolved = store.alerts.alert(alert_id=alert_id)
    assert resolved is not None and (resolved["state"], resolved["resolved_by"]) == ("resolved", "otto")
    audit = storage.audit.audit_entries(store.engine)
    assert {"denied", "ok"} <= set(audit["outcome"])


def test_channel_secrets_are_encrypted_and_never_listed(store: storage.Store) -> None:
    created = actions.create_channel(
        store, SETTINGS, ADA, {"name": "hook", "kind": "webhook", "url": "https://example.com/h"}
    )
    assert created.signing_secret and created.signing_secret.startswith("whsec_")
    listed = store.alerts.channels().iloc[0].to_dict()
    assert created.signing_secret not in repr(listed)
    with store.engine.connect() as conn:
        raw = conn.execute(storage.schema.notification_channels.select()).mappings().first()
    assert raw is not None and created.signing_secret not in repr(dict(raw))
    with pytest.raises(actions.RuleInvalid) as caught:
        actions.create_channel(
            store, SETTINGS, ADA, {"name": "bad", "kind": "webhook", "url": "file:///etc/passwd"}
        )
    assert "http" in caught.value.errors["url"]


def test_analytics_counts_and_mttr(store: storage.Store) -> None:
    cpu_rule(store)
    write(store, NOW, 99)
    evaluate_rules(store, NOW + timedelta(seconds=1))
    write(store, NOW + timedelta(seconds=300), 10)
    evaluate_rules(store, NOW + timedelta(seconds=301))
    found = store.alerts.analytics(since=NOW - timedelta(hours=1), until=NOW + timedelta(hours=1))
    rules = found["rules"].iloc[0]
    assert rules["alerts"] == 1 and rules["mttr_seconds"] == pytest.approx(300)
    assert int(found["over_time"]["count"].sum()) == 1
    assert int(found["flapping"].iloc[0]["flips"]) == 2


def test_a_running_evaluator_writes_value_only_changes_at_most_every_flush(store: storage.Store) -> None:
    cpu_rule(store, **{"keep_firing_for": "10m"})
    cache: dict[str, object] = {}  # what the scheduled job keeps between cycles
    write(store, NOW, 95)
    assert evaluate_rules(store, NOW + timedelta(seconds=1), cache=cache).transitions == 1  # firing

    def stored_value() -> float:
        return float(store.alerts.find(state="open", since=NOW - timedelta(hours=1)).iloc[0]["value"])

    write(store, NOW + timedelta(seconds=10), 99)
    evaluate_rules(store, NOW + timedelta(seconds=11), cache=cache)
    assert stored_value() == 97.0  # mean of 95 and 99: the first value change is written
    write(store, NOW + timedelta(seconds=20), 100)
    report = evaluate_rules(store, NOW + timedelta(seconds=21), cache=cache)
    assert report.transitions == 0 and stored_value() == 97.0  # held back, no state changed
    # The engine still works from the held-back state: the condition clears but keep_firing_for
    # counts from the latest true time (21 s), so nothing resolves.
    write(store, NOW + timedelta(seconds=100), 10)
    assert evaluate_rules(store, NOW + timedelta(seconds=101), cache=cache).transitions == 0
    write(store, NOW + timedelta(seconds=400), 95)
    evaluate_rules(store, NOW + timedelta(seconds=401), cache=cache)  # a flush later: written
    assert stored_value() == 95.0
    # A state change is written at once: resolving after keep_firing_for.
    write(store, NOW + timedelta(seconds=1200), 10)
    assert evaluate_rules(store, NOW + timedelta(seconds=1201), cache=cache).transitions == 1
    assert store.alerts.find(state="open", since=NOW - timedelta(hours=1)).empty
