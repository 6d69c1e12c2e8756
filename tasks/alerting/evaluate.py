"""One evaluation cycle: read the windows every enabled rule needs, step each (rule, series), store
what changed, and queue the notifications.

All rules share one series lookup and one sample read (over the longest window), so a cycle costs
two queries plus the writes of what changed, however many rules there are.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy.exc import IntegrityError

from storage import Store
from storage import alerts as alertstore
from storage.timeparse import utc_now
from tasks.alerting.engine import AlertState, Evaluation, Outcome, aggregate, step
from tasks.alerting.model import Rule, render_template
from tasks.alerting.silencing import covers

__all__ = [
    "CycleReport",
    "SeriesRow",
    "evaluate_rules",
    "index_series",
    "matching_series",
    "rule_from_row",
    "series_arrays",
]

log = logging.getLogger("vitals.tasks.alerting")

# The key of a rule-level state (no series matched at all, or the rule could not be evaluated).
RULE_LEVEL = "rule"


@dataclass
class CycleReport:
    rules: int = 0
    evaluations: int = 0
    transitions: int = 0
    notifications: int = 0
    silenced: int = 0
    seconds: float = 0.0
    sql_seconds: float = 0.0
    errors: dict[str, str] = field(default_factory=dict)


def rule_from_row(row: Mapping[str, Any]) -> Rule:
    fields = {key: row[key] for key in Rule.__dataclass_fields__ if key in row}
    fields["channels"] = tuple(fields.get("channels") or ())
    return Rule(**fields)


@dataclass(frozen=True)
class SeriesRow:
    id: int
    host: str
    labels: dict[str, Any]


def index_series(found: pd.DataFrame) -> dict[str, list[SeriesRow]]:
    """Series rows grouped by metric as plain objects: a rule's match is then a list scan, not a
    pandas filter (which costs a millisecond per rule)."""
    grouped: dict[str, list[SeriesRow]] = {}
    for sid, metric, host, labels in zip(
        found["id"], found["metric"], found["host"], found["labels"], strict=True
    ):
        grouped.setdefault(str(metric), []).append(SeriesRow(int(sid), str(host), dict(labels or {})))
    return grouped


def matching_series(rule: Rule, indexed: Mapping[str, list[SeriesRow]]) -> list[SeriesRow]:
    """The series of the rule's metric that its host and label matchers select, by id."""
    rows = indexed.get(rule.metric, [])
    if rule.host:
        rows = [row for row in rows if row.host == rule.host]
    if rule.labels:
        wanted = {str(k): str(v) for k, v in rule.labels.items()}
        rows = [row for row in rows if all(str(row.labels.get(k)) == v for k, v in wanted.items())]
    return sorted(rows, key=lambda row: row.id)


def series_arrays(samples: pd.DataFrame) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Samples (sorted by series, ts) split into (ts, values) arrays per series id."""
    if samples.empty:
        return {}
    sids = samples["series_id"].to_numpy()
    ts = samples["ts"].to_numpy()
    values = samples["value"].to_numpy()
    cuts = np.flatnonzero(np.diff(sids)) + 1
    starts = np.concatenate(([0], cuts))
    ends = np.concatenate((cuts, [len(sids)]))
    return {int(sids[a]): (ts[a:b], values[a:b]) for a, b in zip(starts, ends, strict=True)}


def _window(arrays: tuple[np.ndarray, np.ndarray] | None, low_ms: int) -> tuple[np.ndarray, np.ndarray]:
    if arrays is None:
        return np.empty(0, dtype="int64"), np.empty(0, dtype="float64")
    ts, values = arrays
    at = int(np.searchsorted(ts, low_ms, side="right"))
    return ts[at:], values[at:]


_NO_STATE = AlertState()  # frozen: one shared instance for the many series with no open alert


def _state_of(stored: Mapping[str, Any] | None) -> AlertState:
    if stored is None:
        return _NO_STATE
    return AlertState(
        state=stored["state"],
        value=stored["value"],
        started_at=stored["started_at"],
        firing_at=stored["firing_at"],
        last_true_at=stored["last_true_at"],
        last_notified_at=stored["last_notified_at"],
        acknowledged_at=stored["acknowledged_at"],
        alert_id=int(stored["id"]),
    )


def _summary(rule: Rule, value: float | None, host: str | None, labels: Mapping[str, Any]) -> str:
    values: dict[str, object] = {
        **{str(k): v for k, v in labels.items()},
        "value": value if value is not None else "no data",
        "threshold": rule.threshold,
        "threshold2": rule.threshold2 if rule.threshold2 is not None else "",
        "rule": rule.name,
        "metric": rule.metric,
        "host": host or "",
        "severity": rule.severity,
    }
    if rule.summary:
        return render_template(rule.summary, values)
    shown = "no data" if value is None else f"{value:.4g}"
    where = f" on {host}" if host else ""
    return f"{rule.name}{where}: {rule.condition_text} (value {shown})"


@dataclass
class _Target:
    key: str
    series_id: int | None
    host: str | None
    labels: dict[str, Any]


def _targets(rule: Rule, rows: list[SeriesRow], stored_keys: Sequence[str]) -> list[_Target]:
    targets = [_Target(str(row.id), row.id, row.host, row.labels) for row in rows]
    seen = {target.key for target in targets}
    # Open alerts whose series no longer matches (deleted, or the rule changed): evaluated as no data
    # so they resolve (or alert, per the rule's no-data mode) instead of staying open forever.
    for key in stored_keys:
        if key not in seen:
            targets.append(_Target(key, int(key) if key.isdigit() else None, rule.host, {}))
    if not targets:
        targets.append(_Target(RULE_LEVEL, None, rule.host, {}))
    return targets


def evaluate_rules(
    store: Store,
    now: datetime | None = None,
    *,
    group_wait: float = 30.0,
    rules: Sequence[Mapping[str, Any]] | None = None,
    cache: dict[str, Any] | None = None,
) -> CycleReport:
    """Evaluate every enabled rule once at ``now`` (default: the current time).

    ``cache`` (a dict the caller keeps, e.g. the job's per-process state) keeps the parsed rules and
    the series index between cycles; each cycle checks two cheap fingerprints and re-reads on change.

    Two evaluators racing (a manual run beside the scheduled one, or two beats by mistake) both try
    to open the same alert; the unique ``open_key`` lets one win, and the other re-reads the state
    and evaluates again from it, so neither fails nor duplicates.
    """
    try:
        return _evaluate_once(store, now, group_wait, rules, cache)
    except IntegrityError:
        log.info("another evaluator opened the same alert first; evaluating again from its state")
        return _evaluate_once(store, now, group_wait, rules, cache)


def _active_rules(
    engine: Any, rules: Sequence[Mapping[str, Any]] | None, cache: dict[str, Any] | None
) -> list[Rule]:
    """The enabled rules; with ``cache``, re-read only when the rules table changed."""
    if rules is not None:
        return [rule_from_row(row) for row in rules if row.get("enabled", True)]
    if cache is None:
        return [rule_from_row(row) for row in alertstore.list_rules(engine, enabled=True)]
    mark = alertstore.rules_fingerprint(engine)
    if cache.get("rules_mark") != mark:
        cache["rules"] = [rule_from_row(row) for row in alertstore.list_rules(engine, enabled=True)]
        cache["rules_mark"] = mark
    found: list[Rule] = cache["rules"]
    return found


def _series_index(
    engine: Any, active: Sequence[Rule], cache: dict[str, Any] | None
) -> dict[str, list[SeriesRow]]:
    metrics = frozenset(rule.metric for rule in active)
    if cache is None:
        return index_series(alertstore.series_for_metrics(engine, metrics))
    mark = (alertstore.series_fingerprint(engine), metrics)
    if cache.get("series_mark") != mark:
        cache["series"] = index_series(alertstore.series_for_metrics(engine, metrics))
        cache["series_mark"] = mark
    found: dict[str, list[SeriesRow]] = cache["series"]
    return found


def _read_windows(
    engine: Any, active: Sequence[Rule], per_rule: Mapping[int | None, list[SeriesRow]], now_ms: int
) -> dict[int, tuple[np.ndarray, np.ndarray]]:
    """Each matched series' samples over the longest window any of its rules needs.

    Series are grouped by that window, one read per group (chunked by the store): a rule over an
    hour does not make every 5-minute rule's series read an hour of samples.
    """
    longest: dict[int, int] = {}
    for rule in active:
        for row in per_rule[rule.id]:
            longest[row.id] = max(longest.get(row.id, 0), rule.window_seconds)
    by_window: dict[int, list[int]] = {}
    for sid, seconds in longest.items():
        by_window.setdefault(seconds, []).append(sid)
    arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    for seconds, ids in sorted(by_window.items()):
        samples = alertstore.window_samples(engine, sorted(ids), now_ms - seconds * 1000, now_ms)
        arrays.update(series_arrays(samples))
    return arrays


# With a cache (the scheduled job), an open alert whose only change is its value (and last-true
# time) is written at most this often; the newer value is kept in the cache and laid over the stored
# state meanwhile. State changes and notifications are always written at once. A restart loses at
# most this much of the value's history (keep_firing_for may then count from an older true time).
VALUE_FLUSH_SECONDS = 300.0


def _is_value_only(change: alertstore.StateChange) -> bool:
    return (
        change.alert_id is not None
        and change.transition is None
        and not change.notified
        and change.state in alertstore.OPEN_STATES
    )


def _overlay_unsaved(stored: dict[tuple[int, str], dict[str, Any]], cache: dict[str, Any] | None) -> None:
    """Lay the values held back in ``cache`` over the stored open states (alerts still open only)."""
    if cache is None:
        return
    unsaved: dict[int, tuple[float | None, datetime | None]] = cache.setdefault("unsaved", {})
    open_ids = set()
    for entry in stored.values():
        alert_id = int(entry["id"])
        open_ids.add(alert_id)
        held = unsaved.get(alert_id)
        if held is None:
            continue
        value, last_true = held
        stored_true = entry["last_true_at"]
        if last_true is None or stored_true is None or last_true >= stored_true:
            entry["value"] = value
            entry["last_true_at"] = last_true or stored_true
    # Resolved, deleted or closed meanwhile: nothing left to write or remember.
    written: dict[int, float] = cache.setdefault("written", {})
    for kept in (unsaved, written):
        for alert_id in [a for a in kept if a not in open_ids]:
            del kept[alert_id]


def _due_changes(
    changes: list[alertstore.StateChange], cache: dict[str, Any] | None, now: datetime
) -> list[alertstore.StateChange]:
    """The changes to write now: all but the value-only ones written less than a flush ago."""
    if cache is None:
        return changes
    unsaved: dict[int, tuple[float | None, datetime | None]] = cache.setdefault("unsaved", {})
    written: dict[int, float] = cache.setdefault("written", {})
    moment = now.timestamp()
    due = []
    for change in changes:
        alert_id = change.alert_id
        if alert_id is not None and _is_value_only(change):
            if moment - written.get(alert_id, 0.0) < VALUE_FLUSH_SECONDS:
                unsaved[alert_id] = (change.value, change.last_true_at)
                continue
            written[alert_id] = moment
        if alert_id is not None:
            unsaved.pop(alert_id, None)
        due.append(change)
    return due


def _evaluate_once(
    store: Store,
    now: datetime | None,
    group_wait: float,
    rules: Sequence[Mapping[str, Any]] | None,
    cache: dict[str, Any] | None,
) -> CycleReport:
    started = time.perf_counter()
    now = now or utc_now()
    report = CycleReport()
    engine = store.engine
    sql = 0.0
    t0 = time.perf_counter()
    active = _active_rules(engine, rules, cache)
    report.rules = len(active)
    if not active:
        report.seconds = time.perf_counter() - started
        return report
    found = _series_index(engine, active, cache)
    stored = alertstore.open_states(engine)
    _overlay_unsaved(stored, cache)
    silences = alertstore.list_silences(engine)
    sql += time.perf_counter() - t0
    per_rule = {rule.id: matching_series(rule, found) for rule in active}
    now_ms = int(now.timestamp() * 1000)
    t0 = time.perf_counter()
    arrays = _read_windows(engine, active, per_rule, now_ms)
    sql += time.perf_counter() - t0
    stored_by_rule: dict[int, list[str]] = {}
    for rule_id, key in stored:
        stored_by_rule.setdefault(rule_id, []).append(key)
    changes: list[alertstore.StateChange] = []
    loud: list[tuple[Rule, alertstore.StateChange, str]] = []
    untouched: list[int] = []
    # Rules over one metric mostly share windows and aggregations: each (series, window) slice and
    # each (series, window, aggregation) value is computed once per cycle, however many rules ask.
    windows: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}
    values_seen: dict[tuple[int, int, str], float | None] = {}
    for rule in active:
        assert rule.id is not None
        low_ms = now_ms - rule.window_seconds * 1000
        for target in _targets(rule, per_rule[rule.id], stored_by_rule.get(rule.id, [])):
            previous = stored.get((rule.id, target.key))
            current = _state_of(previous)
            try:
                if target.key == RULE_LEVEL:
                    evaluation = Evaluation(None)
                else:
                    sid = target.series_id if target.series_id is not None else -1
                    value_key = (sid, low_ms, rule.aggregation)
                    if value_key not in values_seen:
                        window = windows.get((sid, low_ms))
                        if window is None:
                            window = windows[(sid, low_ms)] = _window(arrays.get(sid), low_ms)
                        values_seen[value_key] = aggregate(rule.aggregation, *window)
                    evaluation = Evaluation(values_seen[value_key])
            except Exception as exc:  # one broken rule must not stop the others
                evaluation = Evaluation(None, error=f"{type(exc).__name__}: {exc}")
                report.errors[rule.name] = evaluation.error or ""
            outcome = step(rule, current, evaluation, now)
            report.evaluations += 1
            change = _change(rule, target, current, outcome)
            if change is None:
                if current.alert_id is not None:
                    untouched.append(current.alert_id)
                continue
            changes.append(change)
            report.transitions += outcome.transition is not None
            if outcome.notify is not None:
                loud.append((rule, change, outcome.notify))
    t0 = time.perf_counter()
    changes = _due_changes(changes, cache, now)
    ids = alertstore.save_changes(engine, changes, now) if changes else {}
    if cache is None or now.timestamp() - cache.get("touched_at", 0.0) >= VALUE_FLUSH_SECONDS:
        alertstore.touch_evaluated(engine, untouched, now)
        if cache is not None:
            cache["touched_at"] = now.timestamp()
    sql += time.perf_counter() - t0
    for rule, change, event in loud:
        alert_id = ids[(change.rule_id, change.series_key)]
        facts = {
            "rule_id": rule.id,
            "host": change.host,
            "severity": rule.severity,
            "labels": {**change.labels, **rule.alert_labels},
        }
        if covers(silences, facts, now) is not None:
            report.silenced += 1
            continue
        t0 = time.perf_counter()
        for channel_id in rule.channels:
            kind = "resolved" if event == "resolved" else "firing"
            alertstore.enqueue(engine, channel_id, kind, [alert_id], now, group_wait)
            report.notifications += 1
        sql += time.perf_counter() - t0
    report.sql_seconds = sql
    report.seconds = time.perf_counter() - started
    return report


def _change(
    rule: Rule, target: _Target, current: AlertState, outcome: Outcome
) -> alertstore.StateChange | None:
    new = outcome.state
    if outcome.transition is None and outcome.notify is None and new.value == current.value:
        return None
    if outcome.transition is None and outcome.notify is None and not new.is_open:
        return None  # inactive stays inactive: nothing is stored for a healthy series
    assert rule.id is not None
    transition = None
    if outcome.transition is not None:
        t = outcome.transition
        transition = (t.from_state, t.to_state, t.value, t.note)
    labels = {**target.labels, **rule.alert_labels}
    return alertstore.StateChange(
        rule_id=rule.id,
        series_key=target.key,
        series_id=target.series_id,
        host=target.host,
        labels=labels,
        state=new.state,
        value=new.value,
        started_at=new.started_at,
        firing_at=new.firing_at,
        last_true_at=new.last_true_at,
        last_notified_at=new.last_notified_at,
        alert_id=new.alert_id,
        summary=_summary(rule, new.value, target.host, labels) if outcome.transition is not None else None,
        notified=outcome.notify is not None,
        transition=transition,
    )
