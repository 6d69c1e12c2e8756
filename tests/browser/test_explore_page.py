"""Explore: metrics from the catalog overlaid, a link that reproduces the view, bad input answered
next to its field, and the download of what is shown."""

from __future__ import annotations

from urllib.parse import parse_qs, urlparse

from tests.browser.conftest import login, wait_until


def _trace_names(dash_duo) -> list[str]:
    return dash_duo.driver.execute_script(
        "const plot = document.querySelector('#explore-chart .js-plotly-plot');"
        "return plot && plot.data ? plot.data.map(t => t.name) : [];"
    )


def test_a_link_reproduces_an_overlay_of_two_metrics(dash_duo, vitals_app):
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "vera")
    dash_duo.driver.get(
        dash_duo.server.url + "/explore?metrics=system.cpu.percent,system.memory.percent&agg=max"
    )
    names = wait_until(
        lambda: len(_trace_names(dash_duo)) == 2 and _trace_names(dash_duo), 15, "two overlaid series"
    )
    assert names == ["system.cpu.percent", "system.memory.percent"]
    link = dash_duo.find_element("#explore-link").get_attribute("href")
    params = parse_qs(urlparse(link).query)
    assert params["metrics"] == ["system.cpu.percent,system.memory.percent"] and params["agg"] == ["max"]
    assert "2 series" in dash_duo.find_element("#explore-status").text
    dash_duo.driver.save_screenshot("/tmp/explore.png")
    assert dash_duo.get_logs() == []


def test_a_bad_step_or_label_filter_is_answered_next_to_its_field(dash_duo, vitals_app):
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "vera")
    dash_duo.driver.get(dash_duo.server.url + "/explore?metrics=system.cpu.percent")
    wait_until(lambda: len(_trace_names(dash_duo)) == 1, 15, "the chart")
    step = dash_duo.find_element("#explore-step")
    step.send_keys("fast\n")
    dash_duo.wait_for_contains_text("#explore-step-feedback", "'fast' is not a duration", timeout=10)
    step.clear()
    step.send_keys("1m\n")
    wait_until(lambda: dash_duo.find_element("#explore-step-feedback").text == "", 10, "the message to clear")
    labels = dash_duo.find_element("#explore-labels")
    labels.send_keys("<b>mount</b>\n")
    dash_duo.wait_for_contains_text("#explore-labels-feedback", "is not key=value", timeout=10)
    assert (
        dash_duo.driver.find_elements("css selector", "#explore-labels-feedback b") == []
    )  # shown, not rendered
    assert dash_duo.get_logs() == []
