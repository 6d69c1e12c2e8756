"""Target picker (the choice lives in the URL), the target's status and the KPI row."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, dcc, html, no_update

from dashboard import ids
from dashboard.components.cards import could_not_load, kpi_card
from dashboard.database_reads import kpis
from dashboard.pages.database import names
from dashboard.pages.database.common import duration, number
from dashboard.services import live_settings, services

__all__ = ["header", "kpi_row", "pick_target", "register_header_callbacks", "target_status"]

_REASON_WORDS = {
    "unreachable": "unreachable",
    "access_denied": "access denied",
    "unknown_database": "unknown database",
    "no_performance_schema": "performance_schema is off",
    "no_digest_access": "no access to performance_schema",
    "error": "error",
}


def header(targets: list[str], target: str | None) -> html.Div:
    picker = dcc.Dropdown(
        id=names.TARGET_PICKER,
        options=[{"label": name, "value": name} for name in targets],
        value=target,
        clearable=False,
        placeholder="Choose a MySQL/MariaDB target",
        style={"minWidth": "260px"},
    )
    return html.Div(
        [
            html.H1("Database", className="page-title me-auto"),
            html.Label("Target", htmlFor=names.TARGET_PICKER, className="small text-secondary"),
            picker,
            dcc.Location(id=names.LOCATION, refresh="callback-nav"),
            dcc.Store(id=names.TARGET, data=target),
        ],
        className="d-flex align-items-center gap-2 mb-2",
    )


def pick_target(value: str | None, search: str | None) -> Any:
    """The picked target becomes ``?target=...`` in the URL, so a link reproduces the view."""
    if not value:
        return no_update
    wanted = "?" + urlencode({"target": value})
    return no_update if search == wanted else wanted


def target_status(target: str | None, _tick: int | None) -> Any:
    """Up, or which part is missing and why, in the collector's own words."""
    if not target:
        return dbc.Alert("No MySQL/MariaDB target is configured (VITALS_MYSQL_URLS).", color="secondary")
    try:
        found = kpis(services().store, live_settings(), target)
    except Exception as exc:  # the store itself is down
        return could_not_load("the target's status", exc)
    if found is None:
        return dbc.Alert(
            f"Unknown target {target!r}: it is not among the configured MySQL servers.", color="warning"
        )
    if not found.up:
        words = _REASON_WORDS.get(found.reason, found.reason)
        return dbc.Alert(
            [html.Strong(f"{target} is {words}. "), html.Span(found.message)],
            color="danger",
            className="py-2 database-down",
        )
    if found.reason != "ok":
        words = _REASON_WORDS.get(found.reason, found.reason)
        return dbc.Alert(
            [html.Strong(f"{target}: {words}. "), html.Span(found.message)], color="warning", className="py-2"
        )
    return html.Div(found.message, className="small text-secondary mb-2")


def kpi_row(target: str | None, _tick: int | None) -> Any:
    if not target:
        return None
    try:
        found = kpis(services().store, live_settings(), target)
    except Exception as exc:
        return could_not_load("the KPIs", exc)
    if found is None:
        return None
    values = found.values
    connections = (
        f"{number(values['threads_connected'])} / {number(found.max_connections)}"
        if values["threads_connected"] is not None
        else "no data"
    )
    if found.replica is False:
        lag = "not a replica"
    else:
        lag = number(values["replication_lag_seconds"], 0, " s") if found.replica else "no data"
    cards = [
        ("Status", "up" if found.up else "down", found.reason.replace("_", " ") if not found.up else ""),
        ("Version", found.version or "no data", ""),
        ("Uptime", duration(found.uptime_s), ""),
        ("Connections", connections, number(values["connections_percent"], 1, " %") + " of max"),
        ("QPS", number(values["qps"]), "queries per second"),
        ("TPS", number(values["tps"]), "commits + rollbacks"),
        ("Threads running", number(values["threads_running"]), ""),
        ("Slow queries", number(values["slow_per_minute"]), "per minute"),
        ("Buffer pool hit", number(values["buffer_pool_hit_percent"], 2, " %"), ""),
        ("Replication lag", lag, ""),
    ]
    return dbc.Row(
        [
            dbc.Col(
                kpi_card(
                    label,
                    value,
                    detail,
                    stale=value == "no data",
                    card_id=f"database-kpi-{label.lower().replace(' ', '-')}",
                ),
                xs=6,
                md=4,
                xl=2,
                className="mb-2",
            )
            for label, value, detail in cards
        ],
        className="g-2 mb-2",
    )


def register_header_callbacks(app: Dash) -> None:
    app.callback(
        Output(names.LOCATION, "search"),
        Input(names.TARGET_PICKER, "value"),
        State(names.LOCATION, "search"),
        prevent_initial_call=True,
    )(pick_target)
    app.callback(
        Output(names.STATUS, "children"),
        Input(names.TARGET, "data"),
        Input(ids.REFRESH_INTERVAL, "n_intervals"),
    )(target_status)
    app.callback(
        Output(names.KPIS, "children"),
        Input(names.TARGET, "data"),
        Input(ids.REFRESH_INTERVAL, "n_intervals"),
    )(kpi_row)
