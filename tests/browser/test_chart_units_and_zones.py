"""Charts in human units and the viewer's time zone: a bytes/s axis in MB/s, a single series named,
the legend outside the plot, "No swap" instead of a flat zero, times in
the browser's zone or UTC by a per-browser setting, and a custom range with times of day."""

from __future__ import annotations

import pandas as pd
from selenium.webdriver.support.ui import Select

import storage
from tests.browser.conftest import login, pattern_id, wait_until

BERLIN = "Europe/Berlin"


def _plot(dash_duo, chart: str, expression: str):
    """``expression`` evaluated on a live chart's plotly element (``plot``), or None before it draws."""
    return dash_duo.driver.execute_script(
        "const el = document.getElementById(arguments[0]);"
        "const plot = el && el.querySelector('.js-plotly-plot');"
        # A chart between draws (the "Loading…" figure) lacks what is asked: null, asked again.
        f"try {{ return plot && plot.layout && plot.data ? ({expression}) : null; }} catch (e) {{ return null; }}",
        pattern_id(chart=chart, type="live-chart"),
    )


def _seed(store: storage.Store) -> None:
    """Network throughput at ~40 MB/s in two directions, one disk mount, and swap at 0 % throughout."""
    now = pd.Timestamp.now(tz="UTC").floor("s")
    stamps = pd.date_range(now - pd.Timedelta("10min"), now - pd.Timedelta("5s"), freq="5s")
    rows = []
    for direction, base in (("recv", 40_000_000.0), ("sent", 12_000_000.0)):
        rows.append(pd.DataFrame({"ts": stamps, "metric": "system.net.bytes_per_second", "value": base,
                                  "labels": [{"direction": direction}] * len(stamps)}))  # fmt: skip
    rows.append(pd.DataFrame({"ts": stamps, "metric": "system.disk.percent", "value": 55.0,
                              "labels": [{"mount": "/data"}] * len(stamps)}))  # fmt: skip
    rows.append(pd.DataFrame({"ts": stamps, "metric": "system.swap.percent", "value": 0.0}))
    store.write(pd.concat(rows, ignore_index=True))


def _open_system(dash_duo, vitals_app, timezone: str | None = None) -> None:
    _seed(vitals_app.server.extensions["vitals"].store)
    dash_duo.start_server(vitals_app, navigate=False)
    if timezone:
        dash_duo.driver.execute_cdp_cmd("Emulation.setTimezoneOverride", {"timezoneId": timezone})
    login(dash_duo, "vera")
    dash_duo.driver.get(dash_duo.server.url + "/system")


def test_bytes_are_shown_in_mb_a_single_series_is_named_and_no_swap_is_said(dash_duo, vitals_app):
    _open_system(dash_duo, vitals_app)
    wait_until(lambda: _plot(dash_duo, "system-net", "plot.data.length") == 2, 20, "network drawn")
    assert _plot(dash_duo, "system-net", "plot.layout.yaxis.title.text") == "MB/s"
    peak = _plot(dash_duo, "system-net", "Math.max(...plot.data[0].y.filter(v => v !== null))")
    assert 30 < peak < 50  # 40,000,000 B/s drawn as 40 on an MB/s axis
    assert "MB/s" in _plot(dash_duo, "system-net", "plot.data[0].hovertemplate")
    # The legend sits above the plot area (y >= 1 in paper units), never over the x axis.
    legend = _plot(dash_duo, "system-net", "[plot._fullLayout.legend.y, plot._fullLayout.legend.yanchor]")
    assert legend == [1, "bottom"]

    # The seeded mount, and any this machine's own collection adds: each named, one alone too.
    names = wait_until(lambda: _plot(dash_duo, "system-disk", "plot.data.map(t => t.name)"), 20, "disk drawn")
    assert "/data" in names
    assert _plot(dash_duo, "system-disk", "plot._fullLayout.showlegend") is True

    swap_status = "#" + pattern_id(chart="system-swap", type="live-chart-status")
    dash_duo.wait_for_contains_text(swap_status.replace('"', '\\"').replace("{", "\\{").replace("}", "\\}")
                                    .replace(":", "\\:").replace(",", "\\,"), "No swap", timeout=20)  # fmt: skip
    assert _plot(dash_duo, "system-swap", "plot.data.length") == 0  # no flat zero line
    assert "No swap" in _plot(dash_duo, "system-swap", "plot.layout.annotations[0].text")

    dash_duo.driver.save_screenshot("/tmp/units-system.png")
    assert dash_duo.get_logs() == []


def test_times_follow_the_browser_zone_or_utc_and_the_custom_range_takes_times_of_day(dash_duo, vitals_app):
    _open_system(dash_duo, vitals_app, timezone=BERLIN)
    wait_until(lambda: _plot(dash_duo, "system-net", "plot.data.length") == 2, 20, "network drawn")
    wait_until(
        lambda: _plot(dash_duo, "system-net", "plot.layout.xaxis.title.text") == f"time ({BERLIN})",
        10,
        "the axis in the browser's zone",
    )
    berlin_last = _plot(dash_duo, "system-net", "plot.data[0].x[plot.data[0].x.length - 1]")
    dash_duo.driver.save_screenshot("/tmp/units-berlin.png")

    Select(dash_duo.find_element("#time-zone-choice")).select_by_value("utc")
    wait_until(
        lambda: _plot(dash_duo, "system-net", "plot.layout.xaxis.title.text") == "time (UTC)", 10, "UTC axis"
    )
    utc_last = _plot(dash_duo, "system-net", "plot.data[0].x[plot.data[0].x.length - 1]")
    shift = pd.Timestamp(berlin_last) - pd.Timestamp(utc_last)
    # CET or CEST; a new sample may have arrived between the two reads (one collection interval).
    hours = shift.round("1h")
    assert hours in (pd.Timedelta("1h"), pd.Timedelta("2h")) and abs(shift - hours) <= pd.Timedelta("30s"), (
        shift
    )
    dash_duo.driver.save_screenshot("/tmp/units-utc.png")

    # The choice is this browser's: it survives a reload.
    dash_duo.driver.refresh()
    wait_until(
        lambda: _plot(dash_duo, "system-net", "plot.layout.xaxis.title.text") == "time (UTC)", 20, "UTC kept"
    )
    assert dash_duo.find_element("#time-zone-choice").get_attribute("value") == "utc"

    # A custom range with times of day; a mistake is answered next to the fields and keeps the text.
    Select(dash_duo.find_element("#time-range")).select_by_value("custom")
    wait_until(lambda: dash_duo.find_element("#custom-from").get_attribute("value"), 10, "fields prefilled")
    start = (pd.Timestamp.now(tz="UTC") - pd.Timedelta("30min")).strftime("%Y-%m-%d %H:%M")
    field_from, field_to = dash_duo.find_element("#custom-from"), dash_duo.find_element("#custom-to")
    field_from.clear()
    field_from.send_keys("yesterday at noon")
    dash_duo.find_element("#custom-apply").click()
    dash_duo.wait_for_contains_text("#custom-feedback", "is not a time", timeout=10)
    assert field_from.get_attribute("value") == "yesterday at noon"
    field_from.clear()
    field_from.send_keys(start)
    field_to.clear()
    field_to.send_keys("now\n")
    wait_until(lambda: dash_duo.find_element("#custom-feedback").text == "", 10, "the message to clear")
    span = wait_until(
        lambda: (
            (r := _plot(dash_duo, "system-net", "plot.layout.xaxis.range"))
            and pd.Timestamp(r[1]) - pd.Timestamp(r[0]) < pd.Timedelta("35min")
            and r
        ),
        15,
        "the chart on the custom half hour",
    )
    assert pd.Timestamp(span[0]).strftime("%Y-%m-%d %H:%M") == start  # read and drawn in UTC
    dash_duo.driver.save_screenshot("/tmp/units-custom.png")
    assert dash_duo.get_logs() == []
