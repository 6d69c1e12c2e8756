"""The rule editor: the rules table, a form validated on the server with each message under its
field, a live preview of the chosen series with the threshold(s), and a backtest that replays the
engine over 24 h / 7 d / 30 d of stored history."""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, ctx, dcc, html, no_update

from dashboard import ids
from dashboard.figures import add_rule_thresholds, empty_figure, line_figure, shade_spans
from dashboard.pages.alerts import names
from dashboard.pages.alerts.common import allowed, fmt_time, inline, role_hint
from dashboard.services import current_actor, services
from dashboard.timerange import resolve_range_choice
from storage import alerts as alertstore
from storage.users import Role
from tasks.actions import PermissionDenied
from tasks.actions import alerts as actions
from tasks.alerting.model import (
    AGGREGATIONS,
    CATEGORIES,
    NO_DATA_MODES,
    OPERATORS,
    SEVERITIES,
    RuleInvalid,
    labels_text,
    parse_labels,
    rule_from_form,
    seconds_text,
)
from tasks.alerting.preview import BACKTEST_RANGES, backtest_rule

__all__ = ["register_callbacks", "rules_section"]

F = names.RULE_FIELDS
_CHOICES = {
    "aggregation": AGGREGATIONS,
    "operator": OPERATORS,
    "severity": SEVERITIES,
    "category": CATEGORIES,
    "no_data": NO_DATA_MODES,
}
_LABELS = {
    "name": "Name",
    "metric": "Metric",
    "host": "Target host (blank: every host)",
    "labels": "Series matchers (name=value, …)",
    "aggregation": "Aggregation",
    "window": "Window",
    "operator": "Operator",
    "threshold": "Threshold (lower bound)",
    "threshold2": "Upper bound (between/outside)",
    "for": "For (before firing)",
    "keep_firing_for": "Keep firing for",
    "repeat": "Repeat every (cooldown; 0 = never)",
    "severity": "Severity",
    "category": "Category",
    "no_data": "No data means",
    "alert_labels": "Extra labels",
    "summary": "Summary template ({value}, {host}, labels…)",
    "description": "Description",
    "runbook_url": "Runbook URL",
    "channels": "Notify channels",
}
_DEFAULTS: dict[str, Any] = {
    "aggregation": "avg",
    "window": "5m",
    "operator": "gt",
    "for": "0",
    "keep_firing_for": "0",
    "repeat": "15m",
    "severity": "warning",
    "category": "general",
    "no_data": "ok",
    "channels": [],
}
_RULE_COLUMNS = [
    {"field": "name", "flex": 2, "minWidth": 220},
    {"field": "condition", "flex": 3, "minWidth": 300},
    {"field": "severity", "width": 110},
    {"field": "category", "width": 110},
    {"field": "enabled", "width": 100},
]


def _defaults() -> dict[str, Any]:
    """A new rule's form: its repeat interval is the configured default cooldown."""
    try:
        return {**_DEFAULTS, "repeat": actions.default_repeat(services().store)}
    except Exception:  # the store is down: the form still opens, with the design's 15 minutes
        return _DEFAULTS


def _input(field: str, editable: bool) -> Any:
    element_id = names.rule_field(field)
    if field in _CHOICES:
        return dcc.Dropdown(
            id=element_id,
            options=[{"label": c, "value": c} for c in _CHOICES[field]],
            value=_DEFAULTS.get(field),
            clearable=False,
            disabled=not editable,
        )
    if field == "metric":
        return dcc.Dropdown(
            id=element_id,
            options=_metric_options(),
            value=None,
            disabled=not editable,
            placeholder="choose a metric",
        )
    if field == "channels":
        return dcc.Dropdown(
            id=element_id,
            options=_channel_options(),
            value=[],
            multi=True,
            disabled=not editable,
            placeholder="no notifications",
        )
    if field in ("summary", "description"):
        return dbc.Textarea(id=element_id, value="", disabled=not editable, rows=2, maxLength=2000)
    return dbc.Input(
        id=element_id, value=_defaults().get(field, ""), disabled=not editable, size="sm", maxLength=400
    )


def _metric_options() -> list[dict[str, str]]:
    try:
        return [{"label": m, "value": m} for m in actions.known_metrics(services().store)]
    except Exception:
        return []


def _channel_options() -> list[dict[str, Any]]:
    try:
        return [
            {"label": f"{c['name']} ({c['kind']})", "value": c["id"]}
            for c in alertstore.list_channels(services().store.engine)
        ]
    except Exception:
        return []


def _group(field: str, editable: bool, width: int) -> dbc.Col:
    return dbc.Col(
        [
            dbc.Label(_LABELS[field], html_for=names.rule_field(field), className="small mb-0"),
            _input(field, editable),
            html.Div(id=names.rule_error(field), className="text-danger small field-error"),
        ],
        md=width,
        className="mb-2",
    )


def rules_section() -> html.Div:
    admin = allowed(Role.ADMIN)
    widths = {
        "name": 4,
        "metric": 4,
        "host": 4,
        "labels": 4,
        "aggregation": 2,
        "window": 2,
        "operator": 2,
        "threshold": 2,
        "threshold2": 2,
        "for": 2,
        "keep_firing_for": 2,
        "repeat": 2,
        "severity": 2,
        "category": 2,
        "no_data": 2,
        "alert_labels": 4,
        "summary": 6,
        "description": 6,
        "runbook_url": 6,
        "channels": 6,
    }
    form = dbc.Row([_group(field, admin, widths[field]) for field in F], className="g-2")
    buttons = html.Div(
        [
            dbc.Button(
                "New rule",
                id=names.RULE_NEW,
                color="secondary",
                outline=True,
                size="sm",
                n_clicks=0,
                disabled=not admin,
            ),
            dbc.Button(
                "Save", id=names.RULE_SAVE, color="primary", size="sm", n_clicks=0, disabled=not admin
            ),
            dbc.Button(
                "Clone", id=names.RULE_CLONE, color="secondary", size="sm", n_clicks=0, disabled=not admin
            ),
            dbc.Button(
                "Enable / disable",
                id=names.RULE_TOGGLE,
                color="secondary",
                size="sm",
                n_clicks=0,
                disabled=not admin,
            ),
            dbc.Button(
                "Delete",
                id=names.RULE_DELETE,
                color="danger",
                outline=True,
                size="sm",
                n_clicks=0,
                disabled=not admin,
            ),
            role_hint(Role.ADMIN),
        ],
        className="d-flex gap-2 align-items-center mb-2",
    )
    backtest = html.Div(
        [
            dbc.RadioItems(
                id=names.RULE_BACKTEST_RANGE,
                options=[{"label": r, "value": r} for r in BACKTEST_RANGES],
                value="24h",
                inline=True,
                className="me-2",
            ),
            dbc.Button("Backtest", id=names.RULE_BACKTEST, color="info", size="sm", n_clicks=0),
        ],
        className="d-flex align-items-center gap-2",
    )
    grid = dag.AgGrid(
        id=names.RULES_GRID,
        columnDefs=_RULE_COLUMNS,
        rowData=[],
        getRowId="params.data.id",
        defaultColDef={"sortable": True, "resizable": True, "filter": True},
        dashGridOptions={
            "rowSelection": {"mode": "singleRow", "checkboxes": False, "enableClickSelection": True},
            "domLayout": "autoHeight",
            "pagination": True,
            "paginationPageSize": 15,
            "paginationPageSizeSelector": False,
        },
        className="ag-theme-alpine",
        style={"width": "100%"},
    )
    return html.Div(
        [
            dcc.Store(id=names.RULE_ID, data=None),
            dcc.Store(id=names.RULES_VERSION, data=0),
            dcc.ConfirmDialog(id=names.RULE_DELETE_CONFIRM, message="Delete this rule and all its alerts?"),
            html.H5("Rules"),
            grid,
            dbc.Card(
                dbc.CardBody(
                    [
                        html.H5("Editor", id="alerts-rule-editor-title"),
                        buttons,
                        html.Div(id=names.RULE_MESSAGE),
                        form,
                    ]
                ),
                className="mt-3",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            html.H6("Preview (global time range)", className="mt-3"),
                            dcc.Graph(
                                id=names.RULE_PREVIEW,
                                figure=empty_figure("Choose a metric"),
                                config={"displaylogo": False},
                                style={"height": "300px"},
                            ),
                        ],
                        lg=6,
                    ),
                    dbc.Col(
                        [
                            html.H6("Backtest: the engine replayed over stored history", className="mt-3"),
                            backtest,
                            html.Div(id=names.RULE_BACKTEST_RESULT, className="mt-2"),
                            dcc.Graph(
                                id=names.RULE_BACKTEST_CHART,
                                figure=empty_figure("Run a backtest"),
                                config={"displaylogo": False},
                                style={"height": "300px"},
                            ),
                        ],
                        lg=6,
                    ),
                ]
            ),
        ]
    )


def register_callbacks(app: Dash) -> None:
    app.callback(Output(names.RULES_GRID, "rowData"), Input(names.RULES_VERSION, "data"))(load_rules)
    app.callback(
        [Output(names.rule_field(f), "value", allow_duplicate=True) for f in F]
        + [Output(names.RULE_ID, "data", allow_duplicate=True)]
        + [Output(names.rule_error(f), "children", allow_duplicate=True) for f in F],
        Input(names.RULES_GRID, "selectedRows"),
        Input(names.RULE_NEW, "n_clicks"),
        prevent_initial_call=True,
    )(fill_form)
    app.callback(
        [Output(names.rule_error(f), "children") for f in F]
        + [
            Output(names.RULE_MESSAGE, "children"),
            Output(names.RULES_VERSION, "data"),
            Output(names.RULE_ID, "data"),
        ],
        Input(names.RULE_SAVE, "n_clicks"),
        [State(names.rule_field(f), "value") for f in F],
        State(names.RULE_ID, "data"),
        State(names.RULES_VERSION, "data"),
        prevent_initial_call=True,
    )(save)
    app.callback(
        Output(names.RULE_DELETE_CONFIRM, "displayed"),
        Input(names.RULE_DELETE, "n_clicks"),
        State(names.RULE_ID, "data"),
        prevent_initial_call=True,
    )(ask_delete)
    app.callback(
        Output(names.RULE_MESSAGE, "children", allow_duplicate=True),
        Output(names.RULES_VERSION, "data", allow_duplicate=True),
        Output(names.RULE_ID, "data", allow_duplicate=True),
        Input(names.RULE_CLONE, "n_clicks"),
        Input(names.RULE_TOGGLE, "n_clicks"),
        Input(names.RULE_DELETE_CONFIRM, "submit_n_clicks"),
        State(names.RULE_ID, "data"),
        State(names.RULES_VERSION, "data"),
        prevent_initial_call=True,
    )(rule_action)
    app.callback(
        Output(names.RULE_PREVIEW, "figure"),
        Input(names.rule_field("metric"), "value"),
        Input(names.rule_field("host"), "value"),
        Input(names.rule_field("labels"), "value"),
        Input(names.rule_field("operator"), "value"),
        Input(names.rule_field("threshold"), "value"),
        Input(names.rule_field("threshold2"), "value"),
        Input(ids.TIME_RANGE, "value"),
        Input(ids.CUSTOM_RANGE, "start_date"),
        Input(ids.CUSTOM_RANGE, "end_date"),
    )(preview)
    app.callback(
        Output(names.RULE_BACKTEST_RESULT, "children"),
        Output(names.RULE_BACKTEST_CHART, "figure"),
        Input(names.RULE_BACKTEST, "n_clicks"),
        State(names.RULE_BACKTEST_RANGE, "value"),
        [State(names.rule_field(f), "value") for f in F],
        prevent_initial_call=True,
    )(run_backtest)


def load_rules(_version: int) -> list[dict[str, Any]]:
    from tasks.alerting.evaluate import rule_from_row

    try:
        rows = alertstore.list_rules(services().store.engine)
    except Exception:
        return []
    return [
        {
            "id": r["id"],
            "name": r["name"],
            "condition": rule_from_row(r).condition_text,
            "severity": r["severity"],
            "category": r["category"],
            "enabled": "yes" if r["enabled"] else "no",
        }
        for r in sorted(rows, key=lambda r: str(r["name"]).lower())
    ]


def _form_values(rule: dict[str, Any] | None) -> list[Any]:
    if rule is None:
        return [_defaults().get(f, "") for f in F]
    shown = {
        **rule,
        "labels": labels_text(rule["labels"]),
        "alert_labels": labels_text(rule["alert_labels"]),
        "window": seconds_text(rule["window_seconds"]),
        "for": seconds_text(rule["for_seconds"]) if rule["for_seconds"] else "0",
        "keep_firing_for": seconds_text(rule["keep_firing_seconds"]) if rule["keep_firing_seconds"] else "0",
        "repeat": seconds_text(rule["repeat_seconds"]) if rule["repeat_seconds"] else "0",
        "threshold": f"{rule['threshold']:g}",
        "threshold2": "" if rule["threshold2"] is None else f"{rule['threshold2']:g}",
        "host": rule["host"] or "",
        "channels": list(rule["channels"]),
    }
    return [shown.get(f, "") for f in F]


def fill_form(selected: list[dict[str, Any]] | None, _new: int) -> list[Any]:
    clear = [""] * len(F)
    if ctx.triggered_id == names.RULE_NEW or not selected:
        return [*_form_values(None), None, *clear]
    rule = alertstore.get_rule(services().store.engine, int(selected[0]["id"]))
    if rule is None:
        return [*_form_values(None), None, *clear]
    return [*_form_values(rule), rule["id"], *clear]


def _form(values: tuple[Any, ...]) -> dict[str, Any]:
    return dict(zip(F, values, strict=True))


def save(_clicks: int, *args: Any) -> list[Any]:
    *values, rule_id, version = args
    form = _form(tuple(values))
    errors = {f: "" for f in F}
    try:
        rule = actions.save_rule(services().store, current_actor(), form, rule_id)
    except RuleInvalid as exc:
        errors.update({k: v for k, v in exc.errors.items() if k in errors})
        return [
            *errors.values(),
            inline("Not saved: correct the fields marked in red."),
            no_update,
            no_update,
        ]
    except PermissionDenied as exc:
        return [*errors.values(), inline(f"Not allowed: {exc}."), no_update, no_update]
    except LookupError as exc:
        return [*errors.values(), inline(str(exc)), no_update, None]
    return [
        *errors.values(),
        inline(f"Saved rule “{rule.name}”: {rule.condition_text}.", "success"),
        (version or 0) + 1,
        rule.id,
    ]


def ask_delete(_clicks: int, rule_id: int | None) -> bool:
    return rule_id is not None


def rule_action(
    _clone: int, _toggle: int, _delete: int | None, rule_id: int | None, version: int
) -> tuple[Any, Any, Any]:
    if rule_id is None:
        return inline("Choose a rule in the table first.", "warning"), no_update, no_update
    store, actor = services().store, current_actor()
    try:
        if ctx.triggered_id == names.RULE_CLONE:
            copy = actions.clone_rule(store, actor, rule_id)
            return (
                inline(f"Cloned as “{copy.name}” (disabled until you enable it).", "success"),
                (version or 0) + 1,
                copy.id,
            )
        if ctx.triggered_id == names.RULE_TOGGLE:
            found = alertstore.get_rule(store.engine, rule_id)
            if found is None:
                raise LookupError("rule: it no longer exists")
            actions.set_rule_enabled(store, actor, rule_id, not found["enabled"])
            state = "disabled" if found["enabled"] else "enabled"
            return inline(f"Rule “{found['name']}” {state}.", "success"), (version or 0) + 1, no_update
        actions.delete_rule(store, actor, rule_id)
        return inline("Rule deleted.", "success"), (version or 0) + 1, None
    except PermissionDenied as exc:
        return inline(f"Not allowed: {exc}."), no_update, no_update
    except LookupError as exc:
        return inline(str(exc).split(": ", 1)[-1]), (version or 0) + 1, None


def _number(text: Any) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def preview(
    metric: str | None,
    host: str | None,
    labels: str | None,
    operator: str | None,
    threshold: Any,
    threshold2: Any,
    choice: str | None,
    start: str | None,
    end: str | None,
) -> go.Figure:
    """The chosen series over the global time range with the threshold line(s), as the form stands."""
    if not metric:
        return empty_figure("Choose a metric")
    since, until = resolve_range_choice(choice, [start, end] if start and end else None)
    try:
        matchers = parse_labels(labels, "labels")
    except ValueError:
        matchers = {}
    try:
        frame = services().store.metrics(
            metric, since=since, until=until, host=(host or "").strip() or None, labels=matchers or None
        )
    except ValueError as exc:
        return empty_figure(str(exc))
    if frame.empty:
        return empty_figure("No samples of this metric in the time range")
    figure, _ = line_figure(frame, "mean", since, until, "", metric)
    low = _number(threshold)
    if low is not None:
        add_rule_thresholds(figure, operator or "gt", low, _number(threshold2))
    figure.update_layout(yaxis={"range": None, "rangemode": "normal"})
    return figure


def run_backtest(_clicks: int, span: str, *values: Any) -> tuple[Any, go.Figure]:
    """Replay the form's rule (saved or not) with the live engine over stored history."""
    store = services().store
    form = _form(values)
    try:
        metric = str(form.get("metric") or "")
        rule = rule_from_form(
            {
                **form,
                "name": form.get("name") or "backtest",
                "repeat": form.get("repeat") or actions.default_repeat(store),
            },
            known_metrics=actions.known_metrics(store),
            known_labels=actions.known_labels(store, metric),
        )
    except RuleInvalid as exc:
        field, message = next(iter(exc.errors.items()))
        return inline(f"Fix the form first — {_LABELS.get(field, field)}: {message}"), no_update
    every = services().settings.alert_evaluation_interval_seconds
    result = backtest_rule(store, rule, span, every)
    if not result.series:
        return inline("No series matches this rule, so there is nothing to replay.", "warning"), empty_figure(
            "No data"
        )
    lines = [
        html.Strong(
            f"Over the last {span}: {result.episodes} firing episode{'s' if result.episodes != 1 else ''}, "
            f"{result.notifications} notification{'s' if result.notifications != 1 else ''} "
            f"with a repeat interval of {seconds_text(rule.repeat_seconds) if rule.repeat_seconds else 'never'} "
            f"({result.samples:,} samples, {len(result.series)} of {result.series_total} series, "
            f"evaluated every {every:g} s)."
        ),
    ]
    items = [
        html.Li(
            f"{s.host} {labels_text(s.labels)}: fired {fmt_time(e.started_at)} → "
            f"{fmt_time(e.ended_at) if e.ended_at else 'still firing'} (peak {e.peak:.4g})"
        )
        for s in result.series
        for e in s.episodes[:20]
    ]
    summary = html.Div([*lines, html.Ul(items[:50], className="small mb-0")], id="alerts-backtest-summary")
    first = result.series[0]
    try:
        frame = store.metrics(rule.metric, since=result.since, until=result.until, host=first.host)
        frame = frame[frame["series_id"] == first.series_id]
    except ValueError:
        return summary, empty_figure("No samples to draw")
    if frame.empty:
        return summary, empty_figure("No samples to draw")
    figure, _ = line_figure(frame, "mean", result.since, result.until, "", rule.metric)
    add_rule_thresholds(figure, rule.operator, rule.threshold, rule.threshold2)
    shade_spans(figure, [(e.started_at, e.ended_at or result.until) for e in first.episodes], "would fire")
    figure.update_layout(yaxis={"range": None, "rangemode": "normal"})
    return summary, figure
