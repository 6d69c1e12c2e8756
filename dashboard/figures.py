"""Figure builders: every chart in Vitals is made here, so they all look and behave alike."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go

__all__ = [
    "add_threshold_bands",
    "empty_figure",
    "gap_threshold_ms",
    "line_figure",
    "series_xy",
    "trace_name",
]

_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 48, "r": 12, "t": 8, "b": 32},
    "legend": {"orientation": "h", "y": -0.18, "x": 0},
    "hovermode": "x unified",
    # Keeps the user's zoom and legend clicks across refreshes.
    "uirevision": "keep",
}


FEW_POINTS = 40


def trace_name(labels: Mapping[str, str], host: str, many_hosts: bool, fallback: str) -> str:
    parts = ([host] if many_hosts else []) + [str(value) for _key, value in sorted(labels.items())]
    return " · ".join(parts) or fallback


def _axis_layout(since: datetime, until: datetime, unit: str) -> dict[str, Any]:
    yaxis: dict[str, Any] = {"title": {"text": unit}, "rangemode": "tozero"}
    if unit == "%":
        yaxis["range"] = [0, 100]
    return {"xaxis": {"range": [since, until], "type": "date"}, "yaxis": yaxis}


def gap_threshold_ms(frame: pd.DataFrame) -> int:
    """Points further apart than this are not joined: three times the usual spacing of the data."""
    # The 90th percentile, not the median: after the collection interval changes, older points are
    # further apart than newer ones, and neither should be cut.
    spacing = frame.groupby("series_id")["ts"].diff().dropna()
    return int(spacing.quantile(0.9).total_seconds() * 1000 * 3) if not spacing.empty else 0


def series_xy(
    rows: pd.DataFrame, column: str, gap_ms: int, after_ms: int | None = None
) -> tuple[list[Any], list[Any]]:
    """x (ISO UTC) and y of one series, with a None wherever data is missing, so the line breaks.

    A stopped collector must look like a gap, not like a straight line between two readings.
    ``after_ms`` is the last point already drawn, when these points are appended to it.
    """
    ms = rows["ts"].dt.as_unit("ms").astype("int64").to_numpy()
    x_all = rows["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").tolist()
    y_all = rows[column].tolist()
    x: list[Any] = []
    y: list[Any] = []
    previous = after_ms
    for stamp, label, value in zip(ms, x_all, y_all, strict=True):
        if gap_ms and previous is not None and stamp - previous > gap_ms:
            x.append(None)
            y.append(None)
        x.append(label)
        y.append(value)
        previous = int(stamp)
    return x, y


def line_figure(
    frame: pd.DataFrame, value_column: str, since: datetime, until: datetime, unit: str, fallback_name: str
) -> tuple[go.Figure, list[int]]:
    """One line per series; returns the figure and the series ids in trace order (for later patches)."""
    gap_ms = gap_threshold_ms(frame)
    figure = go.Figure(layout={**_LAYOUT, **_axis_layout(since, until, unit)})
    order: list[int] = []
    many_hosts = frame["host"].nunique() > 1 if not frame.empty else False
    for series_id, rows in frame.groupby("series_id", sort=True):
        first = rows.iloc[0]
        x, y = series_xy(rows, value_column, gap_ms)
        figure.add_trace(
            go.Scatter(
                x=x,
                y=y,
                # A short series as bare lines can be invisible (one point draws nothing).
                mode="lines+markers" if len(rows) < FEW_POINTS else "lines",
                connectgaps=False,
                name=trace_name(first["labels"], first["host"], many_hosts, fallback_name),
                hovertemplate=f"%{{y:.4~g}} {unit}<extra>%{{fullData.name}}</extra>",
            )
        )
        order.append(int(series_id))
    if len(order) == 1:
        figure.update_layout(showlegend=False)
    return figure, order


WARNING_COLOUR = "rgba(255, 193, 7, 0.12)"
CRITICAL_COLOUR = "rgba(220, 53, 69, 0.10)"


def add_threshold_bands(figure: go.Figure, thresholds: tuple[float, float], low_is_bad: bool = False) -> None:
    """Shade the warning and critical zones and draw their lines, e.g. 70 % and 90 % utilization.

    With ``low_is_bad`` (a hit rate) the zones lie below the thresholds: warning under the first,
    critical under the second. Above the thresholds, the critical zone reaches one band-width past its
    threshold: a shape counts in the axis' autorange, so a longer one would squash the data.
    """
    warning, critical = thresholds
    if low_is_bad:
        zones = [(critical, warning, WARNING_COLOUR), (min(0.0, critical), critical, CRITICAL_COLOUR)]
    else:
        far = critical + max(critical - warning, abs(critical) * 0.1, 1.0)
        zones = [(warning, critical, WARNING_COLOUR), (critical, far, CRITICAL_COLOUR)]
    for low, high, colour in zones:
        figure.add_hrect(y0=low, y1=high, fillcolor=colour, line_width=0, layer="below")
    for value, colour, name in ((warning, "#ffc107", "warning"), (critical, "#dc3545", "critical")):
        figure.add_hline(
            y=value,
            line={"color": colour, "dash": "dash", "width": 1},
            annotation_text=f"{name} {value:g}",
            annotation_position="top left",
            annotation_font={"size": 10, "color": colour},
        )


def empty_figure(message: str) -> go.Figure:
    """A blank chart that says why it is blank, instead of empty axes."""
    figure = go.Figure(layout={**_LAYOUT, "xaxis": {"visible": False}, "yaxis": {"visible": False}})
    figure.add_annotation(text=message, showarrow=False, font={"size": 14, "color": "#6c757d"})
    return figure


# --- alerts (added for the Alerts page) --------------------------------------------------------

FIRING_COLOUR = "rgba(220, 53, 69, 0.15)"


def add_rule_thresholds(figure: go.Figure, operator: str, threshold: float, threshold2: float | None) -> None:
    """Draw an alert rule's threshold line(s); for between/outside, shade the band between them."""
    for value in (threshold, threshold2):
        if value is None:
            continue
        figure.add_hline(
            y=value,
            line={"color": "#dc3545", "dash": "dash", "width": 1.5},
            annotation_text=f"threshold {value:g}",
            annotation_position="top left",
            annotation_font={"size": 10, "color": "#dc3545"},
        )
    if operator in ("between", "outside") and threshold2 is not None:
        figure.add_hrect(
            y0=threshold, y1=threshold2, fillcolor="rgba(220, 53, 69, 0.06)", line_width=0, layer="below"
        )


def shade_spans(figure: go.Figure, spans: list[tuple[Any, Any]], label: str = "firing") -> None:
    """Shade time spans (e.g. when an alert fired); an open span ends at the right edge."""
    for start, end in spans:
        figure.add_vrect(
            x0=start, x1=end, fillcolor=FIRING_COLOUR, line_width=0, layer="below",
            annotation_text=label, annotation_position="top left", annotation_font={"size": 10},
        )  # fmt: skip
