"""The explorer's chart and downloads: every chosen metric over the global window, overlaid."""

from __future__ import annotations

from typing import Any

import pandas as pd
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, ctx, dcc, no_update

from dashboard import ids
from dashboard.figures import empty_figure, figure_scale, human_scale, line_figure
from dashboard.pages.explore.controls import (
    AGG,
    CHART,
    DOWNLOAD,
    DOWNLOAD_CSV,
    DOWNLOAD_PARQUET,
    FEEDBACK,
    HOST,
    LABELS,
    LINK,
    METRICS,
    STATUS,
    STEP,
)
from dashboard.pages.explore.query import ExploreQuery, parse_query
from dashboard.services import services
from dashboard.timerange import format_in_zone, resolve_range_choice, valid_zone, zoomed_window
from storage.export import iter_csv, iter_parquet, prepare_export
from tasks.catalog import describe

__all__ = ["download", "draw", "register_callbacks"]

_WINDOW_INPUTS = [
    Input(ids.TIME_RANGE, "value"),
    Input(ids.CUSTOM_RANGE, "start_date"),
    Input(ids.CUSTOM_RANGE, "end_date"),
    Input(ids.ZOOM_RANGE, "data"),
    Input(ids.DISPLAY_TZ, "data"),
]
_QUERY = [
    Input(METRICS, "value"),
    Input(AGG, "value"),
    Input(STEP, "value"),
    Input(HOST, "value"),
    Input(LABELS, "value"),
]


def register_callbacks(app: Dash) -> None:
    app.callback(
        Output(CHART, "figure"),
        Output(STATUS, "children"),
        Output(LINK, "href"),
        *[Output(feedback, "children") for feedback in FEEDBACK.values()],
        *_QUERY,
        *_WINDOW_INPUTS,
        Input(ids.REFRESH_INTERVAL, "n_intervals"),
    )(draw)
    app.callback(
        Output(DOWNLOAD, "data"),
        Input(DOWNLOAD_CSV, "n_clicks"),
        Input(DOWNLOAD_PARQUET, "n_clicks"),
        *[State(item.component_id, item.component_property) for item in (*_QUERY, *_WINDOW_INPUTS)],
        prevent_initial_call=True,
    )(download)


def _window(
    choice: str | None, start: str | None, end: str | None, zoom: list[dict[str, str]] | None, _tz: Any = None
) -> Any:
    return zoomed_window(zoom) or resolve_range_choice(choice, [start or "", end or ""])


def draw(
    metrics: list[str] | None,
    agg: str | None,
    step: str | None,
    host: str | None,
    labels: str | None,
    choice: str | None,
    start: str | None,
    end: str | None,
    zoom: list[dict[str, str]] | None,
    tz: str | None,
    _ticks: int | None,
) -> tuple[Any, ...]:
    """The overlaid chart, a status line, the link to this view, and a message under each field."""
    query = parse_query(metrics, agg, step, host, labels)
    feedback = [query.problems.get(name, "") for name in FEEDBACK]
    link = query.link("/explore")
    if not query.metrics:
        return empty_figure("Choose a metric"), "", link, *feedback
    if "step" in query.problems or "labels" in query.problems:
        return no_update, "Fix the field marked below its box.", link, *feedback
    zone = valid_zone(tz)
    since, until = _window(choice, start, end, zoom)
    frames: dict[str, pd.DataFrame] = {}
    notes: list[str] = []
    for name in query.metrics:
        frame, note = _read(name, query, since, until)
        if note:
            notes.append(note)
        if frame is not None and not frame.empty:
            frames[name] = frame
    figure = _overlay(frames, query.agg, since, until, zone)
    shown = len(figure.data) if figure is not None else 0
    if figure is None:
        figure = empty_figure("No data in this time range")
    status = f"{shown} series · {format_in_zone(since, zone)} to {format_in_zone(until, zone)}"
    return figure, " · ".join([status, *notes]), link, *feedback


def _overlay(
    frames: dict[str, pd.DataFrame], agg: str, since: Any, until: Any, zone: str
) -> go.Figure | None:
    """Every metric on one chart. Metrics of the first one's unit share its human scale (the largest
    of them decides it); a metric of another unit keeps its own and names it beside its name."""
    if not frames:
        return None
    units = {name: describe(name)[0] for name in frames}
    first_unit = units[next(iter(frames))]
    biggest = max(
        float(frame[agg].abs().max()) for name, frame in frames.items() if units[name] == first_unit
    )
    shared_scale = human_scale(first_unit, biggest)
    figure: go.Figure | None = None
    for name, frame in frames.items():
        own_scale = shared_scale if units[name] == first_unit else None
        part, _order = line_figure(frame, agg, since, until, units[name], name, tz=zone, scale=own_scale)
        unit_note = "" if own_scale else f" ({figure_scale(part)[1] or 'count'})"
        for trace in part.data:
            # Every trace names its metric, so overlaid series stay told apart.
            base = f"{name} · {trace.name}" if trace.name and trace.name != name else name
            trace.name = base + unit_note
        if figure is None:
            figure = part  # the first metric drawn sets the axes (and its unit)
        else:
            figure.add_traces(list(part.data))
    if figure is not None:
        figure.update_layout(showlegend=True)
    return figure


def _read(name: str, query: ExploreQuery, since: Any, until: Any) -> tuple[pd.DataFrame | None, str | None]:
    try:
        frame = services().store.metrics(
            name,
            since=since,
            until=until,
            every=query.step,
            agg=query.agg,
            host=query.host,
            labels=query.labels or None,
        )
    except ValueError as exc:  # unknown metric, or a step too fine for the window
        return None, str(exc)
    return frame, None


def download(
    csv_clicks: int | None,
    parquet_clicks: int | None,
    metrics: list[str] | None,
    agg: str | None,
    step: str | None,
    host: str | None,
    labels: str | None,
    choice: str | None,
    start: str | None,
    end: str | None,
    zoom: list[dict[str, str]] | None,
    _tz: str | None = None,
) -> Any:
    """The chosen metrics over the window shown, as CSV or Parquet (the storage export)."""
    query = parse_query(metrics, agg, step, host, labels)
    if not query.metrics or query.problems:
        return no_update
    since, until = _window(choice, start, end, zoom)
    store = services().store
    try:
        export = prepare_export(
            store, query.metrics, since=since, until=until, every=query.step, agg=query.agg, host=query.host
        )
    except ValueError:
        return no_update
    stem = f"vitals-explore-{until:%Y%m%dT%H%M%SZ}"
    if ctx.triggered_id == DOWNLOAD_PARQUET:
        return dcc.send_bytes(b"".join(iter_parquet(store, export)), f"{stem}.parquet")
    return dcc.send_string(b"".join(iter_csv(store, export)).decode(), f"{stem}.csv", type="text/csv")
