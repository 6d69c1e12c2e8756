"""The pure alert engine: aggregations, every operator, for, keep_firing_for, no data, errors, repeats."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from tasks.alerting.backtest import backtest_series
from tasks.alerting.engine import AlertState, Evaluation, aggregate, condition_met, step
from tasks.alerting.model import Rule, RuleInvalid, render_template, rule_from_form

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def rule(**changes: object) -> Rule:
    base = Rule(
        name="cpu", metric="system.cpu.percent", operator="gt", threshold=90.0, repeat_seconds=0, id=1
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def run(r: Rule, values: list[float | None], every: int = 60, start: AlertState | None = None):
    """Step through values one minute apart; returns [(state, notify)] per step and the last state."""
    state = start or AlertState()
    seen = []
    for i, value in enumerate(values):
        outcome = step(r, state, Evaluation(value), T0 + timedelta(seconds=every * i))
        state = outcome.state
        seen.append((state.state, outcome.notify))
    return seen, state


def test_aggregations_over_a_window() -> None:
    ts = np.array([0, 10_000, 20_000, 30_000], dtype="int64")
    values = np.array([1.0, 3.0, 2.0, 10.0])
    assert aggregate("avg", ts, values) == 4.0
    assert aggregate("min", ts, values) == 1.0
    assert aggregate("max", ts, values) == 10.0
    assert aggregate("sum", ts, values) == 16.0
    assert aggregate("last", ts, values) == 10.0
    assert aggregate("count", ts, values) == 4.0
    assert aggregate("rate", ts, values) == pytest.approx(0.3)  # (10 - 1) / 30 s
    assert aggregate("p95", ts, values) == pytest.approx(np.percentile(values, 95))
    empty = np.array([], dtype="float64")
    assert aggregate("avg", empty, empty) is None
    assert aggregate("count", empty, empty) == 0.0
    assert aggregate("rate", ts[:1], values[:1]) is None


@pytest.mark.parametrize(
    ("operator", "threshold", "threshold2", "true_for", "false_for"),
    [
        ("gt", 5, None, [6], [5, 4]),
        ("gte", 5, None, [5, 6], [4.9]),
        ("lt", 5, None, [4], [5, 6]),
        ("lte", 5, None, [5, 4], [5.1]),
        ("eq", 5, None, [5.0], [5.01, 4]),
        ("between", 2, 4, [2, 3, 4], [1.9, 4.1]),
        ("outside", 2, 4, [1.9, 4.1], [2, 3, 4]),
    ],
)
def test_every_operator(operator, threshold, threshold2, true_for, false_for) -> None:
    r = rule(operator=operator, threshold=float(threshold), threshold2=threshold2)
    assert all(condition_met(r, float(v)) for v in true_for)
    assert not any(condition_met(r, float(v)) for v in false_for)


def test_fires_at_once_without_for_and_resolves() -> None:
    seen, _ = run(rule(), [50, 95, 96, 50])
    assert seen == [("inactive", None), ("firing", "firing"), ("firing", None), ("resolved", "resolved")]


def test_for_waits_in_pending_before_firing() -> None:
    seen, _ = run(rule(for_seconds=120), [95, 95, 95, 95])
    assert [s for s, _ in seen] == ["pending", "pending", "firing", "firing"]
    assert [n for _, n in seen] == [None, None, "firing", None]


def test_pending_that_clears_closes_quietly() -> None:
    seen, _ = run(rule(for_seconds=300), [95, 95, 50])
    assert seen[-1] == ("inactive", None)


def test_keep_firing_for_bridges_a_short_dip() -> None:
    seen, _ = run(rule(keep_firing_seconds=150), [95, 50, 50, 95, 50, 50, 50])
    states = [s for s, _ in seen]
    # Dips of 1-2 minutes stay firing; resolved only once 150 s passed since the last true reading.
    assert states == ["firing", "firing", "firing", "firing", "firing", "firing", "resolved"]
    assert [n for _, n in seen].count("firing") == 1


def test_no_data_ok_resolves_and_keep_holds() -> None:
    seen, _ = run(rule(no_data="ok"), [95, None])
    assert seen[-1] == ("resolved", "resolved")
    seen, state = run(rule(no_data="keep"), [95, None, None])
    assert [s for s, _ in seen] == ["firing", "firing", "firing"]
    assert state.value == 95


def test_no_data_alerting_is_its_own_state() -> None:
    seen, _ = run(rule(no_data="alerting"), [None, None, 50])
    assert seen == [("nodata", "firing"), ("nodata", None), ("resolved", "resolved")]


def test_error_state_and_recovery() -> None:
    r = rule()
    first = step(r, AlertState(), Evaluation(None, error="boom"), T0)
    assert first.state.state == "error" and first.notify == "firing"
    assert first.transition is not None and first.transition.note == "boom"
    back = step(r, first.state, Evaluation(10.0), T0 + timedelta(minutes=1))
    assert back.state.state == "resolved" and back.notify == "resolved"


def test_repeat_interval_is_a_cooldown() -> None:
    seen, _ = run(rule(repeat_seconds=3600), [95] * 121)  # two hours, one reading a minute
    notes = [n for _, n in seen]
    assert notes.count("firing") == 1
    assert notes.count("repeat") == 2  # after 60 and 120 minutes: at most one an hour
    assert notes[60] == "repeat" and notes[120] == "repeat"


def test_acknowledged_alert_does_not_repeat() -> None:
    _, state = run(rule(repeat_seconds=60), [95])
    state = replace(state, acknowledged_at=T0)
    seen, _ = run(rule(repeat_seconds=60), [95, 95, 95], start=state)
    assert [n for _, n in seen] == [None, None, None]


def test_restart_does_not_refire() -> None:
    """The state read back after a restart continues: no second "firing" notification."""
    r = rule(repeat_seconds=0)
    _, state = run(r, [95, 95])
    restored = AlertState(**{field: getattr(state, field) for field in state.__dataclass_fields__})
    later = step(r, restored, Evaluation(97.0), T0 + timedelta(minutes=5))
    assert later.state.state == "firing" and later.notify is None and later.transition is None


def test_backtest_counts_episodes_and_notifications() -> None:
    start = T0
    ts = np.arange(0, 6 * 3600, 10, dtype="int64") * 1000 + int(start.timestamp() * 1000)
    values = np.full(len(ts), 10.0)
    hot = (ts >= ts[0] + 3_600_000) & (ts < ts[0] + 7_200_000)  # one hot hour
    values[hot] = 99.0
    r = rule(window_seconds=60, for_seconds=120, repeat_seconds=1800)
    result = backtest_series(r, ts, values, start, start + timedelta(hours=6))
    assert len(result.episodes) == 1
    episode = result.episodes[0]
    assert episode.peak == 99.0 and episode.ended_at is not None
    # firing + 1 repeat at 30 min (60 min hot minus for) + resolved
    assert result.notifications == 3
    assert timedelta(minutes=55) < episode.ended_at - episode.started_at < timedelta(minutes=60)


def valid_form(**changes: object) -> dict[str, object]:
    form: dict[str, object] = {
        "name": "cpu hot",
        "metric": "system.cpu.percent",
        "operator": "gt",
        "threshold": "90",
        "window": "5m",
        "for": "2m",
        "repeat": "1h",
    }
    form.update(changes)
    return form


def errors_of(**changes: object) -> dict[str, str]:
    with pytest.raises(RuleInvalid) as caught:
        rule_from_form(
            valid_form(**changes),
            known_metrics=["system.cpu.percent", "system.disk.percent"],
            known_labels={"system.disk.percent": {"mount"}},
        )
    return caught.value.errors


def test_form_validation_names_each_field() -> None:
    ok = rule_from_form(valid_form(), known_metrics=["system.cpu.percent"])
    assert (ok.window_seconds, ok.for_seconds, ok.repeat_seconds) == (300, 120, 3600)
    assert "did you mean 'system.cpu.percent'" in errors_of(metric="sytem.cpu.percent")["metric"]
    assert "both bounds" in errors_of(operator="between", threshold2="")["threshold2"]
    assert (
        "below the lower bound" in errors_of(operator="between", threshold="10", threshold2="5")["threshold2"]
    )
    assert "negative" in errors_of(**{"for": "-5m"})["for"]
    assert "not a duration" in errors_of(window="soon")["window"]
    assert "http(s)" in errors_of(runbook_url="javascript:alert(1)")["runbook_url"]
    assert "no label 'mount'" in errors_of(summary="disk {mount} full")["summary"]
    assert "not a number" in errors_of(threshold="ninety")["threshold"]
    disk = rule_from_form(
        valid_form(metric="system.disk.percent", summary="disk {mount} at {value}"),
        known_metrics=["system.disk.percent"],
        known_labels={"system.disk.percent": {"mount"}},
    )
    assert render_template(disk.summary, {"mount": "/", "value": 91.234}) == "disk / at 91.23"
