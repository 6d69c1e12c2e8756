"""Default rules: they wait before firing (a busy box just after start pages nobody), and they follow
the configured thresholds and cooldown without a restart, except where someone edited them by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
from sqlalchemy import delete

import storage
from storage import alerts as alertstore
from storage.schema import alert_meta, alert_rules
from storage.users import Role
from tasks.actions import config as config_actions
from tasks.actions.gate import Actor
from tasks.alerting.defaults import install_default_rules
from tasks.alerting.evaluate import evaluate_rules
from tasks.alerts_jobs import evaluate_alerts
from tasks.context import JobContext
from tasks.incidents_jobs import group_alerts

ADA = Actor("ada", Role.ADMIN)
SETTINGS = storage.load_settings(secret_key="test-secret-key-0123456789abcdef")


def _cpu(store: storage.Store, start: datetime, seconds: int, value: float) -> None:
    stamps = [start + timedelta(seconds=s) for s in range(0, seconds + 1, 5)]
    store.write(pd.DataFrame({"ts": stamps, "metric": "system.cpu.percent", "host": "web1", "value": value}))


def _rule(store: storage.Store, name: str) -> pd.Series:
    return store.alerts.rules().set_index("name").loc[name]


def test_a_busy_box_right_after_start_opens_no_alert_and_no_incident(store: storage.Store) -> None:
    install_default_rules(store)
    rules = store.alerts.rules().set_index("name")
    assert rules.loc["CPU use critical", "for_seconds"] == 300
    assert (rules["for_seconds"] > 0).all(), rules[rules["for_seconds"] == 0].index.tolist()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    _cpu(store, start, 90, 99.0)  # 90 s flat out while everything starts
    for offset in (5, 30, 60, 90):
        evaluate_rules(store, start + timedelta(seconds=offset))
    _cpu(store, start + timedelta(seconds=95), 400, 20.0)  # then it settles
    evaluate_rules(store, start + timedelta(seconds=500))
    assert store.alerts.find(state="firing", since=start - timedelta(hours=1)).empty
    assert group_alerts(store, window_seconds=600)["incidents_opened"] == 0
    # Busy for longer than 'for' (5 minutes): that does fire.
    later = start + timedelta(minutes=10)
    _cpu(store, later, 600, 99.0)
    for offset in (10, 200, 400, 560):
        evaluate_rules(store, later + timedelta(seconds=offset))
    firing = store.alerts.find(state="firing", since=start - timedelta(hours=1))
    assert set(firing["rule"]) == {"CPU use warning", "CPU use critical"}


def test_older_installations_get_the_waiting_defaults(store: storage.Store) -> None:
    install_default_rules(store)
    # What version 1 left behind: disk and health rules firing at once, no cache-memory rule.
    alertstore.update_default_rules(
        store.engine,
        [("system.disk.critical", "for_seconds", 300, 0), ("health.failing", "for_seconds", 120, 0)],
    )
    with store.engine.begin() as conn:
        conn.execute(delete(alert_rules).where(alert_rules.c.default_key.like("redis.memory.%")))
        conn.execute(
            delete(alert_meta).where(
                alert_meta.c.key.in_(["default_rules_v2_for", "default_rules_v2_cache_memory"])
            )
        )
    assert _rule(store, "Disk use critical")["for_seconds"] == 0
    assert install_default_rules(store) == 2  # the two cache-memory rules
    assert _rule(store, "Disk use critical")["for_seconds"] == 300
    assert _rule(store, "Health check failing")["for_seconds"] == 120
    assert "Cache memory use critical" in set(store.alerts.rules()["name"])
    assert install_default_rules(store) == 0


def test_changed_thresholds_move_the_default_rules_without_a_restart(store: storage.Store) -> None:
    context = JobContext(store=store)
    evaluate_alerts(context, SETTINGS)
    assert _rule(store, "CPU use warning")["threshold"] == 70.0
    # Someone tunes the critical CPU rule by hand; the configuration must not undo that.
    critical = _rule(store, "CPU use critical")
    row = alertstore.get_rule(store.engine, int(critical["id"]))
    assert row is not None
    alertstore.update_rule(store.engine, int(critical["id"]), {**row, "threshold": 85.0}, "ada")
    config_actions.bulk_update_config(
        store,
        ADA,
        {
            "alerts.cpu_warn_percent": 50,
            "alerts.cpu_critical_percent": 80,
            "database.connection_critical_percent": 80,
            "cache.hit_rate_warn_percent": 75,
            "alerts.default_cooldown_minutes": 30,
        },
    )
    evaluate_alerts(context, SETTINGS)  # the next cycle of the same running job
    assert _rule(store, "CPU use warning")["threshold"] == 50.0
    assert _rule(store, "CPU use critical")["threshold"] == 85.0  # edited by hand: kept
    assert _rule(store, "MySQL connection utilization critical")["threshold"] == 80.0
    assert _rule(store, "Cache hit rate warning")["threshold"] == 75.0
    assert _rule(store, "Memory use critical")["repeat_seconds"] == 1800  # the new cooldown
    assert _rule(store, "Memory use warning")["repeat_seconds"] == 3600  # warnings: at most hourly
    config_actions.reset_config(store, ADA, "alerts.cpu_warn_percent")
    evaluate_alerts(context, SETTINGS)
    assert _rule(store, "CPU use warning")["threshold"] == 70.0


def test_a_fresh_install_uses_the_configured_thresholds(store: storage.Store) -> None:
    config_actions.set_config(store, ADA, "alerts.disk_warn_percent", 60)
    install_default_rules(store)
    assert _rule(store, "Disk use warning")["threshold"] == 60.0


def test_a_new_rule_without_its_own_repeat_takes_the_configured_cooldown(store: storage.Store) -> None:
    from tasks.actions import alerts as alert_actions

    form = {"name": "load", "metric": "system.cpu.percent", "operator": "gt", "threshold": 5, "window": "1m"}
    store.write(
        pd.DataFrame(
            {
                "ts": [pd.Timestamp.now(tz="UTC")],
                "metric": ["system.cpu.percent"],
                "host": ["h"],
                "value": [1.0],
            }
        )
    )
    assert alert_actions.save_rule(store, ADA, form).repeat_seconds == 900  # the design's 15 minutes
    config_actions.set_config(store, ADA, "alerts.default_cooldown_minutes", 45)
    assert alert_actions.save_rule(store, ADA, {**form, "name": "load 2"}).repeat_seconds == 2700
    assert alert_actions.save_rule(store, ADA, {**form, "name": "load 3", "repeat": "0"}).repeat_seconds == 0
