"""A live time-series chart: full figure when the window changes, ``Patch`` appends on each tick.

One pattern-matching callback serves every chart of every page; a chart is described by a
``ChartSpec`` kept in a ``dcc.Store`` next to it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import dash_bootstrap_components as dbc
from dash import MATCH, Dash, Input, Output, Patch, State, ctx, dcc, html, no_update

from dashboard import ids
from dashboard.figures import add_threshold_bands, empty_figure, gap_threshold_ms, line_figure, series_xy
from dashboard.services import services
from dashboard.timerange import resolve_range_choice
from storage.export import iter_csv, prepare_export
from storage.reads import choose_step_ms
from storage.store import DEFAULT_MAX_POINTS
from storage.timeparse import to_millis

__all__ = ["ChartSpec", "chart_spec", "download_chart_csv", "live_chart", "register_live_chart_callbacks"]

# After this many appends the figure is rebuilt, dropping points that scrolled out of the window.
_TICKS_BEFORE_REDRAW = 60
# The CSV download of each chart (pattern-matching types, like those in ``dashboard.ids``).
DOWNLOAD_BUTTON = "live-chart-download-button"
DOWNLOAD = "live-chart-download"
CHART_HEIGHT_PX = 260


@dataclass(frozen=True)
class ChartSpec:
    key: str  # unique on its page; part of the component ids
    metric: str
    title: str
    unit: str = ""
    agg: str = "mean"
    host: str | None = None  # only this host's series (per-target pages: the target's name)
    labels: dict[str, str] | None = None  # only series with these labels
    # Horizontal warning and critical bands, e.g. (70, 90) for a utilization in %; for a metric
    # where low is bad (a hit rate) set ``low_is_bad``: the bands are drawn below the thresholds.
    thresholds: tuple[float, float] | None = None
    low_is_bad: bool = False


def live_chart(spec: ChartSpec) -> dbc.Card:
    """A card holding the chart, its status line and its state."""
    return dbc.Card(
        [
            dbc.CardHeader(
                [
                    html.Span(spec.title),
                    dbc.Button(
                        "CSV",
                        id={"type": DOWNLOAD_BUTTON, "chart": spec.key},
                        size="sm",
                        color="link",
                        className="chart-download p-0 ms-2",
                        title="Download the window shown as CSV",
                    ),
                    dcc.Download(id={"type": DOWNLOAD, "chart": spec.key}),
                ],
                className="d-flex justify-content-between align-items-center",
            ),
            dbc.CardBody(
                [
                    dcc.Graph(
                        id={"type": ids.LIVE_CHART, "chart": spec.key},
                        config={"displaylogo": False, "responsive": True},
                        # responsive charts fill their box, so the box needs a height of its own
                        style={"height": f"{CHART_HEIGHT_PX}px"},
                        figure=empty_figure("Loading…"),
                    ),
                    html.Div(id={"type": ids.LIVE_CHART_STATUS, "chart": spec.key}, className="chart-status"),
                    dcc.Store(
                        id={"type": ids.LIVE_CHART_STATE, "chart": spec.key}, data={"spec": asdict(spec)}
                    ),
                ],
                className="p-2",
            ),
        ],
        className="chart-card h-100",
    )


def chart_spec(state: dict[str, Any]) -> ChartSpec:
    """The spec kept in a chart's store (JSON turned the thresholds tuple into a list)."""
    fields = dict(state["spec"])
    if fields.get("thresholds") is not None:
        fields["thresholds"] = tuple(fields["thresholds"])
    return ChartSpec(**fields)


def register_live_chart_callbacks(app: Dash) -> None:
    app.callback(
        Output({"type": ids.LIVE_CHART, "chart": MATCH}, "figure"),
        Output({"type": ids.LIVE_CHART_STATE, "chart": MATCH}, "data"),
        Output({"type": ids.LIVE_CHART_STATUS, "chart": MATCH}, "children"),
        Input(ids.REFRESH_INTERVAL, "n_intervals"),
        Input(ids.TIME_RANGE, "value"),
        Input(ids.CUSTOM_RANGE, "start_date"),
        Input(ids.CUSTOM_RANGE, "end_date"),
        State({"type": ids.LIVE_CHART_STATE, "chart": MATCH}, "data"),
    )(update_live_chart)
    app.callback(
        Output({"type": DOWNLOAD, "chart": MATCH}, "data"),
        Input({"type": DOWNLOAD_BUTTON, "chart": MATCH}, "n_clicks"),
        State({"type": ids.LIVE_CHART_STATE, "chart": MATCH}, "data"),
        prevent_initial_call=True,
    )(download_chart_csv)


def update_live_chart(
    _ticks: int | None,
    choice: str | None,
    start_date: str | None,
    end_date: str | None,
    state: dict[str, Any],
) -> tuple[Any, dict[str, Any], str]:
    spec = chart_spec(state)
    since, until = resolve_range_choice(choice, [start_date or "", end_date or ""])
    step_ms = choose_step_ms(since, until, DEFAULT_MAX_POINTS)
    # Only complete buckets are drawn, so an appended point never needs correcting later.
    complete_until_ms = to_millis(until) // step_ms * step_ms
    window = f"{choice}|{start_date}|{end_date}"
    can_append = (
        ctx.triggered_id == ids.REFRESH_INTERVAL
        and state.get("window") == window
        and state.get("last_bucket") is not None
        and state.get("ticks", 0) < _TICKS_BEFORE_REDRAW
    )
    try:
        if can_append:
            return _append(spec, state, step_ms, since, until, complete_until_ms)
        return _redraw(spec, state, window, step_ms, since, until, complete_until_ms)
    except Exception as exc:  # a failing store degrades this chart, not the page
        return no_update, state, f"Could not load data: {exc}"


def _query(spec: ChartSpec, since_ms: int, until_ms: int, step_ms: int) -> Any:
    return services().store.metrics(
        spec.metric,
        since=since_ms,
        until=until_ms,
        every=f"{step_ms}ms",
        agg=spec.agg,
        host=spec.host,
        labels=spec.labels,
    )


def _redraw(
    spec: ChartSpec, state: dict[str, Any], window: str, step_ms: int, since: Any, until: Any, until_ms: int
) -> tuple[Any, dict[str, Any], str]:
    try:
        frame = _query(spec, to_millis(since), until_ms, step_ms)
    except ValueError:
        frame = None  # unknown metric: nothing was ever collected for it
    base_state = {
        "spec": state["spec"],
        "window": window,
        "ticks": 0,
        "shown": [to_millis(since), until_ms, step_ms],
    }
    if frame is None or frame.empty:
        return empty_figure("No data in this time range"), {**base_state, "last_bucket": None}, "No data"
    figure, order = line_figure(frame, spec.agg, since, until, spec.unit, spec.title)
    if spec.thresholds:
        add_threshold_bands(figure, spec.thresholds, spec.low_is_bad)
    new_state = {
        **base_state,
        "series": order,
        "last_bucket": to_millis(frame["ts"].max()),
        "gap_ms": gap_threshold_ms(frame),
    }
    return figure, new_state, _status(frame, step_ms)


def _append(
    spec: ChartSpec, state: dict[str, Any], step_ms: int, since: Any, until: Any, until_ms: int
) -> tuple[Any, dict[str, Any], Any]:
    frame = (
        _query(spec, state["last_bucket"] + step_ms, until_ms, step_ms)
        if (state["last_bucket"] + step_ms < until_ms)
        else None
    )
    patch = Patch()
    patch["layout"]["xaxis"]["range"] = [since.isoformat(), until.isoformat()]
    state = {**state, "shown": [to_millis(since), until_ms, step_ms]}
    if frame is None or frame.empty:
        return patch, {**state, "ticks": state["ticks"] + 1}, no_update
    known = state["series"]
    if not set(frame["series_id"]).issubset(known):  # a new series appeared: draw it all again
        return _redraw(spec, state, state["window"], step_ms, since, until, until_ms)
    for series_id, rows in frame.groupby("series_id", sort=True):
        trace = patch["data"][known.index(int(series_id))]
        x, y = series_xy(rows, spec.agg, state.get("gap_ms", 0), after_ms=state["last_bucket"])
        trace["x"].extend(x)
        trace["y"].extend(y)
    new_state = {**state, "ticks": state["ticks"] + 1, "last_bucket": to_millis(frame["ts"].max())}
    return patch, new_state, _status(frame, step_ms)


def download_chart_csv(_clicks: int | None, state: dict[str, Any]) -> Any:
    """The chart's window as CSV: same metric, range, step and aggregate as drawn (storage export)."""
    if not state.get("shown"):
        return no_update  # not drawn yet
    spec = chart_spec(state)
    since_ms, until_ms, step_ms = state["shown"]
    store = services().store
    try:
        query = prepare_export(
            store,
            spec.metric,
            since=since_ms,
            until=until_ms,
            every=timedelta(milliseconds=step_ms),
            agg=spec.agg,
            host=spec.host,
        )
    except ValueError:
        return no_update  # nothing was ever collected for this metric
    content = b"".join(iter_csv(store, query)).decode()
    stamp = datetime.fromtimestamp(until_ms / 1000, UTC)
    return dcc.send_string(content, f"{spec.metric}-{stamp:%Y%m%dT%H%M%SZ}.csv", type="text/csv")


def _status(frame: Any, step_ms: int) -> str:
    newest = frame["ts"].max().strftime("%H:%M:%S UTC")
    step = f"{step_ms // 1000}s" if step_ms < 60_000 else f"{step_ms // 60_000}min"
    return f"Latest point {newest} · {frame['series_id'].nunique()} series · one point per {step}"
