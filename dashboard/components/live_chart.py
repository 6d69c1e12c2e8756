"""A live time-series chart: full figure when the window changes, ``Patch`` appends on each tick.

One pattern-matching callback serves every chart of every page; a chart is described by a
``ChartSpec`` kept in a ``dcc.Store`` next to it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import dash_bootstrap_components as dbc
from dash import MATCH, Dash, Input, Output, Patch, State, ctx, dcc, html, no_update

from dashboard import ids
from dashboard.cache import BUCKET_MS, aligned_now_ms, shared
from dashboard.figures import (
    add_threshold_bands,
    empty_figure,
    figure_scale,
    gap_threshold_ms,
    line_figure,
    series_xy,
    wall_time,
)
from dashboard.services import services
from dashboard.timerange import format_in_zone, resolve_range_choice, valid_zone, zoomed_window
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
# "Jump to logs": clicking a point navigates this Location to /logs around the point and its host.
JUMP_TO_LOGS = "live-chart-jump-to-logs"
# Half of the log window opened around a clicked point (at least; a coarse step widens it).
JUMP_HALF_WINDOW_MS = 5 * 60_000
CHART_HEIGHT_PX = 260
# Appended values this many times the drawn scale's unit (1,000 MB/s on a MB/s axis) redraw the chart.
_OUTGROWN = 1000.0


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
    # Said instead of drawing series that are 0 throughout the window, e.g. "No swap": a host without
    # swap reports 0 % forever, and a flat zero line reads as "swap, unused".
    all_zero_means: str | None = None


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
                        # The mode bar only while the pointer is on the chart: it hid the legend's
                        # first names and the newest points.
                        config={"displaylogo": False, "responsive": True, "displayModeBar": "hover"},
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
        Input(ids.DISPLAY_TZ, "data"),
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
        # The axis shows wall time in the zone the chart was drawn in.
        at = datetime.fromisoformat(str(point["x"]).replace(" ", "T"))
        at_ms = to_millis(at.replace(tzinfo=ZoneInfo(valid_zone(state.get("tz")))))
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
    tz: str | None,
    state: dict[str, Any],
) -> tuple[Any, dict[str, Any], str]:
    spec = chart_spec(state)
    zone = valid_zone(tz)
    since, until = _aligned(
        *(zoomed_window(zoom) or resolve_range_choice(choice, [start_date or "", end_date or ""]))
    )
    step_ms = choose_step_ms(since, until, DEFAULT_MAX_POINTS)
    # Appends add complete buckets only, so an appended point never needs correcting later; a full
    # draw also shows the partial newest bucket (else the newest minutes of a long range are hidden).
    complete_until_ms = to_millis(until) // step_ms * step_ms
    window = f"{choice}|{start_date}|{end_date}|{zoom[-1] if zoom else ''}|{zone}"
    can_append = (
        ctx.triggered_id == ids.REFRESH_INTERVAL
        and state.get("window") == window
        and state.get("last_bucket") is not None
        and state.get("ticks", 0) < _TICKS_BEFORE_REDRAW
    )
    try:
        if can_append:
            return _append(spec, state, step_ms, since, until, complete_until_ms)
        return _redraw(spec, {**state, "tz": zone}, window, step_ms, since, until, to_millis(until))
    except Exception as exc:  # a failing store degrades this chart, not the page
        return no_update, state, f"Could not load data: {exc}"


def _aligned(since: datetime, until: datetime) -> tuple[datetime, datetime]:
    """A window ending now, moved to end on the sharing bucket, so every viewer in that bucket asks
    the store the very same question (and shares one answer). A window in the past stays as it is."""
    now_ms = to_millis(datetime.now(UTC))
    until_ms = to_millis(until)
    if now_ms - until_ms > 2 * BUCKET_MS:
        return since, until
    aligned_until = aligned_now_ms()
    aligned_since = to_millis(since) // BUCKET_MS * BUCKET_MS
    return _utc_ms(aligned_since), _utc_ms(aligned_until)


def _utc_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, UTC)


def _query(spec: ChartSpec, since_ms: int, until_ms: int, step_ms: int) -> Any:
    """The chart's frame for this window (None for a metric never collected), shared by every viewer
    asking the same question in the same bucket: the series lookup and the read run once for all."""

    def read() -> Any:
        try:
            return services().store.metrics(
                spec.metric,
                since=since_ms,
                until=until_ms,
                every=f"{step_ms}ms",
                agg=spec.agg,
                host=spec.host,
                labels=spec.labels,
            )
        except ValueError:
            return None  # unknown metric: nothing was ever collected for it (shared too)

    return shared(("chart-frame", *_spec_key(spec), since_ms, until_ms, step_ms), read)


def _spec_key(spec: ChartSpec) -> tuple[Any, ...]:
    return (spec.metric, spec.agg, spec.host, tuple(sorted((spec.labels or {}).items())))


def _redraw(
    spec: ChartSpec, state: dict[str, Any], window: str, step_ms: int, since: Any, until: Any, until_ms: int
) -> tuple[Any, dict[str, Any], str]:
    """The whole figure; built once per (chart, window, bucket) and shared, since building a plotly
    figure costs more than the read behind it."""
    key = ("chart-figure", repr(sorted(state["spec"].items())), window, to_millis(since), until_ms, step_ms)
    return shared(key, lambda: _build(spec, state, window, step_ms, since, until, until_ms))


def _build(
    spec: ChartSpec, state: dict[str, Any], window: str, step_ms: int, since: Any, until: Any, until_ms: int
) -> tuple[Any, dict[str, Any], str]:
    frame = _query(spec, to_millis(since), until_ms, step_ms)
    zone = valid_zone(state.get("tz"))
    base_state = {
        "spec": state["spec"],
        "tz": zone,
        "window": window,
        "ticks": 0,
        "shown": [to_millis(since), until_ms, step_ms],
    }
    if frame is None or frame.empty:
        return empty_figure("No data in this time range"), {**base_state, "last_bucket": None}, "No data"
    frame, absent = _without_all_zero(frame, spec)
    if frame.empty:
        # No last bucket: every tick draws again, so the chart appears when a value does.
        return empty_figure(spec.all_zero_means or ""), {**base_state, "last_bucket": None}, absent
    figure, order = line_figure(frame, spec.agg, since, until, spec.unit, spec.title, tz=zone)
    if spec.thresholds:
        add_threshold_bands(figure, spec.thresholds, spec.low_is_bad)
    hosts = frame.groupby("series_id", sort=True)["host"].first()
    new_state = {
        **base_state,
        "series": order,
        "hosts": [str(hosts[series_id]) for series_id in order],  # for "jump to logs"
        "last_bucket": to_millis(frame["ts"].max()),
        "gap_ms": gap_threshold_ms(frame),
        "scale": figure_scale(figure)[0],
    }
    status = _status(frame, step_ms, zone, since)
    return figure, new_state, f"{status} · {absent}" if absent else status


def _without_all_zero(frame: Any, spec: ChartSpec) -> tuple[Any, str]:
    """The frame without the series that are 0 throughout, when the chart says what that means
    instead, and that message naming the hosts (a fleet can mix hosts with and without swap)."""
    if not spec.all_zero_means:
        return frame, ""
    peaks = frame.groupby("series_id")[spec.agg].agg(lambda values: values.abs().max())
    zero_ids = set(peaks[peaks.fillna(0) == 0].index)
    if not zero_ids:
        return frame, ""
    zero_rows = frame["series_id"].isin(zero_ids)
    hosts = sorted({str(host) for host in frame.loc[zero_rows, "host"]})
    return frame[~zero_rows], f"{spec.all_zero_means}: {', '.join(hosts)}"


def _append(
    spec: ChartSpec, state: dict[str, Any], step_ms: int, since: Any, until: Any, until_ms: int
) -> tuple[Any, dict[str, Any], Any]:
    frame = (
        _query(spec, state["last_bucket"] + step_ms, until_ms, step_ms)
        if (state["last_bucket"] + step_ms < until_ms)
        else None
    )
    zone = valid_zone(state.get("tz"))
    patch = Patch()
    patch["layout"]["xaxis"]["range"] = [wall_time(since, zone), wall_time(until, zone)]
    state = {**state, "shown": [to_millis(since), until_ms, step_ms]}
    if frame is None or frame.empty:
        return patch, {**state, "ticks": state["ticks"] + 1}, no_update
    known = state["series"]
    factor = float(state.get("scale", 1.0))
    # A new series, or values outgrowing the scale drawn (a rate gone from kB/s to GB/s): draw again.
    if not set(frame["series_id"]).issubset(known) or frame[spec.agg].abs().max() / factor >= _OUTGROWN:
        return _redraw(spec, state, state["window"], step_ms, since, until, until_ms)
    for series_id, rows in frame.groupby("series_id", sort=True):
        trace = patch["data"][known.index(int(series_id))]
        x, y = series_xy(
            rows, spec.agg, state.get("gap_ms", 0), after_ms=state["last_bucket"], tz=zone, factor=factor
        )
        trace["x"].extend(x)
        trace["y"].extend(y)
    new_state = {**state, "ticks": state["ticks"] + 1, "last_bucket": to_millis(frame["ts"].max())}
    return patch, new_state, _status(frame, step_ms, zone)


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


def _status(frame: Any, step_ms: int, tz: str, since: datetime | None = None) -> str:
    newest = format_in_zone(frame["ts"].max().to_pydatetime(), tz).split(" ", 1)[1]  # time of day and zone
    parts = [
        f"Latest point {newest}",
        f"{frame['series_id'].nunique()} series",
        f"one point per {_resolution(frame, step_ms)}",
    ]
    first = frame["ts"].min()
    if since is not None and first.to_pydatetime() - since > timedelta(milliseconds=2 * step_ms):
        parts.append(f"data starts at {format_in_zone(first.to_pydatetime(), tz, seconds=False)}")
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
