"""A live time-series chart: full figure when the window changes, ``Patch`` appends on each tick.

One pattern-matching callback serves every chart of every page; a chart is described by a
``ChartSpec`` kept in a ``dcc.Store`` next to it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import dash_bootstrap_components as dbc
from dash import MATCH, Dash, Input, Output, Patch, State, ctx, dcc, html, no_update

from dashboard import ids
from dashboard.figures import add_threshold_bands, empty_figure, gap_threshold_ms, line_figure, series_xy
from dashboard.services import services
from dashboard.timerange import resolve_range_choice, zoomed_window
from storage.export import iter_csv, prepare_export
from storage.reads import choose_step_ms
from storage.store import DEFAULT_MAX_POINTS
from storage.timeparse import format_utc, to_millis

__all__ = ["ChartSpec", "chart_spec", "download_chart_csv", "live_chart", "register_live_chart_callbacks"]

# After this many appends the figure is rebuilt, dropping points that scrolled out of the window.
_TICKS_BEFORE_REDRAW = 60
# The CSV download of each chart (pattern-matching types, like those in ``dashboard.ids``).
DOWNLOAD_BUTTON = "live-chart-download-button"
DOWNLOAD = "live-chart-download"
# "Jump to logs": clicking a point navigates this Location to /logs around the point and its host.
JUMP_TO_LOGS = "live-chart-jump-to-logs"
# Half of the log window opened around a clicked point (at least; a coarse step widens it).
JUMP_HALF_WINDOW_MS = 5 * 60_000
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
                    dcc.Location(id={"type": JUMP_TO_LOGS, "chart": spec.key}, refresh="callback-nav"),
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
        Input(ids.ZOOM_RANGE, "data"),
        State({"type": ids.LIVE_CHART_STATE, "chart": MATCH}, "data"),
    )(update_live_chart)
    app.callback(
        Output({"type": DOWNLOAD, "chart": MATCH}, "data"),
        Input({"type": DOWNLOAD_BUTTON, "chart": MATCH}, "n_clicks"),
        State({"type": ids.LIVE_CHART_STATE, "chart": MATCH}, "data"),
        prevent_initial_call=True,
    )(download_chart_csv)
    app.callback(
        Output({"type": JUMP_TO_LOGS, "chart": MATCH}, "href"),
        Input({"type": ids.LIVE_CHART, "chart": MATCH}, "clickData"),
        State({"type": ids.LIVE_CHART_STATE, "chart": MATCH}, "data"),
        prevent_initial_call=True,
    )(jump_to_logs)


def jump_to_logs(click: dict[str, Any] | None, state: dict[str, Any] | None) -> Any:
    """The Logs page on the window around a clicked point, for the host of the clicked line."""
    points = (click or {}).get("points") or []
    if not points or not state or points[0].get("x") is None:
        return no_update
    point = points[0]
    try:
        at_ms = to_millis(datetime.fromisoformat(str(point["x"]).replace(" ", "T")).replace(tzinfo=UTC))
    except ValueError:
        return no_update
    step_ms = (state.get("shown") or [0, 0, 0])[2] or 0
    half = max(JUMP_HALF_WINDOW_MS, 3 * int(step_ms))
    hosts = state.get("hosts") or []
    curve = point.get("curveNumber")
    host = hosts[curve] if isinstance(curve, int) and 0 <= curve < len(hosts) else state["spec"].get("host")
    params = {"from": _iso_ms(at_ms - half), "to": _iso_ms(at_ms + half)}
    if host:
        params["host"] = host
    return "/logs?" + urlencode(params)


def _iso_ms(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def update_live_chart(
    _ticks: int | None,
    choice: str | None,
    start_date: str | None,
    end_date: str | None,
    zoom: list[dict[str, str]] | None,
    state: dict[str, Any],
) -> tuple[Any, dict[str, Any], str]:
    spec = chart_spec(state)
    since, until = zoomed_window(zoom) or resolve_range_choice(choice, [start_date or "", end_date or ""])
    step_ms = choose_step_ms(since, until, DEFAULT_MAX_POINTS)
    # Appends add complete buckets only, so an appended point never needs correcting later; a full
    # draw also shows the partial newest bucket (else the newest minutes of a long range are hidden).
    complete_until_ms = to_millis(until) // step_ms * step_ms
    window = f"{choice}|{start_date}|{end_date}|{zoom[-1] if zoom else ''}"
    can_append = (
        ctx.triggered_id == ids.REFRESH_INTERVAL
        and state.get("window") == window
        and state.get("last_bucket") is not None
        and state.get("ticks", 0) < _TICKS_BEFORE_REDRAW
    )
    try:
        if can_append:
            return _append(spec, state, step_ms, since, until, complete_until_ms)
        return _redraw(spec, state, window, step_ms, since, until, to_millis(until))
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
    hosts = frame.groupby("series_id", sort=True)["host"].first()
    new_state = {
        **base_state,
        "series": order,
        "hosts": [str(hosts[series_id]) for series_id in order],  # for "jump to logs"
        "last_bucket": to_millis(frame["ts"].max()),
        "gap_ms": gap_threshold_ms(frame),
    }
    return figure, new_state, _status(frame, step_ms, since)


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


def _status(frame: Any, step_ms: int, since: datetime | None = None) -> str:
    newest = frame["ts"].max().strftime("%H:%M:%S UTC")
    parts = [
        f"Latest point {newest}",
        f"{frame['series_id'].nunique()} series",
        f"one point per {_resolution(frame, step_ms)}",
    ]
    first = frame["ts"].min()
    if since is not None and first.to_pydatetime() - since > timedelta(milliseconds=2 * step_ms):
        parts.append(f"data starts at {format_utc(first, seconds=False)}")
    return " · ".join([*parts, "click a point for its logs"])


def _resolution(frame: Any, step_ms: int) -> str:
    """What one point really stands for: the bucket, or the collection interval when that is longer
    (a 1 s step over samples taken every 5 s still has one point per 5 s)."""
    spacing = frame.groupby("series_id")["ts"].diff().dropna()
    real_ms = max(step_ms, int(spacing.median().total_seconds() * 1000)) if not spacing.empty else step_ms
    if real_ms < 60_000:
        return f"{round(real_ms / 1000)}s"
    if real_ms < 3_600_000:
        return f"{round(real_ms / 60_000)}min"
    return f"{round(real_ms / 3_600_000)}h"
