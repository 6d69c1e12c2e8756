"""The Logs page's pure pieces: URL criteria, histogram interactions, highlighting, jump to logs."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from dash import html, no_update

from dashboard.components.live_chart import jump_to_logs
from dashboard.pages.logs.criteria import (
    criteria_from,
    parse_levels,
    parse_window,
    query_string,
    validate_inputs,
)
from dashboard.pages.logs.detail import marked
from dashboard.pages.logs.histogram import narrow_by_click, narrow_by_drag, toggle_level
from dashboard.pages.logs.results import highlight_terms


def test_criteria_round_trip_through_the_url() -> None:
    window = parse_window("2026-03-01T12:00:00Z", "2026-03-01T13:00:00Z")
    assert window == {"from_ms": 1_772_366_400_000, "to_ms": 1_772_370_000_000}
    values = {"query": ' "a b" c ', "channel": "db", "host": None, "source": "", "request_id": "r-1"}
    criteria = criteria_from(values, ["error", "bogus", "error"], window, "1h", None, 3)
    assert criteria["levels"] == ["error"] and criteria["query"] == '"a b" c' and criteria["source"] is None
    params = parse_qs(query_string(criteria, entry=7)[1:])
    assert params == {
        "q": ['"a b" c'], "channel": ["db"], "request_id": ["r-1"], "level": ["error"],
        "from": ["2026-03-01T12:00:00.000Z"], "to": ["2026-03-01T13:00:00.000Z"], "entry": ["7"],
    }  # fmt: skip
    assert parse_window(params["from"][0], params["to"][0]) == window
    assert parse_window("2026-03-01", "nonsense") is None and parse_window("200", "100") is None
    assert parse_levels("Error, warning,loud") == ["error", "warning"]


def test_a_relative_range_is_fixed_when_searching() -> None:
    criteria = criteria_from({}, [], None, "15m", None, 1)
    assert criteria["relative"] and 899_000 <= criteria["to_ms"] - criteria["from_ms"] <= 902_000
    assert query_string(criteria) == ""


def test_overlong_inputs_are_flagged_not_searched() -> None:
    assert validate_inputs({"request_id": "x" * 65, "query": "ok"}) == {
        "request_id": "at most 64 characters (65 typed)"
    }


def test_histogram_click_and_drag_narrow_the_window() -> None:
    assert narrow_by_click({"points": [{"customdata": [1000, 600]}]}) == {"from_ms": 1000, "to_ms": 1600}
    assert narrow_by_click({"points": []}) is no_update
    drag = {"xaxis.range[0]": "2026-03-01 12:00:00", "xaxis.range[1]": "2026-03-01 12:30:00.5"}
    assert narrow_by_drag(drag) == {"from_ms": 1_772_366_400_000, "to_ms": 1_772_368_200_500}
    assert narrow_by_drag({"xaxis.autorange": True}) is no_update


def test_legend_clicks_toggle_levels() -> None:
    figure = {"data": [{"name": "info", "visible": True}, {"name": "warning", "visible": True},
                       {"name": "error", "visible": "legendonly"}]}  # fmt: skip
    assert toggle_level([{"visible": ["legendonly"]}, [0]], figure, ["info", "warning"]) == ["warning"]
    assert toggle_level([{"visible": [True]}, [2]], figure, ["info", "warning"]) == [
        "info",
        "warning",
        "error",
    ]
    assert toggle_level([{"marker.color": ["red"]}, [0]], figure, []) is no_update


def test_highlighting_is_text_only() -> None:
    assert highlight_terms('"connection refused" <b>') == [
        "connection refused",
        "connection",
        "refused",
        "<b>",
        "b",
    ]
    pieces = marked("a <b>Timeout</b> here", ["timeout"])
    assert pieces[0] == "a <b>" and isinstance(pieces[1], html.Mark) and pieces[1].children == "Timeout"
    assert pieces[2] == "</b> here"


def test_jump_to_logs_opens_the_window_around_the_point_for_its_host() -> None:
    state = {"spec": {"host": None}, "hosts": ["web1", "web2"], "shown": [0, 0, 10_000]}
    href = jump_to_logs({"points": [{"x": "2026-03-01 12:00:00", "curveNumber": 1}]}, state)
    url = urlparse(href)
    assert url.path == "/logs"
    assert parse_qs(url.query) == {
        "from": ["2026-03-01T11:55:00Z"],
        "to": ["2026-03-01T12:05:00Z"],
        "host": ["web2"],
    }
    coarse = jump_to_logs(
        {"points": [{"x": "2026-03-01 12:00:00", "curveNumber": 0}]}, {**state, "shown": [0, 0, 3_600_000]}
    )
    assert parse_qs(urlparse(coarse).query)["from"] == ["2026-03-01T09:00:00Z"]
    assert jump_to_logs({"points": []}, state) is no_update
