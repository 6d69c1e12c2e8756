"""Figure builders: every chart in Vitals is made here, so they all look and behave alike."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go

from tasks.catalog import describe

__all__ = [
    "add_threshold_bands",
    "empty_figure",
    "figure_scale",
    "gap_threshold_ms",
    "human_scale",
    "line_figure",
    "series_xy",
    "sparkline_figure",
    "trace_name",
    "wall_time",
    "wall_times",
]

_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    # Margins are fixed here, never pushed by Plotly: when data arrived in a chart, the push redraw
    # sometimes measured the y-axis title at x=Infinity (console errors, seen in the rule editor).
    "margin": {"l": 48, "r": 12, "t": 8, "b": 32, "autoexpand": False},
    # Above the plot area, in a top margin sized for its rows (``_legend_margin``), so the legend
    # never covers the x axis (below, it met the tick labels and the axis title).
    "legend": {"orientation": "h", "yanchor": "bottom", "y": 1.0, "xanchor": "left", "x": 0},
    "hovermode": "x unified",
    # Keeps the user's zoom and legend clicks across refreshes.
    "uirevision": "keep",
}


FEW_POINTS = 40


def trace_name(labels: Mapping[str, str], host: str, many_hosts: bool, fallback: str) -> str:
    parts = ([host] if many_hosts else []) + [str(value) for _key, value in sorted(labels.items())]
    return " · ".join(parts) or fallback


# (factor, label) steps per kind of unit, smallest first: a value is shown divided by the largest
# factor not above the chart's biggest value. Bytes are decimal (40,000,000 B/s is "40 MB/s").
_BYTE_PREFIXES = [(1.0, ""), (1e3, "k"), (1e6, "M"), (1e9, "G"), (1e12, "T"), (1e15, "P")]
_COUNT_STEPS = [(1.0, ""), (1e3, "thousand"), (1e6, "million"), (1e9, "billion")]
_SECOND_STEPS = [(1e-6, "µs"), (1e-3, "ms"), (1.0, "s"), (60.0, "min"), (3600.0, "h"), (86400.0, "d")]


def _largest_step(steps: list[tuple[float, str]], magnitude: float) -> tuple[float, str]:
    chosen = steps[0]
    for step in steps:
        if magnitude >= step[0]:
            chosen = step
    return chosen


def human_scale(unit: str, max_value: float | None) -> tuple[float, str]:
    """(factor, unit label) for showing values up to ``max_value`` of ``unit`` in human units.

    ``human_scale("B/s", 4e7) == (1e6, "MB/s")``: divide the values by the factor and write the label
    on the axis. Percentages and unknown units stay as they are.
    """
    magnitude = abs(max_value) if max_value is not None and max_value == max_value else 0.0
    if unit in ("B", "B/s"):
        factor, prefix = _largest_step(_BYTE_PREFIXES, magnitude)
        return factor, prefix + unit
    if unit in ("s", "ms"):
        base = 1e-3 if unit == "ms" else 1.0
        seconds = magnitude * base
        # Minutes, hours and days only from two of them up: 90 s reads better than 1.5 min.
        steps = [step for step in _SECOND_STEPS if step[0] <= 1.0 or seconds >= 2 * step[0]]
        factor, label = _largest_step(steps, seconds) if seconds else (base, unit)
        return factor / base, label
    if unit in ("", "/s", "/min", "ops/s"):
        factor, word = _largest_step(_COUNT_STEPS, magnitude)
        if not word:
            return 1.0, unit
        return factor, f"{word} {unit.lstrip('/') and unit}".replace(" /", "/").strip()
    return 1.0, unit


def _zone_name(tz: str | None) -> str:
    return tz or "UTC"


def wall_times(stamps: pd.Series, tz: str | None) -> list[str]:
    """Timestamps as wall-clock text in ``tz``, without a zone: Plotly draws a date string as the
    time it reads, so converting first is what shows the chart in the viewer's zone."""
    utc = stamps.dt.tz_localize("UTC") if stamps.dt.tz is None else stamps
    return utc.dt.tz_convert(_zone_name(tz)).dt.strftime("%Y-%m-%dT%H:%M:%S.%f").tolist()


def wall_time(moment: datetime, tz: str | None) -> str:
    """One moment as wall-clock text in ``tz`` (an axis range end)."""
    stamp = pd.Timestamp(moment)
    stamp = stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp
    return stamp.tz_convert(_zone_name(tz)).strftime("%Y-%m-%dT%H:%M:%S.%f")


def _axis_layout(
    since: datetime, until: datetime, unit_label: str, percent: bool, tz: str | None
) -> dict[str, Any]:
    yaxis: dict[str, Any] = {"title": {"text": unit_label}, "rangemode": "tozero"}
    if percent:
        yaxis["range"] = [0, 100]
    xaxis = {
        "range": [wall_time(since, tz), wall_time(until, tz)],
        "type": "date",
        "title": {"text": f"time ({_zone_name(tz)})", "font": {"size": 11}},
        "hoverformat": "%Y-%m-%d %H:%M:%S",
    }
    return {"xaxis": xaxis, "yaxis": yaxis}


def gap_threshold_ms(frame: pd.DataFrame) -> int:
    """Points further apart than this are not joined: three times the usual spacing of the data."""
    # The 90th percentile, not the median: after the collection interval changes, older points are
    # further apart than newer ones, and neither should be cut.
    spacing = frame.groupby("series_id")["ts"].diff().dropna()
    return int(spacing.quantile(0.9).total_seconds() * 1000 * 3) if not spacing.empty else 0


def series_xy(
    rows: pd.DataFrame,
    column: str,
    gap_ms: int,
    after_ms: int | None = None,
    tz: str | None = None,
    factor: float = 1.0,
) -> tuple[list[Any], list[Any]]:
    """x (wall time in ``tz``, UTC by default) and y (divided by ``factor``) of one series, with a
    None wherever data is missing, so the line breaks.

    A stopped collector must look like a gap, not like a straight line between two readings.
    ``after_ms`` is the last point already drawn, when these points are appended to it.
    """
    ms = rows["ts"].dt.as_unit("ms").astype("int64").to_numpy()
    x_all = wall_times(rows["ts"], tz)
    y_all = [
        value / factor if value == value and value is not None else value for value in rows[column].tolist()
    ]
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


def _catalog_unit(frame: pd.DataFrame) -> str:
    """The catalog's unit of the frame's metric, for callers that did not name one."""
    if frame.empty or "metric" not in frame.columns:
        return ""
    return describe(str(frame["metric"].iloc[0]))[0]


def figure_scale(figure: go.Figure) -> tuple[float, str]:
    """The (factor, unit label) ``line_figure`` drew with, so later additions use the same scale."""
    meta = figure.layout.meta if isinstance(figure.layout.meta, dict) else {}
    return float(meta.get("scale", 1.0)), str(meta.get("unit", ""))


def line_figure(
    frame: pd.DataFrame,
    value_column: str,
    since: datetime,
    until: datetime,
    unit: str,
    fallback_name: str,
    tz: str | None = None,
    scale: tuple[float, str] | None = None,
) -> tuple[go.Figure, list[int]]:
    """One line per series; returns the figure and the series ids in trace order (for later patches).

    Values are shown in human units (``human_scale``, or ``scale`` when given) and times as wall time
    in ``tz`` (UTC by default), both named on the axes.
    """
    gap_ms = gap_threshold_ms(frame)
    unit = unit or _catalog_unit(frame)
    biggest = float(frame[value_column].abs().max()) if not frame.empty else None
    factor, label = scale or human_scale(unit, biggest)
    figure = go.Figure(layout={**_LAYOUT, **_axis_layout(since, until, label, unit == "%", tz)})
    figure.update_layout(meta={"scale": factor, "unit": label, "tz": _zone_name(tz)})
    order: list[int] = []
    many_hosts = frame["host"].nunique() > 1 if not frame.empty else False
    suffix = f" {label}" if label else ""
    for series_id, rows in frame.groupby("series_id", sort=True):
        first = rows.iloc[0]
        x, y = series_xy(rows, value_column, gap_ms, tz=tz, factor=factor)
        figure.add_trace(
            go.Scatter(
                x=x,
                y=y,
                # A short series as bare lines can be invisible (one point draws nothing).
                mode="lines+markers" if len(rows) < FEW_POINTS else "lines",
                connectgaps=False,
                name=trace_name(first["labels"], first["host"], many_hosts, fallback_name),
                hovertemplate=f"%{{y:,.4~r}}{suffix}<extra>%{{fullData.name}}</extra>",
            )
        )
        order.append(int(series_id))
    # One series still names itself (which mount, which queue) unless its name is the chart's own.
    legend = len(order) > 1 or (len(order) == 1 and figure.data[0].name != fallback_name)
    figure.update_layout(showlegend=legend)
    if legend:
        figure.update_layout(margin={"t": _legend_margin([str(trace.name) for trace in figure.data])})
    return figure, order


_LEGEND_ROW_PX = 20
# Characters of legend text one row holds on a third-width chart, the narrowest the pages draw.
_LEGEND_ROW_CHARS = 50
_LEGEND_MAX_ROWS = 5


def _legend_margin(names: Sequence[str]) -> int:
    """Top margin (px) for a horizontal legend of ``names``: each entry is its text plus its symbol."""
    chars = sum(len(name) + 6 for name in names)
    rows = min(_LEGEND_MAX_ROWS, max(1, -(-chars // _LEGEND_ROW_CHARS)))
    return int(_LAYOUT["margin"]["t"]) + rows * _LEGEND_ROW_PX


WARNING_COLOUR = "rgba(255, 193, 7, 0.12)"
CRITICAL_COLOUR = "rgba(220, 53, 69, 0.10)"


def add_threshold_bands(figure: go.Figure, thresholds: tuple[float, float], low_is_bad: bool = False) -> None:
    """Shade the warning and critical zones and draw their lines, e.g. 70 % and 90 % utilization.

    With ``low_is_bad`` (a hit rate) the zones lie below the thresholds: warning under the first,
    critical under the second. Above the thresholds, the critical zone reaches one band-width past its
    threshold: a shape counts in the axis' autorange, so a longer one would squash the data.
    """
    factor, label = figure_scale(figure)
    warning, critical = thresholds[0] / factor, thresholds[1] / factor
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
            annotation_text=f"{name} {value:g} {label}".rstrip(),
            annotation_position="top left",
            annotation_font={"size": 10, "color": colour},
        )


SPARKLINE_COLOURS = {"ok": "#198754", "warning": "#d39e00", "critical": "#dc3545", None: "#6c757d"}


def sparkline_figure(
    x: list[Any], y: list[Any], level: str | None = None, y_range: tuple[float, float] | None = None
) -> dict[str, Any]:
    """A tile's small line of recent values: no axes, no margins, no hover, coloured by its level.

    A plain dict, not a ``go.Figure``: tiles refresh for every viewer, and the figure object's
    validation costs more than the whole tile otherwise.
    """
    colour = SPARKLINE_COLOURS.get(level, SPARKLINE_COLOURS[None])
    yaxis: dict[str, Any] = {"visible": False, "fixedrange": True}
    if y_range is not None:
        yaxis["range"] = list(y_range)
    return {
        "data": [
            {
                "type": "scatter",
                "mode": "lines",
                "x": x,
                "y": y,
                "line": {"color": colour, "width": 1.5},
                # Filled only on a fixed scale (a %): on an autoscaled axis the fill's height means nothing.
                "fill": "tozeroy" if y_range is not None else "none",
                "fillcolor": colour + "22",  # the same colour, mostly transparent
                "hoverinfo": "skip",
            }
        ],
        "layout": {
            "margin": {"l": 0, "r": 0, "t": 0, "b": 0},
            "xaxis": {"visible": False, "fixedrange": True},
            "yaxis": yaxis,
            "showlegend": False,
            "paper_bgcolor": "rgba(0,0,0,0)",
            "plot_bgcolor": "rgba(0,0,0,0)",
        },
    }


def empty_figure(message: str) -> go.Figure:
    """A blank chart that says why it is blank, instead of empty axes."""
    figure = go.Figure(layout={**_LAYOUT, "xaxis": {"visible": False}, "yaxis": {"visible": False}})
    figure.add_annotation(text=message, showarrow=False, font={"size": 14, "color": "#6c757d"})
    return figure


# --- alerts (added for the Alerts page) --------------------------------------------------------

FIRING_COLOUR = "rgba(220, 53, 69, 0.15)"


def add_rule_thresholds(figure: go.Figure, operator: str, threshold: float, threshold2: float | None) -> None:
    """Draw an alert rule's threshold line(s); for between/outside, shade the band between them.

    Thresholds are in the metric's own unit; they are drawn on the figure's human scale."""
    factor, label = figure_scale(figure)
    for raw in (threshold, threshold2):
        if raw is None:
            continue
        value = raw / factor
        figure.add_hline(
            y=value,
            line={"color": "#dc3545", "dash": "dash", "width": 1.5},
            annotation_text=f"threshold {value:g} {label}".rstrip(),
            annotation_position="top left",
            annotation_font={"size": 10, "color": "#dc3545"},
        )
    if operator in ("between", "outside") and threshold2 is not None:
        figure.add_hrect(
            y0=threshold / factor,
            y1=threshold2 / factor,
            fillcolor="rgba(220, 53, 69, 0.06)",
            line_width=0,
            layer="below",
        )


def shade_spans(figure: go.Figure, spans: list[tuple[Any, Any]], label: str = "firing") -> None:
    """Shade time spans (e.g. when an alert fired); an open span ends at the right edge."""
    for start, end in spans:
        figure.add_vrect(
            x0=start, x1=end, fillcolor=FIRING_COLOUR, line_width=0, layer="below",
            annotation_text=label, annotation_position="top left", annotation_font={"size": 10},
        )  # fmt: skip
