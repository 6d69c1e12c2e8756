"""Charts keep the user's view: a drag-zoom becomes the window of every chart and survives refresh
ticks, "Zoom out" goes back; a long range with minutes of data shows those minutes."""

from __future__ import annotations

import time
from datetime import datetime

import pytest
from selenium.webdriver.support.ui import Select

from tests.browser.conftest import login, pattern_id, trace_lengths, wait_until


def _css(**parts: str) -> str:
    """A CSS selector for the element with a pattern-matching id."""
    return "#" + pattern_id(**parts).replace('"', '\\"').replace("{", "\\{").replace("}", "\\}").replace(
        ":", "\\:"
    ).replace(",", "\\,")


def _x_range(dash_duo, chart: str) -> list[str] | None:
    return dash_duo.driver.execute_script(
        "const el = document.getElementById(arguments[0]);"
        "const plot = el && el.querySelector('.js-plotly-plot');"
        "return plot && plot.layout && plot.layout.xaxis ? plot.layout.xaxis.range : null;",
        pattern_id(chart=chart, type="live-chart"),
    )


def _drag_zoom(dash_duo, graph: str) -> None:
    """Drag a box over the newest minutes of the hour shown, where the seeded history is, as a user
    does; again if the page was still settling (a re-render on a busy machine can swallow a drag)."""
    for _attempt in range(3):
        dash_duo.driver.execute_script(
            "arguments[0].scrollIntoView({block: 'center', behavior: 'instant'});",
            dash_duo.find_element(graph),
        )
        # dash_duo's drag starts at the graph's centre: a box of 0.45 of its width reaches the newest
        # minutes of the hour shown.
        dash_duo.zoom_in_graph_by_ratio(graph, zoom_box_fraction=0.45, compare=False)
        try:
            wait_until(lambda: "Zoomed:" in dash_duo.find_element("#zoom-badge").text, 5, "the zoom badge")
            return
        except pytest.fail.Exception:  # not this drag: try again
            continue
    raise AssertionError("three drags over the CPU chart set no zoom")


def _resolution(status: str) -> str:
    """The "one point per ..." part of a chart's status line, which differs from range to range."""
    return next((part for part in status.split(" · ") if part.startswith("one point per")), "")


def _span_seconds(range_: list[str] | None) -> float:
    assert range_ is not None, "the chart has an x range"
    start, end = (datetime.fromisoformat(str(v).replace(" ", "T").replace("Z", "")[:26]) for v in range_)
    return (end - start).total_seconds()


def test_a_drag_zoom_sets_the_window_of_every_chart_and_survives_three_ticks(dash_duo, vitals_app):
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "vera")
    dash_duo.driver.get(dash_duo.server.url + "/")
    wait_until(lambda: sum(trace_lengths(dash_duo, "overview-cpu")) >= 100, 20, "CPU history drawn")
    graph = _css(chart="overview-cpu", type="live-chart") + " .js-plotly-plot"
    _drag_zoom(dash_duo, graph)
    zoomed = wait_until(
        lambda: (r := _x_range(dash_duo, "overview-memory")) and _span_seconds(r) < 3000 and r,
        10,
        "memory chart zoomed",
    )
    assert _span_seconds(_x_range(dash_duo, "overview-cpu")) < 3000  # the chart zoomed on, too
    time.sleep(16)  # three refresh ticks at the default 5 s
    assert _x_range(dash_duo, "overview-memory") == zoomed
    assert _span_seconds(_x_range(dash_duo, "overview-cpu")) == _span_seconds(zoomed)

    dash_duo.find_element("#zoom-back").click()
    wait_until(
        lambda: _span_seconds(_x_range(dash_duo, "overview-memory")) > 3500, 10, "back to the last hour"
    )
    assert dash_duo.find_element("#zoom-badge").text == ""
    assert dash_duo.get_logs() == []


def test_thirty_days_with_minutes_of_data_shows_them_and_says_where_data_starts(dash_duo, vitals_app):
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "vera")
    dash_duo.driver.get(dash_duo.server.url + "/")
    wait_until(lambda: sum(trace_lengths(dash_duo, "overview-cpu")) >= 1, 20, "CPU drawn")
    status = _css(chart="overview-cpu", type="live-chart-status")
    hour = _resolution(dash_duo.find_element(status).text)  # the last hour's status says it too
    Select(dash_duo.find_element("#time-range")).select_by_value("30d")
    wait_until(
        lambda: (
            "data starts at" in (text := dash_duo.find_element(status).text) and _resolution(text) != hour
        ),
        15,
        "the 30-day draw, with 'data starts at' in its status",
    )
    assert sum(trace_lengths(dash_duo, "overview-cpu")) >= 1  # ten minutes of history: at least one point
    mode = dash_duo.driver.execute_script(
        "const el = document.getElementById(arguments[0]);"
        "return el.querySelector('.js-plotly-plot').data[0].mode;",
        pattern_id(chart="overview-cpu", type="live-chart"),
    )
    assert mode == "lines+markers"  # a few points are drawn as dots, not an invisible line
    assert dash_duo.get_logs() == []
