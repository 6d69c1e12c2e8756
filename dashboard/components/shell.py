"""The frame around every page: navigation, global time range, refresh interval with pause."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update
from flask_login import current_user

from dashboard import ids
from dashboard.timerange import DEFAULT_RANGE, TIME_RANGES, zoom_from_relayout
from storage.timeparse import format_utc

__all__ = ["REFRESH_CHOICES", "register_shell_callbacks", "shell_layout"]

REFRESH_CHOICES = {"5000": "Every 5 s", "10000": "Every 10 s", "30000": "Every 30 s", "60000": "Every minute"}
DEFAULT_REFRESH_MS = "5000"


def _nav_links() -> list[dbc.NavItem]:
    pages = sorted(dash.page_registry.values(), key=lambda page: page["order"])
    return [
        dbc.NavItem(dbc.NavLink(page["name"], href=page["relative_path"], active="exact")) for page in pages
    ]


def _configured_default(key: str, fallback: str) -> str:
    """A new session's starting value from the Settings page's configuration (else ``fallback``)."""
    from dashboard.services import services

    try:
        found = services()
        return str(found.store.config.value(key=key, settings=found.settings))
    except Exception:  # outside a request (layout validation) or the store is down
        return fallback


def _default_refresh_ms() -> str:
    seconds = _configured_default("dashboard.default_refresh_seconds", "")
    chosen = f"{int(seconds) * 1000}" if seconds.isdigit() else DEFAULT_REFRESH_MS
    return chosen if chosen in REFRESH_CHOICES else DEFAULT_REFRESH_MS


def _controls() -> html.Div:
    return html.Div(
        [
            dbc.Select(
                id=ids.TIME_RANGE,
                options=[{"label": label, "value": key} for key, label in TIME_RANGES.items()],
                value=_configured_default("dashboard.default_time_range", DEFAULT_RANGE),
                size="sm",
                persistence=True,
                persistence_type="local",
            ),
            dbc.Select(
                id=ids.REFRESH_CHOICE,
                options=[{"label": label, "value": key} for key, label in REFRESH_CHOICES.items()],
                value=_default_refresh_ms(),
                size="sm",
                persistence=True,
                persistence_type="local",
            ),
            dbc.Button("Pause", id=ids.PAUSE_BUTTON, size="sm", color="light", outline=True, n_clicks=0),
            html.Span(
                [
                    html.Span(id=ids.ZOOM_BADGE, className="small text-light"),
                    dbc.Button(
                        "Zoom out",
                        id=ids.ZOOM_BACK,
                        size="sm",
                        color="warning",
                        n_clicks=0,
                        title="Back to the window before the last drag-zoom",
                    ),
                ],
                id=f"{ids.ZOOM_BADGE}-box",
                className="d-none align-items-center gap-2",
            ),
        ],
        className="vitals-controls d-flex flex-wrap gap-2 align-items-center my-2 my-xl-0",
    )


def _user_menu() -> dbc.DropdownMenu:
    who = f"{current_user.username} · {current_user.role}" if current_user.is_authenticated else "?"
    return dbc.DropdownMenu(
        [dbc.DropdownMenuItem("Sign out", href="/logout", external_link=True)],
        label=who,
        nav=True,
        align_end=True,
        id="user-menu",
    )


def shell_layout() -> html.Div:
    """Built per request, so the user menu shows who is signed in."""
    navbar = dbc.Navbar(
        dbc.Container(
            [
                dbc.NavbarBrand("Vitals", href="/"),
                dbc.NavbarToggler(id=ids.NAV_TOGGLER, n_clicks=0),
                dbc.Collapse(
                    [
                        dbc.Nav(_nav_links(), navbar=True, className="me-auto"),
                        _controls(),
                        dbc.Nav([_user_menu()], navbar=True, className="ms-xl-2"),
                    ],
                    id=ids.NAV_COLLAPSE,
                    navbar=True,
                    is_open=False,
                ),
            ],
            fluid=True,
        ),
        color="dark",
        dark=True,
        expand="xl",  # below ~1200 px the sections fold behind the toggler instead of overlapping
        className="mb-2",
    )
    custom_range = html.Div(
        dcc.DatePickerRange(id=ids.CUSTOM_RANGE, display_format="YYYY-MM-DD", clearable=True),
        id=ids.CUSTOM_RANGE_WRAPPER,
        className="container-fluid mb-2",
        style={"display": "none"},
    )
    return html.Div(
        [
            navbar,
            custom_range,
            dcc.Interval(id=ids.REFRESH_INTERVAL, interval=int(DEFAULT_REFRESH_MS)),
            dcc.Store(id=ids.ZOOM_RANGE, data=[]),
            dbc.Container(dash.page_container, fluid=True, className="pb-4"),
        ]
    )


def register_shell_callbacks(app: Dash) -> None:
    @app.callback(
        Output(ids.REFRESH_INTERVAL, "interval"),
        Output(ids.REFRESH_INTERVAL, "disabled"),
        Output(ids.PAUSE_BUTTON, "children"),
        Input(ids.REFRESH_CHOICE, "value"),
        Input(ids.PAUSE_BUTTON, "n_clicks"),
    )
    def _refresh(choice: str | None, pauses: int | None) -> tuple[int, bool, str]:
        paused = bool(pauses and pauses % 2)
        interval = int(choice) if choice in REFRESH_CHOICES else int(DEFAULT_REFRESH_MS)
        return interval, paused, "Resume" if paused else "Pause"

    @app.callback(
        Output(ids.NAV_COLLAPSE, "is_open"),
        Input(ids.NAV_TOGGLER, "n_clicks"),
        State(ids.NAV_COLLAPSE, "is_open"),
        prevent_initial_call=True,
    )
    def _toggle_nav(_clicks: int, is_open: bool) -> bool:
        return not is_open

    app.callback(
        Output(ids.ZOOM_RANGE, "data"),
        Input({"type": ids.LIVE_CHART, "chart": ALL}, "relayoutData"),
        Input(ids.ZOOM_BACK, "n_clicks"),
        Input(ids.TIME_RANGE, "value"),
        State(ids.ZOOM_RANGE, "data"),
        prevent_initial_call=True,
    )(track_zoom)
    app.callback(
        Output(ids.ZOOM_BADGE, "children"),
        Output(f"{ids.ZOOM_BADGE}-box", "className"),
        Input(ids.ZOOM_RANGE, "data"),
    )(show_zoom)

    @app.callback(Output(ids.CUSTOM_RANGE_WRAPPER, "style"), Input(ids.TIME_RANGE, "value"))
    def _show_custom(choice: str | None) -> dict[str, Any]:
        return {} if choice == "custom" else {"display": "none"}


def track_zoom(
    _relayouts: list[dict[str, Any] | None],
    _back: int | None,
    _choice: str | None,
    stack: list[dict[str, str]] | None,
) -> Any:
    """A drag-zoom on any chart becomes the window of every chart (as in Grafana); "Zoom out" goes back
    one step, a double-click or a new range choice ends the zoom."""
    stack = list(stack or [])
    trigger = ctx.triggered_id
    if trigger == ids.TIME_RANGE:
        return [] if stack else no_update
    if trigger == ids.ZOOM_BACK:
        return stack[:-1] if stack else no_update
    event = zoom_from_relayout(ctx.triggered[0]["value"] if ctx.triggered else None)
    if event is None:
        return no_update
    if event is False:
        return [] if stack else no_update
    return [*stack, event]


def show_zoom(stack: list[dict[str, str]] | None) -> tuple[str, str]:
    hidden = "d-none align-items-center gap-2"
    if not stack:
        return "", hidden
    newest = stack[-1]
    text = f"Zoomed: {format_utc(_parse(newest['since']))} to {format_utc(_parse(newest['until']))}"
    return text, "d-flex align-items-center gap-2"


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)
