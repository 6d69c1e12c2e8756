"""Read-only what-ifs the editor and the API offer: test a rule now, backtest it over stored history,
and preview what a silence would have muted. Each uses the same functions as the live engine."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from storage import Store
from storage import alerts as alertstore
from storage.timeparse import utc_now
from tasks.alerting.backtest import BacktestEpisode, backtest_series
from tasks.alerting.engine import aggregate, condition_met
from tasks.alerting.evaluate import index_series, matching_series, series_arrays
from tasks.alerting.model import Rule
from tasks.alerting.silencing import active_at, matches

__all__ = [
    "BACKTEST_RANGES",
    "MAX_BACKTEST_SERIES",
    "RuleBacktest",
    "SeriesNow",
    "backtest_rule",
    "check_rule_now",
    "silence_preview",
]

BACKTEST_RANGES = {"24h": timedelta(hours=24), "7d": timedelta(days=7), "30d": timedelta(days=30)}
# A backtest replays at most this many series of the rule (the first by id): enough to judge a rule.
MAX_BACKTEST_SERIES = 20


@dataclass(frozen=True)
class SeriesNow:
    series_id: int
    host: str
    labels: dict[str, Any]
    value: float | None
    met: bool


def check_rule_now(store: Store, rule: Rule, now: datetime | None = None) -> list[SeriesNow]:
    """The rule's window value on each matching series now, and whether the condition holds."""
    now = now or utc_now()
    rows = matching_series(rule, index_series(alertstore.series_for_metrics(store.engine, [rule.metric])))
    now_ms = int(now.timestamp() * 1000)
    samples = alertstore.window_samples(
        store.engine, [r.id for r in rows], now_ms - rule.window_seconds * 1000, now_ms
    )
    arrays = series_arrays(samples)
    found = []
    for row in rows:
        ts, values = arrays.get(row.id, (np.empty(0, "int64"), np.empty(0)))
        value = aggregate(rule.aggregation, ts, values)
        found.append(
            SeriesNow(row.id, row.host, row.labels, value, value is not None and condition_met(rule, value))
        )
    return found


@dataclass
class SeriesBacktest:
    series_id: int
    host: str
    labels: dict[str, Any]
    episodes: list[BacktestEpisode]
    notifications: int
    transitions: list[tuple[datetime, str, str, float | None]]


@dataclass
class RuleBacktest:
    since: datetime
    until: datetime
    every_seconds: float
    series: list[SeriesBacktest] = field(default_factory=list)
    series_total: int = 0
    samples: int = 0

    @property
    def notifications(self) -> int:
        return sum(s.notifications for s in self.series)

    @property
    def episodes(self) -> int:
        return sum(len(s.episodes) for s in self.series)


def backtest_rule(
    store: Store,
    rule: Rule,
    span: str | timedelta = "24h",
    every_seconds: float = 60.0,
    now: datetime | None = None,
) -> RuleBacktest:
    """Replay the rule over the stored raw history of each matching series (the live engine, tick by tick)."""
    if isinstance(span, str):
        if span not in BACKTEST_RANGES:
            raise ValueError(f"range: {span!r} is not one of {', '.join(BACKTEST_RANGES)}")
        span = BACKTEST_RANGES[span]
    until = now or utc_now()
    since = until - span
    rows = matching_series(rule, index_series(alertstore.series_for_metrics(store.engine, [rule.metric])))
    result = RuleBacktest(since, until, every_seconds, series_total=len(rows))
    rows = rows[:MAX_BACKTEST_SERIES]
    start_ms = int(since.timestamp() * 1000) - rule.window_seconds * 1000
    samples = alertstore.window_samples(
        store.engine, [r.id for r in rows], start_ms, int(until.timestamp() * 1000)
    )
    result.samples = len(samples)
    arrays = series_arrays(samples)
    for row in rows:
        ts, values = arrays.get(row.id, (np.empty(0, "int64"), np.empty(0)))
        replay = backtest_series(rule, ts, values, since, until, every_seconds)
        result.series.append(
            SeriesBacktest(
                row.id, row.host, row.labels, replay.episodes, replay.notifications, replay.transitions
            )
        )
    return result


def silence_preview(
    store: Store, silence: Mapping[str, Any], now: datetime | None = None
) -> dict[str, list[dict[str, Any]]]:
    """``muted``: alerts that fired in the last 7 days while the silence would have covered them;
    ``open``: alerts open now that it mutes."""
    now = now or utc_now()
    recent = alertstore.read_alerts(store.engine, since=now - timedelta(days=7), until=now, limit=5000)
    muted, open_now = [], []
    for alert in recent.to_dict("records"):
        facts = {
            "rule_id": alert["rule_id"],
            "host": alert["host"],
            "severity": alert["severity"],
            "labels": alert["labels"] or {},
        }
        if not matches(silence, facts):
            continue
        fired = alert["firing_at"]
        if fired is not None and fired == fired and active_at(silence, fired.to_pydatetime()):
            muted.append(alert)
        still_open = pd.isna(alert["resolved_at"]) and alert["state"] in (
            "pending",
            "firing",
            "nodata",
            "error",
        )
        if still_open and active_at(silence, now):
            open_now.append(alert)
    return {"muted": muted, "open": open_now}
