"""Alerts: the alert center, the rule editor (with live preview and backtest), silences and
notification channels.

``/alerts?tab=rules`` opens a tab; the alert center keeps its filters in the address
(``state``, ``severity``, ``category``, ``host``, ``rule``) and ``alert=ID`` opens one alert, which
is where notifications link to. Every control calls ``tasks.actions.alerts``, which checks the role
on the server and audits: admins edit rules and channels, operators acknowledge, resolve and
silence, viewers read (their controls are disabled with the reason).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, dcc, html

from dashboard import ids
from dashboard.components.channel_health import channel_health
from dashboard.pages.alerts import center, channels, names, rules, silences

__all__ = ["NAME", "ORDER", "PATH", "layout", "register_callbacks"]

PATH = "/alerts"
NAME = "Alerts"
ORDER = 70

URL = "alerts-url"
_TABS = (("center", "Alert center"), ("rules", "Rules"), ("silences", "Silences"), ("channels", "Channels"))


def layout(**query: str) -> html.Div:
    tab = query.get("tab") if query.get("tab") in dict(_TABS) else "center"
    bodies = {
        "center": center.center_section(query),
        "rules": rules.rules_section(),
        "silences": silences.silences_section(),
        "channels": channels.channels_section(),
    }
    return html.Div(
        [
            dcc.Location(id=URL, refresh=False),
            html.H1("Alerts", className="page-title"),
            html.Div(channel_health(element_id=names.CHANNEL_HEALTH), id=names.CHANNEL_HEALTH_BOX),
            dbc.Tabs(
                [dbc.Tab(bodies[key], label=label, tab_id=key, className="pt-3") for key, label in _TABS],
                id=names.TABS,
                active_tab=tab,
            ),
        ],
        className="alerts-page",
    )


def register_callbacks(app: Dash) -> None:
    center.register_callbacks(app)
    rules.register_callbacks(app)
    silences.register_callbacks(app)
    channels.register_callbacks(app)
    app.callback(
        Output(names.CHANNEL_HEALTH_BOX, "children"),
        Input(ids.REFRESH_INTERVAL, "n_intervals"),
        prevent_initial_call=True,
    )(refresh_channel_health)
    app.callback(
        Output(URL, "search"),
        Input(names.TABS, "active_tab"),
        Input(names.FILTER_STATE, "value"),
        Input(names.FILTER_SEVERITY, "value"),
        Input(names.FILTER_CATEGORY, "value"),
        Input(names.FILTER_HOST, "value"),
        Input(names.FILTER_RULE, "value"),
        Input(names.SELECTED, "data"),
        State(URL, "search"),
        prevent_initial_call=True,
    )(sync_url)


def refresh_channel_health(_ticks: int) -> Any:
    return channel_health(element_id=names.CHANNEL_HEALTH)


def sync_url(
    tab: str | None,
    state: str | None,
    severity: str | None,
    category: str | None,
    host: str | None,
    rule_id: int | None,
    alert_id: int | None,
    _search: str | None,
) -> str:
    """Keep the tab, the filters and the open alert in the address, so a link reproduces the view."""
    query: dict[str, Any] = {}
    if tab and tab != "center":
        query["tab"] = tab
    for key, value in (
        ("state", state if state != "open" else None),
        ("severity", severity),
        ("category", category),
        ("host", host),
        ("rule", rule_id),
        ("alert", alert_id),
    ):
        if value not in (None, ""):
            query[key] = value
    return "?" + urlencode(query) if query else ""
