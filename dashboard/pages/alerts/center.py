"""The alert center: open alerts first, filters, bulk acknowledge/resolve, one alert's chart and
history, and analytics over the global time range."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import pandas as pd
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, ctx, dcc, html, no_update

from dashboard import ids
from dashboard.figures import add_rule_thresholds, empty_figure, line_figure, shade_spans
from dashboard.pages.alerts import names
from dashboard.pages.alerts.common import SEVERITY_COLOURS, allowed, fmt_seconds, fmt_time, inline, role_hint
from dashboard.services import current_actor, services
from dashboard.timerange import resolve_range_choice
from storage.timeparse import utc_now
from storage.users import Role
from tasks.actions import PermissionDenied
from tasks.actions import alerts as actions
from tasks.alerting.model import CATEGORIES, SEVERITIES

__all__ = ["center_section", "register_callbacks"]

STATE_CHOICES = ("open", "all", "pending", "firing", "nodata", "error", "acknowledged", "resolved")
# One page of the grid: the store sorts, filters and pages (LIMIT/OFFSET), so any number of alerts
# can be browsed without sending them all to the browser.
PAGE_SIZE = 50
_COLUMNS = [
    {
        "field": "severity",
        "width": 110,
        "cellClassRules": {
            "alerts-sev-critical": "params.value == 'critical' || params.value == 'emergency'",
            "alerts-sev-warning": "params.value == 'warning'",
        },
    },
    {"field": "state", "width": 110},
    {"field": "rule", "flex": 2},
    {"field": "host", "flex": 1},
    {"field": "value", "width": 100, "valueFormatter": {"function": "d3.format('.4~g')(params.value)"}},
    {"field": "started", "width": 190},
    {"field": "acknowledged", "headerName": "Acknowledged by", "flex": 1},
    {"field": "summary", "flex": 3},
]


def center_section(query: dict[str, str]) -> html.Div:
    state = query.get("state") if query.get("state") in STATE_CHOICES else "open"
    operator = allowed(Role.OPERATOR)
    filters = dbc.Row(
        [
            dbc.Col(_dropdown(names.FILTER_STATE, "State", STATE_CHOICES, state, clearable=False), md=2),
            dbc.Col(_dropdown(names.FILTER_SEVERITY, "Severity", SEVERITIES, query.get("severity")), md=2),
            dbc.Col(_dropdown(names.FILTER_CATEGORY, "Category", CATEGORIES, query.get("category")), md=2),
            dbc.Col(
                [
                    dbc.Label("Target host", html_for=names.FILTER_HOST, className="small mb-0"),
                    dbc.Input(
                        id=names.FILTER_HOST,
                        value=query.get("host") or "",
                        debounce=True,
                        size="sm",
                        placeholder="any",
                    ),
                ],
                md=2,
            ),
            dbc.Col(
                [
                    dbc.Label("Rule", html_for=names.FILTER_RULE, className="small mb-0"),
                    dcc.Dropdown(
                        id=names.FILTER_RULE,
                        options=_rule_options(),
                        value=_int(query.get("rule")),
                        placeholder="any rule",
                    ),
                ],
                md=4,
            ),
        ],
        className="g-2 mb-2",
    )
    bulk = html.Div(
        [
            dbc.Input(
                id=names.BULK_COMMENT,
                placeholder="comment (optional)",
                size="sm",
                style={"maxWidth": "320px"},
                disabled=not operator,
                maxLength=2000,
            ),
            dbc.Button(
                "Acknowledge selected",
                id=names.BULK_ACK,
                size="sm",
                color="primary",
                n_clicks=0,
                disabled=not operator,
            ),
            dbc.Button(
                "Resolve selected",
                id=names.BULK_RESOLVE,
                size="sm",
                color="success",
                n_clicks=0,
                disabled=not operator,
            ),
            role_hint(Role.OPERATOR),
        ],
        className="d-flex gap-2 align-items-center mb-2",
    )
    grid = dag.AgGrid(
        id=names.GRID,
        columnDefs=_COLUMNS,
        rowData=[],
        getRowId="params.data.id",
        defaultColDef={"sortable": True, "resizable": True},
        dashGridOptions={
            "rowSelection": {
                "mode": "multiRow",
                "checkboxes": True,
                "headerCheckbox": True,
                "enableClickSelection": False,
            },
            "animateRows": False,
            "domLayout": "autoHeight",
        },
        className="ag-theme-alpine",
        style={"width": "100%"},
    )
    return html.Div(
        [
            filters,
            bulk,
            html.Div(id=names.BULK_MESSAGE),
            html.Div(id=names.GRID_NOTE),
            grid,
            html.Div(
                [
                    dbc.Pagination(
                        id=names.PAGER,
                        max_value=1,
                        active_page=1,
                        first_last=True,
                        previous_next=True,
                        fully_expanded=False,
                        size="sm",
                        className="mb-0",
                    ),
                    html.Span(id=names.PAGE_NOTE, className="small text-secondary"),
                ],
                className="d-flex gap-3 align-items-center mt-2",
            ),
            dcc.Store(id=names.GRID_VERSION, data=0),
            dcc.Store(id=names.SELECTED, data=_int(query.get("alert"))),
            html.Div(id=names.DETAIL_MESSAGE, className="mt-3"),
            html.Div(id=names.DETAIL),
            html.H4("Analytics", className="mt-4"),
            html.Div(id=names.ANALYTICS),
        ]
    )


def _dropdown(
    element_id: str, label: str, choices: tuple[str, ...], value: str | None, clearable: bool = True
) -> list[Any]:
    return [
        dbc.Label(label, html_for=element_id, className="small mb-0"),
        dcc.Dropdown(
            id=element_id,
            options=[{"label": c, "value": c} for c in choices],
            value=value,
            clearable=clearable,
            placeholder="any",
        ),
    ]


def _int(text: str | None) -> int | None:
    try:
        return int(str(text))
    except (TypeError, ValueError):
        return None


def _rule_options() -> list[dict[str, Any]]:
    try:
        rules = services().store.alerts.rules()
    except Exception:
        return []
    if rules.empty:
        return []
    return [{"label": name, "value": int(rid)} for rid, name in zip(rules["id"], rules["name"], strict=True)]


def register_callbacks(app: Dash) -> None:
    app.callback(
        Output(names.GRID, "rowData"),
        Output(names.GRID_NOTE, "children"),
        Output(names.PAGER, "max_value"),
        Output(names.PAGER, "active_page"),
        Output(names.PAGE_NOTE, "children"),
        Input(names.PAGER, "active_page"),
        Input(names.FILTER_STATE, "value"),
        Input(names.FILTER_SEVERITY, "value"),
        Input(names.FILTER_CATEGORY, "value"),
        Input(names.FILTER_HOST, "value"),
        Input(names.FILTER_RULE, "value"),
        Input(names.GRID_VERSION, "data"),
        Input(ids.REFRESH_INTERVAL, "n_intervals"),
        Input(ids.TIME_RANGE, "value"),
        Input(ids.CUSTOM_RANGE, "start_date"),
        Input(ids.CUSTOM_RANGE, "end_date"),
    )(load_alerts)
    app.callback(
        Output(names.BULK_MESSAGE, "children"),
        Output(names.GRID_VERSION, "data"),
        Input(names.BULK_ACK, "n_clicks"),
        Input(names.BULK_RESOLVE, "n_clicks"),
        State(names.GRID, "selectedRows"),
        State(names.BULK_COMMENT, "value"),
        State(names.GRID_VERSION, "data"),
        prevent_initial_call=True,
    )(bulk_action)
    app.callback(
        Output(names.SELECTED, "data"),
        Input(names.GRID, "cellClicked"),
        prevent_initial_call=True,
    )(select_alert)
    app.callback(
        Output(names.DETAIL, "children"),
        Input(names.SELECTED, "data"),
        Input(names.GRID_VERSION, "data"),
    )(show_detail)
    app.callback(
        Output(names.DETAIL_MESSAGE, "children"),
        Output(names.GRID_VERSION, "data", allow_duplicate=True),
        Input(names.DETAIL_ACK, "n_clicks"),
        Input(names.DETAIL_RESOLVE, "n_clicks"),
        State(names.SELECTED, "data"),
        State(names.DETAIL_COMMENT, "value"),
        State(names.GRID_VERSION, "data"),
        prevent_initial_call=True,
    )(detail_action)
    app.callback(
        Output(names.ANALYTICS, "children"),
        Input(ids.TIME_RANGE, "value"),
        Input(ids.CUSTOM_RANGE, "start_date"),
        Input(ids.CUSTOM_RANGE, "end_date"),
        Input(names.GRID_VERSION, "data"),
    )(show_analytics)


_FILTER_INPUTS = (
    names.FILTER_STATE,
    names.FILTER_SEVERITY,
    names.FILTER_CATEGORY,
    names.FILTER_HOST,
    names.FILTER_RULE,
    ids.TIME_RANGE,
    ids.CUSTOM_RANGE,
)


def load_alerts(
    page: int | None,
    state: str | None,
    severity: str | None,
    category: str | None,
    host: str | None,
    rule_id: int | None,
    _version: int,
    _ticks: int,
    choice: str | None,
    start: str | None,
    end: str | None,
) -> tuple[list[dict[str, Any]], Any, int, int, str]:
    """One page of the grid: the filters, the order (open first) and the page applied in the store.

    Changed filters go back to the first page; a refresh or an action keeps the page (clamped to
    the pages that still exist)."""
    since, until = resolve_range_choice(choice, [start, end] if start and end else None)
    filters: dict[str, Any] = {
        "state": None if state in (None, "all") else state,
        "severity": severity or None,
        "category": category or None,
        "host": (host or "").strip() or None,
        "rule_id": rule_id,
    }
    if filters["state"] == "open":
        since = since - timedelta(days=365)  # an open alert is shown whenever it started
    page = 1 if ctx.triggered_id in _FILTER_INPUTS or not page else int(page)
    try:
        store = services().store
        total = store.alerts.count(**filters, since=since, until=until)
        pages = max(1, -(-total // PAGE_SIZE))
        page = min(max(page, 1), pages)
        frame = store.alerts.find(
            **filters, since=since, until=until, limit=PAGE_SIZE, offset=(page - 1) * PAGE_SIZE
        )
    except Exception as exc:  # the store is down: this panel says so, the page stays
        return [], inline(f"Could not read alerts: {exc}", "warning"), 1, 1, ""
    rows = [
        {
            "id": int(row["id"]),
            "severity": row["severity"],
            "state": row["state"] + (" (ack)" if _acked(row) else ""),
            "rule": row["rule"],
            "host": row["host"] if isinstance(row["host"], str) else "",
            "value": None if pd.isna(row["value"]) else float(row["value"]),
            "started": fmt_time(row["started_at"]),
            "acknowledged": row["acknowledged_by"] if isinstance(row["acknowledged_by"], str) else "",
            "summary": row["summary"] if isinstance(row["summary"], str) else "",
        }
        for row in frame.to_dict("records")
    ]
    note = None
    if not rows:
        note = inline("No alerts match these filters in the selected time range.", "secondary")
    first = (page - 1) * PAGE_SIZE + 1
    shown = f"Alerts {first:,} to {first + len(rows) - 1:,} of {total:,}" if rows else ""
    return rows, note, pages, page, shown


def _acked(row: dict[str, Any]) -> bool:
    return isinstance(row["acknowledged_by"], str) and row["state"] != "resolved"


def bulk_action(
    _ack: int, _resolve: int, selected: list[dict[str, Any]] | None, comment: str | None, version: int
) -> tuple[Any, Any]:
    chosen = [int(row["id"]) for row in selected or []]
    if not chosen:
        return inline("Select one or more alerts first (tick the boxes).", "warning"), no_update
    return _act(ctx.triggered_id == names.BULK_ACK, chosen, comment or "", version)


def _act(acknowledge: bool, chosen: list[int], comment: str, version: int) -> tuple[Any, Any]:
    store = services().store
    try:
        if acknowledge:
            done = actions.acknowledge_alerts(store, current_actor(), chosen, comment)
            verb = "Acknowledged"
        else:
            done = actions.resolve_alerts(store, current_actor(), chosen, comment)
            verb = "Resolved"
    except PermissionDenied as exc:
        return inline(f"Not allowed: {exc}."), no_update
    skipped = len(chosen) - len(done)
    words = f"{verb} {len(done)} alert{'s' if len(done) != 1 else ''}."
    if skipped:
        words += f" {skipped} {'was' if skipped == 1 else 'were'} no longer open."
    return inline(words, "success"), (version or 0) + 1


def select_alert(cell: dict[str, Any] | None) -> Any:
    if not cell or cell.get("rowId") is None:
        return no_update
    return int(cell["rowId"])


def show_detail(alert_id: int | None, _version: int) -> Any:
    if alert_id is None:
        return html.P("Click an alert to see its chart and history.", className="text-secondary")
    try:
        store = services().store
        alert = store.alerts.alert(alert_id=alert_id)
        if alert is None:
            return inline(f"There is no alert {alert_id} (it may have been deleted).", "warning")
        history = store.alerts.history(alert_id=alert_id)
        figure = _alert_figure(alert)
    except Exception as exc:
        return inline(f"Could not load alert {alert_id}: {exc}", "warning")
    operator = allowed(Role.OPERATOR)
    is_open = alert["open_key"] is not None
    badge = dbc.Badge(
        alert["severity"], color=SEVERITY_COLOURS.get(alert["severity"], "secondary"), className="me-2"
    )
    ack = (
        (
            f"Acknowledged by {alert['acknowledged_by']} at {fmt_time(alert['acknowledged_at'])}"
            + (f": {alert['ack_comment']}" if alert["ack_comment"] else "")
        )
        if alert["acknowledged_by"]
        else ""
    )
    controls = html.Div(
        [
            dbc.Input(
                id=names.DETAIL_COMMENT,
                placeholder="comment",
                size="sm",
                style={"maxWidth": "320px"},
                disabled=not (operator and is_open),
                maxLength=2000,
            ),
            dbc.Button(
                "Acknowledge", id=names.DETAIL_ACK, size="sm", n_clicks=0, disabled=not (operator and is_open)
            ),
            dbc.Button(
                "Resolve",
                id=names.DETAIL_RESOLVE,
                size="sm",
                color="success",
                n_clicks=0,
                disabled=not (operator and is_open),
            ),
            role_hint(Role.OPERATOR),
        ],
        className="d-flex gap-2 align-items-center mb-2",
    )
    rows = [
        html.Tr(
            [
                html.Td(fmt_time(r["ts"])),
                html.Td(r["from_state"] or ""),
                html.Td(r["to_state"]),
                html.Td("" if pd.isna(r["value"]) else f"{r['value']:.4g}"),
                html.Td(r["note"] or ""),
            ]
        )
        for r in history.to_dict("records")
    ]
    table = dbc.Table(
        [
            html.Thead(html.Tr([html.Th(h) for h in ("When", "From", "To", "Value", "Note")])),
            html.Tbody(rows),
        ],
        size="sm",
        striped=True,
        id=names.DETAIL_HISTORY,
    )
    return dbc.Card(
        dbc.CardBody(
            [
                html.H5(
                    [
                        badge,
                        alert["rule"],
                        html.Small(f"  #{alert['id']} · {alert['state']}", className="text-secondary"),
                    ]
                ),
                html.P(alert["summary"] or "", className="mb-1"),
                html.P(ack, className="small text-secondary mb-2") if ack else None,
                controls,
                dcc.Graph(
                    id=names.DETAIL_CHART,
                    figure=figure,
                    config={"displaylogo": False},
                    style={"height": "320px"},
                ),
                html.H6("State history", className="mt-2"),
                table,
            ]
        )
    )


def _alert_figure(alert: dict[str, Any]) -> go.Figure:
    """The alert's series from an hour before it started to half an hour after it ended (or now)."""
    started = alert["started_at"]
    ended = alert["resolved_at"]
    now = utc_now()
    since = started - timedelta(hours=1)
    until = min(now, (ended or now) + timedelta(minutes=30))
    if until <= since:
        until = since + timedelta(hours=1)
    try:
        frame = services().store.metrics(alert["metric"], since=since, until=until, host=alert["host"])
    except ValueError as exc:
        return empty_figure(str(exc))
    if alert["series_id"] is not None and not frame.empty:
        frame = frame[frame["series_id"] == alert["series_id"]]
    if frame.empty:
        return empty_figure("No samples of this series around the alert")
    figure, _ = line_figure(frame, "mean", since, until, "", alert["metric"])
    add_rule_thresholds(figure, alert["condition"], float(alert["threshold"]), alert["threshold2"])
    if alert["firing_at"] is not None:
        shade_spans(figure, [(alert["firing_at"], ended or until)])
    figure.update_layout(yaxis={"range": None, "rangemode": "normal"})
    return figure


def detail_action(
    _ack: int, _resolve: int, alert_id: int | None, comment: str | None, version: int
) -> tuple[Any, Any]:
    # The buttons are re-created with each detail panel, which fires this callback: only a click acts.
    if alert_id is None or not (_ack if ctx.triggered_id == names.DETAIL_ACK else _resolve):
        return no_update, no_update
    return _act(ctx.triggered_id == names.DETAIL_ACK, [alert_id], comment or "", version)


def show_analytics(choice: str | None, start: str | None, end: str | None, _version: int) -> Any:
    since, until = resolve_range_choice(choice, [start, end] if start and end else None)
    try:
        found = services().store.alerts.analytics(since=since, until=until)
    except Exception as exc:
        return inline(f"Could not compute analytics: {exc}", "warning")
    over = found["over_time"]
    if over.empty:
        figure = empty_figure("No alert fired in this time range")
    else:
        figure = go.Figure(
            layout={
                "template": "plotly_white",
                "barmode": "stack",
                "height": 260,
                "margin": {"l": 40, "r": 10, "t": 10, "b": 30},
                "legend": {"orientation": "h", "y": -0.2},
            }
        )
        colours = {"info": "#3b82f6", "warning": "#f59e0b", "critical": "#dc2626", "emergency": "#7f1d1d"}
        for severity in SEVERITIES:
            part = over[over["severity"] == severity]
            if not part.empty:
                figure.add_bar(x=part["ts"], y=part["count"], name=severity, marker_color=colours[severity])
    rules = found["rules"]
    noisy_rows = [
        html.Tr(
            [
                html.Td(r["rule"]),
                html.Td(int(r["alerts"])),
                html.Td(int(r["notifications"])),
                html.Td(fmt_seconds(r["mtta_seconds"])),
                html.Td(fmt_seconds(r["mttr_seconds"])),
            ]
        )
        for r in rules.head(10).to_dict("records")
    ]
    flapping_rows = [
        html.Tr([html.Td(r["rule"]), html.Td(int(r["flips"]))])
        for r in found["flapping"].head(10).to_dict("records")
    ]
    return dbc.Row(
        [
            dbc.Col(
                [
                    html.H6("Alerts over time by severity"),
                    dcc.Graph(id=names.ANALYTICS_CHART, figure=figure, config={"displaylogo": False}),
                ],
                lg=6,
            ),
            dbc.Col(
                [
                    html.H6("Noisiest rules (MTTA / MTTR)"),
                    _table(("Rule", "Alerts", "Sent", "MTTA", "MTTR"), noisy_rows),
                ],
                lg=4,
            ),
            dbc.Col([html.H6("Flapping rules"), _table(("Rule", "Flips"), flapping_rows)], lg=2),
        ]
    )


def _table(headers: tuple[str, ...], rows: list[Any]) -> Any:
    if not rows:
        return html.P("Nothing in this range.", className="text-secondary small")
    return dbc.Table(
        [html.Thead(html.Tr([html.Th(h) for h in headers])), html.Tbody(rows)], size="sm", striped=True
    )
