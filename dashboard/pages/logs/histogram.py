"""The level histogram above the results: entries per time bucket, stacked by level.

Clicking a bar narrows the window to its bucket, dragging across bars narrows it to the dragged
span, and clicking a legend entry toggles that level in the search. Every level is drawn (those
left out of the search as legend-only), so a level switched off can be switched back on.
"""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from dash import Dash, Input, Output, State, dcc, no_update

from dashboard.figures import empty_figure
from dashboard.pages.logs import names
from dashboard.pages.logs.criteria import facade_filters, iso_ms
from dashboard.services import services
from storage.logs import LOG_LEVELS
from storage.timeparse import parse_time, to_millis, utc_now

__all__ = ["LEVEL_COLOURS", "histogram_figure", "histogram_graph", "register_histogram_callbacks"]

LEVEL_COLOURS = {
    "debug": "#adb5bd",
    "info": "#0d6efd",
    "notice": "#20c997",
    "warning": "#fd7e14",
    "error": "#dc3545",
    "critical": "#842029",
    "alert": "#6f42c1",
    "emergency": "#212529",
}
BUCKETS = 60


def histogram_graph() -> dcc.Graph:
    return dcc.Graph(
        id=names.HISTOGRAM,
        figure=empty_figure("Loading…"),
        config={"displaylogo": False, "displayModeBar": False, "responsive": True},
        style={"height": "190px"},
        className="mb-2",
    )


def histogram_figure(criteria: dict[str, Any]) -> go.Figure:
    """Bars of every level over the criteria's window (levels outside the search legend-only)."""
    filters = facade_filters(criteria)
    chosen = filters.pop("levels") or list(LOG_LEVELS)
    frame = services().store.logs.histogram(**filters, buckets=BUCKETS)
    width = int(frame.attrs.get("bucket_ms", 60_000))
    figure = go.Figure()
    present = set(frame["level"]) if not frame.empty else set()
    for level in LOG_LEVELS:
        if level not in present and level not in chosen:
            continue
        rows = frame[frame["level"] == level]
        starts = [int(ts.value // 1_000_000) for ts in rows["ts"]]
        figure.add_bar(
            name=level,
            x=[ts.isoformat() for ts in rows["ts"]],
            y=rows["count"].tolist(),
            width=width,
            offset=0,
            customdata=[[start, width] for start in starts],
            marker_color=LEVEL_COLOURS[level],
            visible=True if level in chosen else "legendonly",
            hovertemplate=f"{level}: %{{y}}<br>%{{x}}<extra></extra>",
        )
    start_iso = iso_ms(criteria["from_ms"])
    end_iso = iso_ms(criteria["to_ms"])
    figure.update_layout(
        barmode="stack",
        showlegend=True,  # even with one level: its entry is what toggles it
        margin={"l": 40, "r": 10, "t": 10, "b": 30},
        legend={"orientation": "h", "y": 1.15, "x": 0, "font": {"size": 11}},
        xaxis={"type": "date", "range": [start_iso, end_iso]},
        yaxis={"fixedrange": True, "rangemode": "tozero"},
        dragmode="zoom",
        clickmode="event",
        bargap=0.05,
        meta={"levels": [trace.name for trace in figure.data]},
    )
    if not present:
        figure.add_annotation(
            text="No entries in this window", showarrow=False, xref="paper", yref="paper", x=0.5, y=0.5
        )
    return figure


def draw(criteria: dict[str, Any] | None) -> Any:
    if not criteria:
        return no_update
    try:
        return histogram_figure(criteria)
    except Exception:  # the store down: this panel says so, the page stays
        return empty_figure("Log counts are unavailable right now")


def narrow_by_click(click: dict[str, Any] | None) -> Any:
    """A clicked bar: its bucket becomes the window."""
    if not click or not click.get("points"):
        return no_update
    custom = click["points"][0].get("customdata")
    if not custom:
        return no_update
    start, width = int(custom[0]), int(custom[1])
    return {"from_ms": start, "to_ms": start + width}


def narrow_by_drag(relayout: dict[str, Any] | None) -> Any:
    """A dragged span on the time axis becomes the window (a double-click reset is ignored)."""
    if not relayout or "xaxis.range[0]" not in relayout:
        return no_update
    now = utc_now()
    try:
        start = to_millis(parse_time(str(relayout["xaxis.range[0]"]).replace(" ", "T"), name="from", now=now))
        end = to_millis(parse_time(str(relayout["xaxis.range[1]"]).replace(" ", "T"), name="to", now=now))
    except (ValueError, KeyError):
        return no_update
    if end <= start:
        return no_update
    return {"from_ms": start, "to_ms": end}


def toggle_level(restyle: list[Any] | None, figure: dict[str, Any] | None, chosen: list[str] | None) -> Any:
    """A legend click: the levels drawn (visible) after it become the search's levels."""
    if not restyle or not figure or not isinstance(restyle[0], dict) or "visible" not in restyle[0]:
        return no_update
    names_in_order = [trace.get("name") for trace in figure.get("data", [])]
    visible = {
        name: (trace.get("visible", True) is True)
        for name, trace in zip(names_in_order, figure["data"], strict=False)
    }
    changes, indices = restyle[0]["visible"], restyle[1]
    for position, index in enumerate(indices):
        value = changes[position] if isinstance(changes, list) else changes
        if 0 <= index < len(names_in_order):
            visible[names_in_order[index]] = value is True
    levels = [level for level in LOG_LEVELS if visible.get(level)]
    if set(levels) == set(names_in_order) and not chosen:
        return no_update
    everything = set(levels) >= set(LOG_LEVELS)
    return [] if everything else levels


def register_histogram_callbacks(app: Dash) -> None:
    app.callback(Output(names.HISTOGRAM, "figure"), Input(names.CRITERIA, "data"))(draw)
    app.callback(
        Output(names.WINDOW, "data", allow_duplicate=True),
        Input(names.HISTOGRAM, "clickData"),
        prevent_initial_call=True,
    )(narrow_by_click)
    app.callback(
        Output(names.WINDOW, "data", allow_duplicate=True),
        Input(names.HISTOGRAM, "relayoutData"),
        prevent_initial_call=True,
    )(narrow_by_drag)
    app.callback(
        Output(names.LEVELS, "value", allow_duplicate=True),
        Input(names.HISTOGRAM, "restyleData"),
        State(names.HISTOGRAM, "figure"),
        State(names.LEVELS, "value"),
        prevent_initial_call=True,
    )(toggle_level)
