"""The alerting jobs: evaluate the rules every ``alert_evaluation_interval_seconds`` (60 s by default)
and drain the notification outbox every few seconds. Both run on the ``collect`` queue under beat,
or in the embedded scheduler's thread."""

from __future__ import annotations

import logging
from dataclasses import asdict
from typing import Any

import pandas as pd

from storage import Settings, Store
from storage.health import latest_health
from storage.timeparse import utc_now
from tasks import spool
from tasks.alerting.defaults import HEALTH_METRIC, install_default_rules, sync_default_rules
from tasks.alerting.delivery import deliver_due
from tasks.alerting.evaluate import evaluate_rules
from tasks.alerting.secrets import secret_box
from tasks.context import JobContext, JobSpec

__all__ = ["base_url", "deliver_notifications", "evaluate_alerts", "job_specs", "record_health_failures"]

log = logging.getLogger("vitals.tasks.alerts")
DELIVERY_INTERVAL_SECONDS = 10.0


def base_url(settings: Settings) -> str:
    """Where links in notifications point."""
    return settings.public_url or f"http://{settings.bind_host}:{settings.bind_port}"


def job_specs(settings: Settings) -> list[JobSpec]:
    def evaluate(context: JobContext) -> dict[str, object]:
        return evaluate_alerts(context, settings)

    def deliver(context: JobContext) -> dict[str, int]:
        return deliver_notifications(context.store, settings)

    return [
        JobSpec("vitals.evaluate_alerts", settings.alert_evaluation_interval_seconds, evaluate),
        JobSpec("vitals.deliver_notifications", DELIVERY_INTERVAL_SECONDS, deliver),
    ]


def record_health_failures(store: Store, settings: Settings) -> int:
    """One sample per health check, 1 while it fails: what the default "health check failing" rule reads."""
    results = latest_health(store.engine)
    if not results:
        return 0
    now = utc_now()
    frame = pd.DataFrame(
        {
            "ts": pd.Timestamp(now),
            "metric": HEALTH_METRIC,
            "host": "vitals",
            "labels": [{"check": result.name} for result in results],
            "unit": "",
            "value": [1.0 if result.status == "fail" else 0.0 for result in results],
        }
    )
    return spool.write_samples(store, frame, settings.spool_dir)


def evaluate_alerts(context: JobContext, settings: Settings) -> dict[str, object]:
    """Install the default rules the first time, then evaluate every enabled rule once."""
    if not context.state.get("alerts:defaults"):
        added = install_default_rules(context.store)
        if added:
            log.info("installed %d default alert rules", added)
        context.state["alerts:defaults"] = True
        context.state["alerts:config_version"] = context.store.config.version()
    version = context.store.config.version()
    if context.state.get("alerts:config_version") != version:
        # Thresholds or the cooldown may have changed on the Settings page: the default rules follow.
        moved = sync_default_rules(context.store)
        if moved:
            log.info("moved %d default alert rules to the configured thresholds", moved)
        context.state["alerts:config_version"] = version
    try:
        record_health_failures(context.store, settings)
    except Exception as exc:  # alerting on the other rules must go on
        log.warning("health failures not recorded: %s", exc)
    cache: dict[str, Any] = context.keep("alerts:cache", dict)
    report = evaluate_rules(context.store, group_wait=settings.alert_group_wait_seconds, cache=cache)
    return asdict(report)


def deliver_notifications(store: Store, settings: Settings) -> dict[str, int]:
    return asdict(deliver_due(store, secret_box(settings), base_url(settings)))
