"""Cache: a Redis target's health, its keys, and the controls that act on it.

``/cache?target=NAME&db=N&pattern=GLOB&type=TYPE`` reproduces a view. The pieces, each with its
callbacks: ``overview`` (status, KPIs, live charts, slow log), ``browser`` (SCAN key browser and
value viewer), ``summary`` (keyspace summary job), ``clear`` (clear by pattern / tag, flush),
``policy`` (maxmemory and eviction rules) and ``history``. Every control calls
``tasks.actions.cache``, which checks the role on the server and audits; viewers see the controls
disabled with the reason.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, dcc, html

from dashboard.components.live_chart import live_chart
from dashboard.pages.cache import browser, clear, history, ids, overview, policy, rules, summary
from dashboard.pages.cache.common import target_names

__all__ = ["NAME", "ORDER", "PATH", "layout", "register_callbacks"]

PATH = "/cache"
NAME = "Cache"
ORDER = 40

_SECTIONS = (
    ("Overview", "#cache-slowlog"),
    ("Keys", "#cache-keys"),
    ("Summary", "#cache-summary"),
    ("Clear", "#cache-clear"),
    ("Memory policy", "#cache-policy"),
    ("History", "#cache-history"),
)


def _int(text: str | None, default: int = 0) -> int:
    try:
        value = int(str(text))
    except (TypeError, ValueError):
        return default
    return value if 0 <= value <= 1023 else default


def layout(**query: str) -> html.Div:
    names = target_names()
    target = query.get("target") if query.get("target") in names else (names[0] if names else None)
    db = _int(query.get("db"))
    header = html.Div(
        [
            html.H1("Cache", className="page-title me-auto"),
            html.Div(
                dcc.Dropdown(
                    id=ids.TARGET,
                    options=[{"label": name, "value": name} for name in names],
                    value=target,
                    clearable=False,
                    placeholder="no Redis configured",
                ),
                style={"minWidth": "260px"},
            ),
            dbc.InputGroup(
                [
                    dbc.InputGroupText("db"),
                    dbc.Input(id=ids.DB, type="number", min=0, max=1023, step=1, value=db),
                ],
                size="sm",
                style={"width": "130px"},
            ),
        ],
        className="d-flex align-items-center gap-2 mb-2",
    )
    unknown = (
        dbc.Alert(
            f"Unknown Redis target {query['target']!r}; showing {target}.", color="warning", className="py-2"
        )
        if query.get("target") and query.get("target") not in names
        else None
    )
    nav = html.Div(
        [html.A(label, href=anchor, className="me-3 small") for label, anchor in _SECTIONS], className="mb-2"
    )
    body: list[Any] = [overview.overview_section(target)]
    if target:
        body += [
            browser.browser_section(query.get("pattern") or "*", query.get("type") or ""),
            summary.summary_section(target, db),
            clear.clear_section(target, db),
            policy.policy_section(target),
            history.history_section(target),
        ]
    return html.Div(
        [dcc.Location(id=ids.URL, refresh=False), header, unknown, nav, *body], className="cache-page"
    )


def register_callbacks(app: Dash) -> None:
    overview.register_callbacks(app)
    browser.register_callbacks(app)
    summary.register_callbacks(app)
    clear.register_callbacks(app)
    policy.register_callbacks(app)
    rules.register_callbacks(app)
    history.register_callbacks(app)
    app.callback(
        Output(ids.CHARTS, "children"),
        Input(ids.TARGET, "value"),
        prevent_initial_call=True,
    )(rebuild_charts)
    app.callback(
        Output(ids.URL, "search"),
        Input(ids.TARGET, "value"),
        Input(ids.DB, "value"),
        Input(ids.BROWSE_STATE, "data"),
        State(ids.URL, "search"),
        prevent_initial_call=True,
    )(sync_url)


def rebuild_charts(target: str | None) -> list[dbc.Col]:
    specs = overview.chart_specs(target) if target else []
    return [dbc.Col(live_chart(spec), lg=6, xxl=4, className="mb-3") for spec in specs]


def sync_url(target: str | None, db: int | None, browse: dict[str, Any] | None, _search: str | None) -> str:
    """Keep the view's choices in the address, so a link reproduces it."""
    query: dict[str, Any] = {"target": target or ""}
    if isinstance(db, int) and db:
        query["db"] = db
    if browse:
        if browse.get("pattern") not in (None, "", "*"):
            query["pattern"] = browse["pattern"]
        if browse.get("type"):
            query["type"] = browse["type"]
    return "?" + urlencode(query)
