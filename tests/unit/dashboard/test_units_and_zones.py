"""Human units on chart axes, wall time in the viewer's zone, and the custom range's times of day."""

from __future__ import annotations

from datetime import UTC, datetime

import pandas as pd
import pytest
from dash import dcc

from dashboard.components.live_chart import ChartSpec, live_chart
from dashboard.figures import human_scale, line_figure, wall_time
from dashboard.timerange import custom_range_utc, parse_local_time, valid_zone


@pytest.mark.parametrize(
    ("unit", "peak", "expected"),
    [
        ("B/s", 4e7, (1e6, "MB/s")),
        ("B", 3.2e9, (1e9, "GB")),
        ("B/s", 512.0, (1.0, "B/s")),
        ("ms", 2500.0, (1e3, "s")),
        ("ms", 40.0, (1.0, "ms")),
        ("s", 7200.0, (3600.0, "h")),
        ("%", 95.0, (1.0, "%")),
        ("B/s", None, (1.0, "B/s")),
    ],
)
def test_human_scale_picks_the_unit_people_read(
    unit: str, peak: float | None, expected: tuple[float, str]
) -> None:
    assert human_scale(unit, peak) == expected


def _frame(mounts: list[str]) -> pd.DataFrame:
    stamps = pd.date_range("2026-12-01T12:00:00Z", periods=50, freq="10s")
    return pd.concat(
        [
            pd.DataFrame(
                {
                    "series_id": i,
                    "ts": stamps,
                    "mean": 40_000_000.0,
                    "host": "web1",
                    "labels": [{"mount": m}] * 50,
                }
            )
            for i, m in enumerate(mounts)
        ],
        ignore_index=True,
    )


def test_a_single_series_keeps_its_name_and_values_are_drawn_scaled() -> None:
    since, until = datetime(2026, 12, 1, 12, tzinfo=UTC), datetime(2026, 12, 1, 13, tzinfo=UTC)
    figure, order = line_figure(_frame(["/data"]), "mean", since, until, "B", "disk")
    assert order == [0]
    assert figure.layout.showlegend is True and figure.data[0].name == "/data"
    assert (
        figure.layout.yaxis.title.text == "MB" and max(v for v in figure.data[0].y if v is not None) == 40.0
    )


def test_wall_time_shows_the_zone_and_custom_times_are_read_in_it() -> None:
    noon = datetime(2026, 12, 1, 12, tzinfo=UTC)
    assert wall_time(noon, "Europe/Berlin").startswith("2026-12-01T13:00:00")  # CET in December
    assert valid_zone("Not/AZone") == "UTC"
    assert parse_local_time("2026-12-01 14:00", "Europe/Berlin", name="From") == datetime(
        2026, 12, 1, 13, tzinfo=UTC
    )
    assert custom_range_utc("2026-11-30 08:30", "2026-11-30", "UTC") == (
        "2026-11-30T08:30:00Z",
        "2026-12-01T00:00:00Z",
    )
    with pytest.raises(ValueError, match="From: 'yesterday at noon' is not a time"):
        parse_local_time("yesterday at noon", "UTC", name="From")
    with pytest.raises(ValueError, match="To must be after From"):
        custom_range_utc("2026-11-30 10:00", "2026-11-30 09:00", "UTC")


def test_the_mode_bar_shows_only_while_the_pointer_is_on_a_chart() -> None:
    """Checked on the component: headless Chromium reports no hover support, so Plotly shows the bar
    there always, and a browser test could not tell."""
    card = live_chart(ChartSpec("c", "system.cpu.percent", "CPU", "%"))
    graphs = [part for part in card._traverse() if isinstance(part, dcc.Graph)]
    assert graphs and all(
        graph.to_plotly_json()["props"]["config"]["displayModeBar"] == "hover" for graph in graphs
    )
