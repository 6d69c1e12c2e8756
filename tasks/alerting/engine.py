"""The pure heart of alerting: aggregate a window, compare, and move one (rule, series) through its states.

Nothing here reads a clock or a database: the scheduled evaluation and the backtest both call
:func:`aggregate` and :func:`step` with the data and the time, so a backtest replays the exact
engine that runs live.

States: ``inactive`` (no open alert) -> ``pending`` (condition true, waiting ``for``) ->
``firing`` -> ``resolved``; ``nodata`` and ``error`` are states of their own. ``pending`` that
clears before ``for`` elapses closes quietly as ``inactive``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta

import numpy as np

from tasks.alerting.model import Rule

__all__ = [
    "OPEN_STATES",
    "AlertState",
    "Evaluation",
    "Transition",
    "aggregate",
    "condition_met",
    "step",
]

OPEN_STATES = ("pending", "firing", "nodata", "error")
# States that notify (firing and its relatives); the rest are quiet.
LOUD_STATES = ("firing", "nodata", "error")


def aggregate(kind: str, ts_ms: np.ndarray, values: np.ndarray) -> float | None:
    """The window's value: None when the window holds no sample (``count`` is then 0)."""
    if kind == "count":
        return float(len(values))
    if len(values) == 0:
        return None
    if kind == "avg":
        return float(values.mean())
    if kind == "min":
        return float(values.min())
    if kind == "max":
        return float(values.max())
    if kind == "sum":
        return float(values.sum())
    if kind == "last":
        return float(values[-1])
    if kind == "p95":
        return _p95(values)
    if kind == "rate":
        # Per second between the first and last sample of the window, as Prometheus' rate() for a
        # gauge-like delta; one sample gives no rate.
        if len(values) < 2 or ts_ms[-1] == ts_ms[0]:
            return None
        return float((values[-1] - values[0]) / ((ts_ms[-1] - ts_ms[0]) / 1000.0))
    raise ValueError(f"aggregation: unknown {kind!r}")


def _p95(values: np.ndarray) -> float:
    """``np.percentile(values, 95)`` (linear interpolation) without its generic machinery, which
    costs ~50 us a call: a cycle computes thousands of these over short windows."""
    ordered = np.sort(values)
    rank = (len(ordered) - 1) * 0.95
    below = int(rank)
    if below + 1 >= len(ordered):
        return float(ordered[-1])
    low, high = float(ordered[below]), float(ordered[below + 1])
    return low + (high - low) * (rank - below)


def condition_met(rule: Rule, value: float) -> bool:
    low, high = rule.threshold, rule.threshold2
    match rule.operator:
        case "gt":
            return value > low
        case "gte":
            return value >= low
        case "lt":
            return value < low
        case "lte":
            return value <= low
        case "eq":
            return abs(value - low) <= 1e-9 * max(1.0, abs(low))
        case "between":
            return high is not None and low <= value <= high
        case "outside":
            return high is not None and (value < low or value > high)
    raise ValueError(f"operator: unknown {rule.operator!r}")


@dataclass(frozen=True)
class AlertState:
    """What is remembered per (rule, series) between evaluations (persisted in the alerts table)."""

    state: str = "inactive"
    value: float | None = None
    started_at: datetime | None = None  # entered pending/firing/nodata/error
    firing_at: datetime | None = None
    last_true_at: datetime | None = None
    last_notified_at: datetime | None = None
    acknowledged_at: datetime | None = None
    alert_id: int | None = None

    @property
    def is_open(self) -> bool:
        return self.state in OPEN_STATES

    def with_value(self, value: float | None, last_true_at: datetime | None = None) -> AlertState:
        """This state with a new value (and last-true time): the engine's most frequent change,
        built directly because ``dataclasses.replace`` costs a few microseconds a call."""
        if value == self.value and last_true_at is None:
            return self
        return AlertState(
            self.state,
            value,
            self.started_at,
            self.firing_at,
            self.last_true_at if last_true_at is None else last_true_at,
            self.last_notified_at,
            self.acknowledged_at,
            self.alert_id,
        )


@dataclass(frozen=True)
class Evaluation:
    """One evaluation's input: the aggregated value (None = no data) or the error that prevented it."""

    value: float | None
    error: str | None = None


@dataclass(frozen=True)
class Transition:
    from_state: str
    to_state: str
    value: float | None
    note: str = ""


@dataclass(frozen=True)
class Outcome:
    """What :func:`step` decided: the new state, the transition (if any) and what to notify."""

    state: AlertState
    transition: Transition | None
    notify: str | None  # "firing", "resolved" or "repeat"; None = stay quiet


def _enter(current: AlertState, to_state: str, value: float | None, now: datetime, note: str) -> Outcome:
    opening = not current.is_open
    new = replace(
        current if not opening else AlertState(),
        state=to_state,
        value=value,
        started_at=now if opening else current.started_at,
        firing_at=now if to_state in LOUD_STATES else current.firing_at if not opening else None,
        last_true_at=now if to_state != "inactive" else current.last_true_at,
        # A new state clears an acknowledgement: it only covers the state it was given in.
        acknowledged_at=None,
        alert_id=None if opening else current.alert_id,
        last_notified_at=now if to_state in LOUD_STATES else (None if opening else current.last_notified_at),
    )
    notify = "firing" if to_state in LOUD_STATES else None
    return Outcome(new, Transition(current.state, to_state, value, note), notify)


def _close(current: AlertState, to_state: str, value: float | None, now: datetime, note: str) -> Outcome:
    was_loud = current.state in LOUD_STATES
    new = replace(current, state=to_state, value=value, last_notified_at=now if was_loud else None)
    return Outcome(new, Transition(current.state, to_state, value, note), "resolved" if was_loud else None)


def step(rule: Rule, current: AlertState, evaluation: Evaluation, now: datetime) -> Outcome:
    """Advance one (rule, series) by one evaluation at ``now``."""
    value = evaluation.value
    if evaluation.error is not None:
        if current.state == "error":
            return _repeat(rule, current.with_value(None), now)
        return _enter(current, "error", None, now, evaluation.error)
    if value is None:
        if rule.no_data == "keep":
            return Outcome(current, None, None)
        if rule.no_data == "alerting":
            if current.state == "nodata":
                return _repeat(rule, current, now)
            if current.state == "firing":
                # Already loud about this series: keep firing rather than swap one alert for another.
                return _repeat(rule, current, now)
            return _enter(current, "nodata", None, now, "no data in the window")
        met = False  # "ok": no data counts as healthy
    else:
        met = condition_met(rule, value)
    if met:
        assert value is not None
        if current.state in ("inactive", "resolved", "nodata", "error"):
            if current.state in ("nodata", "error"):
                # Leaving nodata/error for a real reading: close that alert, open the real one next time.
                return _close(current, "resolved", value, now, "data is back")
            if rule.for_seconds > 0:
                return _enter(current, "pending", value, now, "condition true; waiting 'for'")
            return _enter(current, "firing", value, now, "condition true")
        if current.state == "pending":
            assert current.started_at is not None
            if now - current.started_at >= timedelta(seconds=rule.for_seconds):
                outcome = _enter(current, "firing", value, now, "true for the whole 'for' duration")
                return outcome
            return Outcome(current.with_value(value, now), None, None)
        # firing: remember the latest true time (keep_firing_for counts from it) and maybe repeat.
        return _repeat(rule, current.with_value(value, now), now)
    # Condition false (or no data counted as OK).
    if current.state == "pending":
        return _close(current, "inactive", value, now, "cleared before 'for' elapsed")
    if current.state in ("nodata", "error"):
        return _close(current, "resolved", value, now, "data is back" if value is not None else "cleared")
    if current.state == "firing":
        last_true = current.last_true_at or now
        if rule.keep_firing_seconds and now - last_true < timedelta(seconds=rule.keep_firing_seconds):
            return _repeat(rule, current.with_value(value), now)
        return _close(current, "resolved", value, now, "condition false")
    return Outcome(current.with_value(value), None, None)


def _repeat(rule: Rule, current: AlertState, now: datetime) -> Outcome:
    """Still loud: notify again once the repeat interval has passed, unless acknowledged."""
    if (
        rule.repeat_seconds > 0
        and current.acknowledged_at is None
        and current.last_notified_at is not None
        and now - current.last_notified_at >= timedelta(seconds=rule.repeat_seconds)
    ):
        return Outcome(replace(current, last_notified_at=now), None, "repeat")
    return Outcome(current, None, None)
