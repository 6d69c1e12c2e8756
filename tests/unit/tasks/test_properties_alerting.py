"""Hypothesis properties of the alerting label matchers: a rule selects exactly the series whose host and
labels match it, and a silence mutes exactly the alerts its matchers describe."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from tasks.alerting.evaluate import SeriesRow, matching_series
from tasks.alerting.model import Rule
from tasks.alerting.silencing import matches

FAST = settings(max_examples=200, deadline=None)
KEYS = st.sampled_from(["mount", "core", "queue", "target", "db"])
VALUES = st.sampled_from(["/", "/data", "0", "1", "celery", "db1", "1.0", ""])
LABELS = st.dictionaries(KEYS, VALUES, max_size=3)
HOSTS = st.sampled_from(["web1", "web2", "db1"])


@st.composite
def series_index(draw: st.DrawFn) -> dict[str, list[SeriesRow]]:
    rows = draw(st.lists(st.tuples(HOSTS, LABELS), max_size=12))
    return {"system.disk.percent": [SeriesRow(i + 1, host, labels) for i, (host, labels) in enumerate(rows)]}


@FAST
@given(indexed=series_index(), host=st.none() | HOSTS, wanted=LABELS)
def test_a_rule_selects_exactly_the_matching_series(indexed, host, wanted) -> None:
    rule = Rule(
        name="disk", metric="system.disk.percent", operator=">", threshold=90, host=host, labels=wanted
    )
    found = matching_series(rule, indexed)
    expected = [
        row
        for row in indexed["system.disk.percent"]
        if (host is None or row.host == host)
        and all(k in row.labels and row.labels[k] == v for k, v in wanted.items())
    ]
    assert [row.id for row in found] == sorted(row.id for row in expected)


@FAST
@given(indexed=series_index(), wanted=LABELS)
def test_a_rule_for_another_metric_selects_nothing(indexed, wanted) -> None:
    rule = Rule(name="cpu", metric="system.cpu.percent", operator=">", threshold=90, labels=wanted)
    assert matching_series(rule, indexed) == []


ALERTS = st.fixed_dictionaries(
    {
        "rule_id": st.integers(min_value=1, max_value=5),
        "host": HOSTS,
        "severity": st.sampled_from(["info", "warning", "critical"]),
        "labels": LABELS,
    }
)


@FAST
@given(ALERTS)
def test_an_empty_silence_matches_every_alert(alert) -> None:
    assert matches({"matchers": {}}, alert)


@FAST
@given(alert=ALERTS, data=st.data())
def test_a_silence_built_from_an_alert_mutes_it(alert, data) -> None:
    keys = data.draw(st.sets(st.sampled_from(["rule_id", "host", "severity"])))
    labels = data.draw(st.sets(st.sampled_from(sorted(alert["labels"])) if alert["labels"] else st.nothing()))
    matchers = {key: alert[key] for key in keys}
    matchers["labels"] = {key: alert["labels"][key] for key in labels}
    assert matches({"matchers": matchers}, alert)


@FAST
@given(alert=ALERTS, key=st.sampled_from(["rule_id", "host", "severity", "label"]))
def test_one_differing_matcher_is_enough_to_not_mute(alert, key) -> None:
    if key == "rule_id":
        matchers = {"rule_id": alert["rule_id"] + 1}
    elif key == "label":
        matchers = {"labels": {"mount": "/never-this"}}
    else:
        matchers = {key: alert[key] + "-other"}
    assert not matches({"matchers": matchers}, alert)
