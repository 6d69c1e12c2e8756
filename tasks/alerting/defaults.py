"""The rules installed on first run, from the design's thresholds. Editable and removable like any
rule: they are installed once (recorded in ``alert_meta``), so a deleted default stays deleted."""

from __future__ import annotations

from typing import Any

from storage import Store
from storage import alerts as alertstore

__all__ = ["HEALTH_METRIC", "default_rules", "install_default_rules"]

# Written by the alerts job from the latest health-check results: 1 while a check fails, else 0.
HEALTH_METRIC = "vitals.health.check_failing"
_INSTALLED_KEY = "default_rules_v1"


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
) -> list[dict[str, Any]]:
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
                "repeat_seconds": 3600 if severity == "warning" else 900,
                "severity": severity,
                "category": category,
                "summary": f"{title} {word} {threshold:g}{unit} on {{host}}: {{value}}{unit}",
                "description": "",
                "no_data": "ok",
                "default_key": f"{key}.{severity}",
            }
        )
    return rules


def default_rules() -> list[dict[str, Any]]:
    """Connection utilization 70/90 %, slow queries 10/50 per minute, cache hit rate below 60/40 %,
    memory 80/95 %, disk 80/95 %, replication lag 5/30 s, CPU 70/90 %, health check failing."""
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
        ),
        *_pair("system.memory", "Memory use", "system.memory.percent", "gt", 80, 95, "system", " %"),
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
            for_seconds=0,
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
        ),
        *_pair("system.cpu", "CPU use", "system.cpu.percent", "gt", 70, 90, "system", " %"),
    ]
    rules.append(
        {
            "name": "Health check failing",
            "metric": HEALTH_METRIC,
            "operator": "gte",
            "threshold": 1,
            "aggregation": "last",
            "window_seconds": 300,
            "for_seconds": 0,
            "keep_firing_seconds": 60,
            "repeat_seconds": 3600,
            "severity": "critical",
            "category": "health",
            "summary": "Health check {check} is failing",
            "description": "",
            "no_data": "ok",
            "default_key": "health.failing",
        }
    )
    return rules


def install_default_rules(store: Store) -> int:
    """Install the defaults the first time alerting runs on this store; returns how many were added."""
    return alertstore.install_rules_once(store.engine, _INSTALLED_KEY, default_rules())
