"""The rules installed on first run, from the default thresholds (docs/engineering-notes.md).

Editable and removable like any rule: they are installed once (recorded in ``alert_meta``), so a
deleted default stays deleted."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from storage import Store
from storage import alerts as alertstore
from storage.config import DEFINITIONS
from tasks.config_live import THRESHOLD_KEYS as LEVEL_KEYS

__all__ = [
    "COOLDOWN_KEY",
    "HEALTH_METRIC",
    "THRESHOLD_KEYS",
    "configured_values",
    "default_rules",
    "install_default_rules",
    "sync_default_rules",
]

# Written by the alerts job from the latest health-check results: 1 while a check fails, else 0.
HEALTH_METRIC = "vitals.health.check_failing"
_INSTALLED_KEY = "default_rules_v1"
# Version 1 fired disk and health rules at once (for: 0); v2 waits, like the others.
_WAITS_KEY = "default_rules_v2_for"
_WAITS: tuple[tuple[str, int, int], ...] = (
    ("system.disk.warning", 0, 300),
    ("system.disk.critical", 0, 300),
    ("health.failing", 0, 120),
)
# The configuration values the default rules were last aligned with (JSON).
_SYNCED_KEY = "default_rules_config"

# default rule -> the level (tasks.config_live.THRESHOLD_KEYS) whose configured values it uses.
_RULE_LEVELS = {
    "mysql.connections": "connections",
    "mysql.slow_queries": "slow_queries",
    "redis.hit_rate": "cache_hit_rate",
    "redis.memory": "cache_memory",
    "system.memory": "memory",
    "system.disk": "disk",
    "mysql.replication_lag": "replication_lag",
    "system.cpu": "cpu",
}
# default rule -> the configuration keys of its (warning, critical) thresholds.
THRESHOLD_KEYS: dict[str, tuple[str, str]] = {rule: LEVEL_KEYS[level] for rule, level in _RULE_LEVELS.items()}
COOLDOWN_KEY = "alerts.default_cooldown_minutes"
# Warnings repeat at most hourly ("max 1 per hour per issue"), or slower if the cooldown is longer.
WARNING_REPEAT_SECONDS = 3600


def configured_values(store: Store) -> dict[str, float]:
    """The current thresholds and cooldown of the stored configuration (defaults where unset)."""
    keys = [key for pair in THRESHOLD_KEYS.values() for key in pair] + [COOLDOWN_KEY]
    return {key: float(store.config.value(key=key, max_age_s=0)) for key in keys}


def _design_values() -> dict[str, float]:
    keys = [key for pair in THRESHOLD_KEYS.values() for key in pair] + [COOLDOWN_KEY]
    return {key: float(DEFINITIONS[key].default) for key in keys}


def _repeat_seconds(severity: str, cooldown_minutes: float) -> int:
    cooldown = int(cooldown_minutes * 60)
    return max(cooldown, WARNING_REPEAT_SECONDS) if severity == "warning" else cooldown


def _pair(
    key: str,
    title: str,
    metric: str,
    operator: str,
    warn: float,
    crit: float,
    category: str,
    unit: str,
    aggregation: str = "avg",
    window: int = 300,
    for_seconds: int = 300,
    values: Mapping[str, float] | None = None,
) -> list[dict[str, Any]]:
    values = values or _design_values()
    if key in THRESHOLD_KEYS:
        warn, crit = (values.get(k, d) for k, d in zip(THRESHOLD_KEYS[key], (warn, crit), strict=True))
    cooldown = values.get(COOLDOWN_KEY, float(DEFINITIONS[COOLDOWN_KEY].default))
    rules = []
    for severity, threshold in (("warning", warn), ("critical", crit)):
        word = "above" if operator == "gt" else "below"
        rules.append(
            {
                "name": f"{title} {severity}",
                "metric": metric,
                "operator": operator,
                "threshold": threshold,
                "aggregation": aggregation,
                "window_seconds": window,
                "for_seconds": for_seconds,
                "keep_firing_seconds": 120,
                "repeat_seconds": _repeat_seconds(severity, cooldown),
                "severity": severity,
                "category": category,
                "summary": f"{title} {word} {threshold:g}{unit} on {{host}}: {{value}}{unit}",
                "description": "",
                "no_data": "ok",
                "default_key": f"{key}.{severity}",
            }
        )
    return rules


def default_rules(values: Mapping[str, float] | None = None) -> list[dict[str, Any]]:
    """Connection utilization 70/90 %, slow queries 10/50 per minute, cache hit rate below 60/40 %,
    cache memory 80/95 %, memory 80/95 %, disk 80/95 %, replication lag 5/30 s, CPU 70/90 %, health
    check failing; ``values`` (see :func:`configured_values`) replaces the design's thresholds."""
    v = dict(values or _design_values())
    rules = [
        *_pair(
            "mysql.connections",
            "MySQL connection utilization",
            "mysql.connections.percent",
            "gt",
            70,
            90,
            "database",
            " %",
            values=v,
        ),
        *_pair(
            "mysql.slow_queries",
            "Slow queries per minute",
            "mysql.slow_queries_per_minute",
            "gt",
            10,
            50,
            "database",
            "/min",
            values=v,
        ),
        *_pair(
            "redis.hit_rate",
            "Cache hit rate",
            "redis.hit_rate_percent",
            "lt",
            60,
            40,
            "cache",
            " %",
            window=600,
            values=v,
        ),
        *_cache_memory_rules(v),
        *_pair(
            "system.memory", "Memory use", "system.memory.percent", "gt", 80, 95, "system", " %", values=v
        ),
        *_pair(
            "system.disk",
            "Disk use",
            "system.disk.percent",
            "gt",
            80,
            95,
            "system",
            " %",
            aggregation="last",
            values=v,
        ),
        *_pair(
            "mysql.replication_lag",
            "Replication lag",
            "mysql.replication.lag_seconds",
            "gt",
            5,
            30,
            "database",
            " s",
            window=120,
            for_seconds=60,
            values=v,
        ),
        *_pair("system.cpu", "CPU use", "system.cpu.percent", "gt", 70, 90, "system", " %", values=v),
    ]
    rules.append(
        {
            "name": "Health check failing",
            "metric": HEALTH_METRIC,
            "operator": "gte",
            "threshold": 1,
            "aggregation": "last",
            "window_seconds": 300,
            # A check already fails only after N consecutive failures; two more minutes ride out a
            # service that is still starting next to Vitals.
            "for_seconds": 120,
            "keep_firing_seconds": 60,
            "repeat_seconds": _repeat_seconds("critical", v[COOLDOWN_KEY]),
            "severity": "critical",
            "category": "health",
            "summary": "Health check {check} is failing",
            "description": "",
            "no_data": "ok",
            "default_key": "health.failing",
        }
    )
    return rules


def _cache_memory_rules(values: Mapping[str, float]) -> list[dict[str, Any]]:
    return _pair(
        "redis.memory",
        "Cache memory use",
        "redis.memory.percent",
        "gt",
        80,
        95,
        "cache",
        " %",
        values=values,
    )


def install_default_rules(store: Store) -> int:
    """Install the defaults the first time alerting runs on this store (with the configured
    thresholds), bring older installations' defaults up to date; returns how many rules were added."""
    values = configured_values(store)
    added = alertstore.install_rules_once(store.engine, _INSTALLED_KEY, default_rules(values))
    # Installed before the cache-memory default existed: add it once (a deleted one stays deleted).
    added += alertstore.install_rules_once(
        store.engine, "default_rules_v2_cache_memory", _cache_memory_rules(values)
    )
    if alertstore.meta_value(store.engine, _WAITS_KEY) is None:
        alertstore.update_default_rules(
            store.engine, [(key, "for_seconds", old, new) for key, old, new in _WAITS]
        )
        alertstore.set_meta_value(store.engine, _WAITS_KEY, "done")
    if alertstore.meta_value(store.engine, _SYNCED_KEY) is None:
        # What the rules were just installed with (or, for older installations, the design's values).
        synced = values if added else _design_values()
        alertstore.set_meta_value(store.engine, _SYNCED_KEY, json.dumps(synced))
    sync_default_rules(store)
    return added


def sync_default_rules(store: Store) -> int:
    """Move the default rules to the configured thresholds and cooldown; returns the rules changed.

    Only a rule still holding the previously configured value moves: one edited by hand is left alone.
    """
    raw = alertstore.meta_value(store.engine, _SYNCED_KEY)
    before = {**_design_values(), **(json.loads(raw) if raw else {})}
    now = configured_values(store)
    if now == before:
        return 0
    changes: list[tuple[str, str, Any, Any]] = []
    for rule_key, pair in THRESHOLD_KEYS.items():
        for severity, config_key in zip(("warning", "critical"), pair, strict=True):
            if now[config_key] != before[config_key]:
                changes.append((f"{rule_key}.{severity}", "threshold", before[config_key], now[config_key]))
    if now[COOLDOWN_KEY] != before[COOLDOWN_KEY]:
        keys = [
            f"{rule_key}.{severity}" for rule_key in THRESHOLD_KEYS for severity in ("warning", "critical")
        ]
        for default_key in [*keys, "health.failing"]:
            severity = "warning" if default_key.endswith(".warning") else "critical"
            old = _repeat_seconds(severity, before[COOLDOWN_KEY])
            new = _repeat_seconds(severity, now[COOLDOWN_KEY])
            if old != new:
                changes.append((default_key, "repeat_seconds", old, new))
    changed = alertstore.update_default_rules(store.engine, changes) if changes else 0
    alertstore.set_meta_value(store.engine, _SYNCED_KEY, json.dumps(now))
    return changed
