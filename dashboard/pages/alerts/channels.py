"""Notification channels: create (a webhook's signing secret is shown once), send a test, enable or
disable, delete, and the delivery log (status code, response excerpt, attempt)."""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update

from dashboard.pages.alerts import names
from dashboard.pages.alerts.common import allowed, fmt_time, inline, role_hint
from dashboard.services import current_actor, services
from storage import alerts as alertstore
from storage.users import Role
from tasks.actions import PermissionDenied
from tasks.actions import alerts as actions
from tasks.alerting.model import RuleInvalid
from tasks.alerts_jobs import base_url

__all__ = ["channels_section", "register_callbacks"]

F = names.CHANNEL_FIELDS
_LABELS = {
    "name": "Name",
    "kind": "Kind",
    "url": "URL (webhook, Slack incoming webhook, or Apprise URL)",
    "host": "SMTP host",
    "port": "SMTP port",
    "sender": "From",
    "to": "To (comma separated)",
    "username": "SMTP user",
    "password": "SMTP password",
}
_KINDS = ("webhook", "slack", "email", "apprise")
_DELIVERY_COLUMNS = [
    {"field": "ts", "headerName": "When", "width": 190},
    {"field": "channel", "flex": 1},
    {"field": "event", "width": 100},
    {"field": "attempt", "width": 90},
    {"field": "status", "width": 90},
    {"field": "status_code", "headerName": "Code", "width": 90},
    {"field": "response", "flex": 2},
]


def _input(field: str, editable: bool) -> Any:
    element_id = names.channel_field(field)
    if field == "kind":
        return dcc.Dropdown(
            id=element_id,
            options=[{"label": k, "value": k} for k in _KINDS],
            value="webhook",
            clearable=False,
            disabled=not editable,
        )
    kind = "password" if field == "password" else "text"
    return dbc.Input(id=element_id, value="", type=kind, size="sm", maxLength=1000, disabled=not editable)


def channels_section() -> html.Div:
    admin = allowed(Role.ADMIN)
    form = dbc.Row(
        [
            dbc.Col(
                [
                    dbc.Label(_LABELS[f], html_for=names.channel_field(f), className="small mb-0"),
                    _input(f, admin),
                    html.Div(id=names.channel_error(f), className="text-danger small field-error"),
                ],
                md=6 if f == "url" else 3,
                className="mb-2",
            )
            for f in F
        ],
        className="g-2",
    )
    return html.Div(
        [
            html.H5("New channel"),
            form,
            html.Div(
                [
                    dbc.Button(
                        "Create channel",
                        id=names.CHANNEL_CREATE,
                        color="primary",
                        size="sm",
                        n_clicks=0,
                        disabled=not admin,
                    ),
                    role_hint(Role.ADMIN),
                ],
                className="d-flex gap-2 align-items-center mb-2",
            ),
            html.Div(id=names.CHANNEL_MESSAGE),
            html.H5("Channels", className="mt-3"),
            html.Div(id=names.CHANNEL_ACTION_MESSAGE),
            html.Div(id=names.CHANNELS_TABLE, children=_channels_table()),
            html.H5("Delivery log", className="mt-3"),
            dag.AgGrid(
                id=names.DELIVERIES_GRID,
                columnDefs=_DELIVERY_COLUMNS,
                rowData=_deliveries(),
                defaultColDef={"sortable": True, "resizable": True, "filter": True},
                dashGridOptions={
                    "domLayout": "autoHeight",
                    "pagination": True,
                    "paginationPageSize": 15,
                    "paginationPageSizeSelector": False,
                },
                className="ag-theme-alpine",
                style={"width": "100%"},
            ),
        ]
    )


def register_callbacks(app: Dash) -> None:
    app.callback(
        [Output(names.channel_error(f), "children") for f in F]
        + [
            Output(names.CHANNEL_MESSAGE, "children"),
            Output(names.CHANNELS_TABLE, "children", allow_duplicate=True),
        ],
        Input(names.CHANNEL_CREATE, "n_clicks"),
        [State(names.channel_field(f), "value") for f in F],
        prevent_initial_call=True,
    )(create)
    app.callback(
        Output(names.CHANNEL_ACTION_MESSAGE, "children"),
        Output(names.CHANNELS_TABLE, "children"),
        Output(names.DELIVERIES_GRID, "rowData"),
        Input({"type": names.CHANNEL_TEST, "id": ALL}, "n_clicks"),
        Input({"type": names.CHANNEL_TOGGLE, "id": ALL}, "n_clicks"),
        Input({"type": names.CHANNEL_DELETE, "id": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )(channel_action)


def create(_clicks: int, *values: Any) -> list[Any]:
    form = dict(zip(F, values, strict=True))
    errors = {f: "" for f in F}
    found = services()
    try:
        created = actions.create_channel(found.store, found.settings, current_actor(), form)
    except RuleInvalid as exc:
        errors.update({k: v for k, v in exc.errors.items() if k in errors})
        return [*errors.values(), inline("Not created: correct the fields marked in red."), no_update]
    except PermissionDenied as exc:
        return [*errors.values(), inline(f"Not allowed: {exc}."), no_update]
    if created.signing_secret:
        shown = html.Div(
            [
                html.P(
                    "Channel created. Its signing secret is shown only now: copy it to the receiver.",
                    className="mb-1",
                ),
                html.Code(created.signing_secret, id="alerts-channel-secret"),
                html.P(
                    "Receivers check X-Vitals-Signature = sha256=HMAC-SHA256(secret, X-Vitals-Timestamp + '.' + body) "
                    "and reject old timestamps.",
                    className="small mb-0 mt-1",
                ),
            ]
        )
        message = dbc.Alert(shown, color="success", className="py-2 mb-2")
    else:
        message = inline("Channel created.", "success")
    return [*errors.values(), message, _channels_table()]


def channel_action(
    tests: list[int | None], toggles: list[int | None], deletes: list[int | None]
) -> tuple[Any, Any, Any]:
    trigger = ctx.triggered_id
    if not isinstance(trigger, dict) or not any((*tests, *toggles, *deletes)):
        return no_update, no_update, no_update
    found, actor, channel_id = services(), current_actor(), int(trigger["id"])
    try:
        if trigger["type"] == names.CHANNEL_TEST:
            result = actions.test_channel(
                found.store, found.settings, actor, channel_id, base_url(found.settings)
            )
            code = f" (HTTP {result.status_code})" if result.status_code else ""
            words = f"Test sent{code}." if result.ok else f"Test failed{code}: {result.response[:200]}"
            message = inline(words, "success" if result.ok else "danger")
        elif trigger["type"] == names.CHANNEL_TOGGLE:
            enabled = actions.toggle_channel(found.store, actor, channel_id)
            message = inline(f"Channel {'enabled' if enabled else 'disabled'}.", "success")
        else:
            actions.delete_channel(found.store, actor, channel_id)
            message = inline("Channel deleted.", "success")
    except PermissionDenied as exc:
        return inline(f"Not allowed: {exc}."), no_update, no_update
    except LookupError as exc:
        message = inline(str(exc).split(": ", 1)[-1], "warning")
    return message, _channels_table(), _deliveries()


def _channels_table() -> Any:
    try:
        found = alertstore.list_channels(services().store.engine)
        failing = set(services().store.alerts.failing_channels(since="24h")["name"])
    except Exception as exc:
        return inline(f"Could not read channels: {exc}", "warning")
    if not found:
        return html.P("No channels yet: rules notify nobody.", className="text-secondary")
    admin, operator = allowed(Role.ADMIN), allowed(Role.OPERATOR)
    body = []
    for c in found:
        target = c["config"].get("url") or ", ".join(c["config"].get("to") or []) or (c["secret_hint"] or "")
        status = "failing" if c["name"] in failing else ("enabled" if c["enabled"] else "disabled")
        body.append(
            html.Tr(
                [
                    html.Td(c["name"]),
                    html.Td(c["kind"]),
                    html.Td(target),
                    html.Td(c["secret_hint"] or ""),
                    html.Td(
                        dbc.Badge(
                            status, color={"failing": "danger", "enabled": "success"}.get(status, "secondary")
                        )
                    ),
                    html.Td(
                        html.Div(
                            [
                                dbc.Button(
                                    "Send test",
                                    id={"type": names.CHANNEL_TEST, "id": c["id"]},
                                    size="sm",
                                    n_clicks=0,
                                    disabled=not operator,
                                ),
                                dbc.Button(
                                    "Disable" if c["enabled"] else "Enable",
                                    id={"type": names.CHANNEL_TOGGLE, "id": c["id"]},
                                    size="sm",
                                    color="secondary",
                                    n_clicks=0,
                                    disabled=not admin,
                                ),
                                dbc.Button(
                                    "Delete",
                                    id={"type": names.CHANNEL_DELETE, "id": c["id"]},
                                    size="sm",
                                    color="danger",
                                    outline=True,
                                    n_clicks=0,
                                    disabled=not admin,
                                ),
                            ],
                            className="d-flex gap-1",
                        )
                    ),
                ]
            )
        )
    return dbc.Table(
        [
            html.Thead(html.Tr([html.Th(h) for h in ("Name", "Kind", "Target", "Secret", "Status", "")])),
            html.Tbody(body),
        ],
        size="sm",
        striped=True,
    )


def _deliveries() -> list[dict[str, Any]]:
    try:
        frame = services().store.alerts.deliveries(since="7d", limit=500)
    except Exception:
        return []
    return [
        {
            "ts": fmt_time(r["ts"]),
            "channel": r["channel"],
            "event": r["event"] or "",
            "attempt": int(r["attempt"]),
            "status": r["status"],
            "status_code": None if r["status_code"] != r["status_code"] else r["status_code"],
            "response": (r["response"] or "")[:300],
        }
        for r in frame.to_dict("records")
    ]
