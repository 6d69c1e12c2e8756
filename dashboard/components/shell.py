"""The frame around every page: navigation, global time range, refresh interval with pause."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import dash
import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update
from flask_login import current_user

from dashboard import ids
from dashboard.timerange import (
    CUSTOM_TIME_HINT,
    DEFAULT_RANGE,
    TIME_RANGES,
    TIME_ZONE_CHOICES,
    custom_range_utc,
    format_in_zone,
    valid_zone,
    zoom_from_relayout,
)

__all__ = ["REFRESH_CHOICES", "register_shell_callbacks", "shell_layout"]

# The browser's own zone and the per-browser choice, decided in the browser (only it knows its zone).
# The choice is kept in local storage: the select follows the stored value on load, the store follows
# the select when it changes; the display zone is told to the charts only when it really changed.
_TIME_ZONE_JS = """
function (choice, stored, shown) {
    var triggered = (dash_clientside.callback_context.triggered || []).map(function (t) { return t.prop_id; });
    var setting = triggered.indexOf("time-zone-choice.value") >= 0 ? choice : (stored || choice);
    if (setting !== "utc") { setting = "browser"; }
    var zone = "UTC";
    if (setting === "browser") {
        try { zone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC"; } catch (e) { zone = "UTC"; }
    }
    return [setting, setting, zone === shown ? dash_clientside.no_update : zone];
}
"""

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
            dbc.Select(
                id=ids.TIME_ZONE_CHOICE,
                options=[{"label": label, "value": key} for key, label in TIME_ZONE_CHOICES.items()],
                value="browser",
                size="sm",
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
    return html.Div(
        [
            navbar,
            _custom_range(),
            dcc.Interval(id=ids.REFRESH_INTERVAL, interval=int(DEFAULT_REFRESH_MS)),
            dcc.Store(id=ids.ZOOM_RANGE, data=[]),
            dcc.Store(id=ids.TIME_ZONE_SETTING, storage_type="local"),
            dcc.Store(id=ids.DISPLAY_TZ, data="UTC"),
            dbc.Container(dash.page_container, fluid=True, className="pb-4"),
        ]
    )


def _custom_range() -> html.Div:
    """From/To fields that take a time of day in the display zone. The applied range lives in a hidden
    date-range component (``ids.CUSTOM_RANGE``), as UTC ISO times: every page reads its
    ``start_date``/``end_date``, so they all get the times of day without a change of their own."""
    field = {"size": "sm", "debounce": False, "style": {"width": "11rem"}, "placeholder": "2026-12-01 14:00"}
    return html.Div(
        [
            html.Div(
                [
                    dbc.Label("From", html_for=ids.CUSTOM_FROM, className="small mb-0"),
                    dbc.Input(id=ids.CUSTOM_FROM, **field),
                    dbc.Label("To", html_for=ids.CUSTOM_TO, className="small mb-0"),
                    dbc.Input(id=ids.CUSTOM_TO, **field),
                    html.Span(id=ids.CUSTOM_ZONE, className="small text-secondary"),
                    dbc.Button("Apply", id=ids.CUSTOM_APPLY, size="sm", color="primary", n_clicks=0),
                    html.Span(id=ids.CUSTOM_FEEDBACK, className="small text-danger"),
                ],
                className="d-flex flex-wrap gap-2 align-items-center",
            ),
            html.Div(
                dcc.DatePickerRange(id=ids.CUSTOM_RANGE, display_format="YYYY-MM-DD"),
                style={"display": "none"},
            ),
        ],
        id=ids.CUSTOM_RANGE_WRAPPER,
        className="container-fluid mb-2",
        style={"display": "none"},
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
        State(ids.DISPLAY_TZ, "data"),
        prevent_initial_call=True,
    )(track_zoom)
    app.callback(
        Output(ids.ZOOM_BADGE, "children"),
        Output(f"{ids.ZOOM_BADGE}-box", "className"),
        Input(ids.ZOOM_RANGE, "data"),
        Input(ids.DISPLAY_TZ, "data"),
    )(show_zoom)
    # In the browser: only it knows its zone, and the choice is kept in its local storage.
    app.clientside_callback(
        _TIME_ZONE_JS,
        Output(ids.TIME_ZONE_CHOICE, "value"),
        Output(ids.TIME_ZONE_SETTING, "data"),
        Output(ids.DISPLAY_TZ, "data"),
        Input(ids.TIME_ZONE_CHOICE, "value"),
        Input(ids.TIME_ZONE_SETTING, "data"),
        State(ids.DISPLAY_TZ, "data"),
    )
    app.callback(
        Output(ids.CUSTOM_RANGE, "start_date"),
        Output(ids.CUSTOM_RANGE, "end_date"),
        Output(ids.CUSTOM_FEEDBACK, "children"),
        Input(ids.CUSTOM_APPLY, "n_clicks"),
        Input(ids.CUSTOM_FROM, "n_submit"),
        Input(ids.CUSTOM_TO, "n_submit"),
        State(ids.CUSTOM_FROM, "value"),
        State(ids.CUSTOM_TO, "value"),
        State(ids.DISPLAY_TZ, "data"),
        prevent_initial_call=True,
    )(apply_custom_range)
    app.callback(
        Output(ids.CUSTOM_FROM, "value"),
        Output(ids.CUSTOM_TO, "value"),
        Output(ids.CUSTOM_ZONE, "children"),
        Input(ids.DISPLAY_TZ, "data"),
        Input(ids.TIME_RANGE, "value"),
        State(ids.CUSTOM_RANGE, "start_date"),
        State(ids.CUSTOM_RANGE, "end_date"),
        State(ids.CUSTOM_FROM, "value"),
        State(ids.CUSTOM_TO, "value"),
    )(show_custom_fields)

    @app.callback(Output(ids.CUSTOM_RANGE_WRAPPER, "style"), Input(ids.TIME_RANGE, "value"))
    def _show_custom(choice: str | None) -> dict[str, Any]:
        return {} if choice == "custom" else {"display": "none"}


def track_zoom(
    _relayouts: list[dict[str, Any] | None],
    _back: int | None,
    _choice: str | None,
    stack: list[dict[str, str]] | None,
    tz: str | None = None,
) -> Any:
    """A drag-zoom on any chart becomes the window of every chart (as in Grafana); "Zoom out" goes back
    one step, a double-click or a new range choice ends the zoom."""
    stack = list(stack or [])
    trigger = ctx.triggered_id
    if trigger == ids.TIME_RANGE:
        return [] if stack else no_update
    if trigger == ids.ZOOM_BACK:
        return stack[:-1] if stack else no_update
    event = zoom_from_relayout(ctx.triggered[0]["value"] if ctx.triggered else None, valid_zone(tz))
    if event is None:
        return no_update
    if event is False:
        return [] if stack else no_update
    return [*stack, event]


def show_zoom(stack: list[dict[str, str]] | None, tz: str | None = None) -> tuple[str, str]:
    hidden = "d-none align-items-center gap-2"
    if not stack:
        return "", hidden
    newest = stack[-1]
    since, until = _parse(newest["since"]), _parse(newest["until"])
    text = f"Zoomed: {format_in_zone(since, tz)} to {format_in_zone(until, tz)}"
    return text, "d-flex align-items-center gap-2"


def apply_custom_range(
    _clicks: int | None,
    _from_submits: int | None,
    _to_submits: int | None,
    start: str | None,
    end: str | None,
    tz: str | None,
) -> tuple[Any, Any, str]:
    """The typed range, read in the display zone, as the shell's UTC range; a mistake is answered
    next to the fields, which keep what was typed, and the range drawn stays as it was."""
    try:
        since, until = custom_range_utc(start, end, valid_zone(tz))
    except ValueError as exc:
        return no_update, no_update, str(exc)
    return since, until, ""


def show_custom_fields(
    tz: str | None,
    choice: str | None,
    start: str | None,
    end: str | None,
    typed_from: str | None,
    typed_to: str | None,
) -> tuple[Any, Any, str]:
    """The zone the fields are read in. A new zone shows the applied range again in that zone;
    choosing "Custom…" with empty fields starts them at the last hour, to edit rather than type."""
    zone = valid_zone(tz)
    label = f"in {zone} · {CUSTOM_TIME_HINT}"
    if start and end and ctx.triggered_id == ids.DISPLAY_TZ:
        return _field_text(_parse(start), zone), _field_text(_parse(end), zone), label
    if choice == "custom" and not (typed_from or typed_to):
        now = datetime.now(UTC)
        return _field_text(now - timedelta(hours=1), zone), _field_text(now, zone), label
    return no_update, no_update, label


def _field_text(moment: datetime, zone: str) -> str:
    return format_in_zone(moment, zone, seconds=False).rsplit(" ", 1)[0]


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))
