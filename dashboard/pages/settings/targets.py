"""Monitored targets (admin): the list with "connect now" (the collector's own verdict), add, edit,
pause and remove; and, on a machine with nothing watched yet, the local services found on their
default ports, each watched with one click. URLs are only ever shown masked."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, MATCH, Dash, Input, Output, State, ctx, dcc, html, no_update
from dash.development.base_component import Component
from dash.exceptions import PreventUpdate

from dashboard.pages.settings import ids
from dashboard.pages.settings.common import ADMIN_ONLY, card, is_admin, message
from dashboard.services import current_actor, services
from storage.config import TARGET_KINDS, ConfigError, Target
from tasks.actions import PermissionDenied
from tasks.actions.config import (
    ProbeResult,
    add_target,
    discover_local_services,
    edit_target,
    probe_target,
    probe_target_url,
    remove_target,
    watch_discovered,
)

PLACEHOLDERS = {
    "mysql": "mysql://user:password@db.example:3306/?digest_source=slow_log",
    "redis": "redis://:password@cache.example:6379/0",
    "celery": "redis://broker.example:6379/0 or amqp://user:password@rabbit.example:5672//",
    "logs": "/var/log/app/*.log",
    "http": "https://app.example/health",
    "backup": "/var/backups/mysql/*.sql.gz?max_age=26h",
}
_VERDICT_COLORS = {"ok": "success", "warn": "warning", "fail": "danger"}
# What discovery finds on each default port (RabbitMQ is watched as a Celery broker).
_FOUND_AS = {"mysql": "MySQL / MariaDB", "redis": "Redis", "celery": "RabbitMQ"}


def _kind_label(kind: str) -> str:
    return TARGET_KINDS[kind][1]


def verdict(result: ProbeResult) -> Component:
    took = f" ({result.response_ms:.0f} ms)" if result.response_ms is not None else ""
    return html.Span(
        [
            dbc.Badge(
                result.status.upper(), color=_VERDICT_COLORS.get(result.status, "secondary"), className="me-1"
            ),
            f"{result.message}{took}",
        ],
        className="small",
    )


def _row(target: Target, admin: bool) -> Component:
    locked = not admin
    title = ADMIN_ONLY if locked else None
    if target.pinned:
        env_var = f"VITALS_{TARGET_KINDS[target.kind][0].upper()}"
        actions: Component = dbc.Badge(f"from {env_var}", color="warning", text_color="dark")
    else:
        tid = {"target": target.id}
        actions = dbc.ButtonGroup(
            [
                dbc.Button(
                    "Connect now", id={"type": ids.ROW_TEST, **tid}, n_clicks=0, disabled=locked, title=title
                ),
                dbc.Button(
                    "Edit", id={"type": ids.ROW_EDIT, **tid}, n_clicks=0, disabled=locked, title=title
                ),
                dbc.Button(
                    "Pause" if target.enabled else "Resume",
                    id={"type": ids.ROW_TOGGLE, **tid},
                    n_clicks=0,
                    disabled=locked,
                    title=title,
                ),
                dbc.Button(
                    "Remove",
                    id={"type": ids.ROW_REMOVE, **tid},
                    n_clicks=0,
                    disabled=locked,
                    title=title,
                    color="danger",
                    outline=True,
                ),
            ],
            size="sm",
        )
    state = "" if target.enabled else " (paused)"
    return dbc.ListGroupItem(
        [
            dbc.Row(
                [
                    dbc.Col(
                        [
                            html.Div([html.Span(target.name, className="fw-semibold"), state]),
                            html.Div(_kind_label(target.kind), className="small text-secondary"),
                        ],
                        md=3,
                    ),
                    dbc.Col(html.Code(target.shown, className="small text-break"), md=5),
                    dbc.Col(actions, md=4, className="text-md-end"),
                ],
                className="g-2 align-items-center",
            ),
            html.Div(id={"type": ids.ROW_VERDICT, "target": target.id}) if target.id is not None else None,
        ],
        className="target-row",
    )


def targets_list() -> Component:
    found = services()
    targets = found.store.config.targets(settings=found.settings)
    if not targets:
        return html.P(
            "Nothing is watched yet besides this host: add a target below.", className="text-secondary"
        )
    admin = is_admin()
    return dbc.ListGroup([_row(target, admin) for target in targets], flush=True)


def discovered_list() -> Component:
    found = services()
    services_found = discover_local_services(found.store, found.settings)
    if not services_found:
        return html.P(
            "No MySQL/MariaDB (3306), Redis (6379) or RabbitMQ (5672) answers on this machine.",
            className="small text-secondary mb-0",
        )
    admin = is_admin()
    rows = []
    for item in services_found:
        button = (
            dbc.Badge("watched", color="success")
            if item.watched
            else dbc.Button(
                f"Watch {_FOUND_AS.get(item.kind, item.kind)}",
                id={"type": ids.DISCOVER_WATCH, "kind": item.kind},
                size="sm",
                n_clicks=0,
                disabled=not admin,
                title=ADMIN_ONLY if not admin else None,
            )
        )
        rows.append(
            dbc.ListGroupItem(
                dbc.Row(
                    [
                        dbc.Col(f"{_FOUND_AS.get(item.kind, item.kind)} answers on port {item.port}", md=5),
                        dbc.Col(html.Code(item.url, className="small"), md=4),
                        dbc.Col(button, md=3, className="text-md-end"),
                    ],
                    className="g-2 align-items-center",
                )
            )
        )
    return dbc.ListGroup(rows, flush=True)


def _form(admin: bool) -> Component:
    locked = not admin
    return html.Div(
        [
            html.H2("Add a target", id=ids.TARGET_FORM_TITLE, className="h6 mt-3"),
            dcc.Store(id=ids.TARGET_EDITING, data=None),
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Label("Kind", html_for=ids.TARGET_KIND),
                            dbc.Select(
                                id=ids.TARGET_KIND,
                                options=[
                                    {"label": label, "value": kind}
                                    for kind, (_f, label) in TARGET_KINDS.items()
                                ],
                                value="mysql",
                                disabled=locked,
                            ),
                        ],
                        md=2,
                    ),
                    dbc.Col(
                        [
                            dbc.Label("Name", html_for=ids.TARGET_NAME),
                            dbc.Input(id=ids.TARGET_NAME, autocomplete="off", disabled=locked, maxlength=64),
                            dbc.FormFeedback(id=ids.TARGET_NAME_FEEDBACK, type="invalid"),
                        ],
                        md=3,
                    ),
                    dbc.Col(
                        [
                            dbc.Label("URL or path", html_for=ids.TARGET_URL),
                            dbc.Input(
                                id=ids.TARGET_URL,
                                autocomplete="off",
                                disabled=locked,
                                placeholder=PLACEHOLDERS["mysql"],
                            ),
                            dbc.FormFeedback(id=ids.TARGET_URL_FEEDBACK, type="invalid"),
                            dbc.FormText("Credentials are stored encrypted and never shown again in full."),
                        ],
                        md=7,
                    ),
                ],
                className="g-2",
            ),
            html.Div(
                [
                    dbc.Button(
                        "Test connection",
                        id=ids.TARGET_TEST,
                        n_clicks=0,
                        color="secondary",
                        outline=True,
                        disabled=locked,
                        className="me-2",
                    ),
                    dbc.Button(
                        "Save target", id=ids.TARGET_SAVE, n_clicks=0, disabled=locked, className="me-2"
                    ),
                    dbc.Button(
                        "Cancel", id=ids.TARGET_CANCEL, n_clicks=0, color="link", style={"display": "none"}
                    ),
                    html.Span(ADMIN_ONLY, className="small text-secondary") if locked else None,
                ],
                className="mt-2",
            ),
            dcc.Loading(html.Div(id=ids.TARGET_TEST_RESULT, className="mt-2"), type="dot"),
            html.Div(id=ids.TARGET_RESULT, className="mt-2"),
            dcc.ConfirmDialog(id=ids.TARGET_REMOVE_CONFIRM, message=""),
            dcc.Store(id=ids.TARGET_REMOVING, data=None),
        ]
    )


def targets_card() -> Component:
    admin = is_admin()
    return html.Div(
        [
            card(
                "Found on this machine",
                html.Div(discovered_list(), id=ids.DISCOVERED),
                subtitle="services answering on their default local ports",
            ),
            card(
                "Monitored targets",
                [html.Div(targets_list(), id=ids.TARGETS_LIST), _form(admin)],
                card_id="settings-targets-card",
                subtitle="MySQL, Redis, Celery brokers, log paths and HTTP checks; collected within one interval",
            ),
        ]
    )


# -- callbacks ------------------------------------------------------------------------------------


def _clicked() -> bool:
    """A real click, not a button (re)appearing in the layout with n_clicks 0."""
    return bool(ctx.triggered and ctx.triggered[0].get("value"))


def connect_now(_clicks: int, button_id: dict[str, int]) -> Any:
    if not _clicked():
        return no_update
    found = services()
    try:
        return verdict(probe_target(found.store, current_actor(), int(button_id["target"]), found.settings))
    except (PermissionDenied, ConfigError) as exc:
        return message(str(exc), "danger")


def probe_typed(
    _clicks: int, kind: str | None, name: str | None, url: str | None, editing: int | None
) -> tuple[Any, ...]:
    """Probe what is typed in the form (or, editing with the URL left empty, the stored target)."""
    found = services()
    try:
        if editing is not None and not (url or "").strip():
            result = probe_target(found.store, current_actor(), int(editing), found.settings)
        else:
            result = probe_target_url(
                found.store, current_actor(), kind or "", name or "", url or "", found.settings
            )
    except PermissionDenied as exc:
        return message(str(exc), "danger"), False, "", False, ""
    except ConfigError as exc:
        return _field_error(exc, None)
    return verdict(result), False, "", False, ""


def _field_error(exc: ConfigError, general: Any) -> tuple[Any, ...]:
    on_name, on_url = exc.key == "name", exc.key == "url"
    shown = general if general is not None else (None if (on_name or on_url) else message(str(exc), "danger"))
    return shown, on_name, exc.reason if on_name else "", on_url, exc.reason if on_url else ""


def _form_state(editing: Target | None, admin: bool = True) -> tuple[Any, ...]:
    if editing is None:
        return ("mysql", not admin, "", "", PLACEHOLDERS["mysql"], None, "Add a target", {"display": "none"})
    return (
        editing.kind,
        True,
        editing.name,
        "",
        f"leave empty to keep {editing.shown}",
        editing.id,
        f"Edit {editing.name}",
        {},
    )


def _refreshed(result: Any, form: tuple[Any, ...] | None) -> tuple[Any, ...]:
    kind, kind_disabled, name, url, placeholder, editing, title, cancel = form or (no_update,) * 8
    return (
        targets_list(), discovered_list(), result, kind, kind_disabled, name, url, placeholder,
        False, "", False, "", editing, title, cancel,
    )  # fmt: skip


def manage(
    _save: int,
    _edits: list[int],
    _toggles: list[int],
    _cancel: int,
    _confirmed: int,
    _watch: list[int],
    kind: str | None,
    name: str | None,
    url: str | None,
    editing: int | None,
    removing: int | None,
) -> tuple[Any, ...]:
    """Save (add or edit), start editing, pause/resume, cancel, remove (after confirming), watch a found service."""
    if not _clicked():
        raise PreventUpdate
    store, actor = services().store, current_actor()
    trigger = ctx.triggered_id
    try:
        if trigger == ids.TARGET_SAVE:
            return _save_target(kind, name, url, editing)
        if trigger == ids.TARGET_CANCEL:
            return _refreshed(None, _form_state(None))
        if trigger == ids.TARGET_REMOVE_CONFIRM and removing is not None:
            gone = remove_target(store, actor, int(removing))
            return _refreshed(
                message(f"Stopped watching {gone.name}; its history stays.", "success"),
                _form_state(None) if editing == removing else None,
            )
        if isinstance(trigger, dict) and trigger.get("type") == ids.ROW_EDIT:
            target = store.config.target(target_id=int(trigger["target"]))
            return _refreshed(None, _form_state(target))
        if isinstance(trigger, dict) and trigger.get("type") == ids.ROW_TOGGLE:
            target = store.config.target(target_id=int(trigger["target"]))
            changed = edit_target(store, actor, target.id or 0, enabled=not target.enabled)
            words = "resumed" if changed.enabled else "paused: not collected until resumed"
            return _refreshed(message(f"{changed.name} {words}.", "success"), None)
        if isinstance(trigger, dict) and trigger.get("type") == ids.DISCOVER_WATCH:
            added = watch_discovered(store, actor, str(trigger["kind"]))
            return _refreshed(message(f"Now watching {added.name} ({added.shown}).", "success"), None)
    except PermissionDenied as exc:
        return _refreshed(message(str(exc), "danger"), None)
    except ConfigError as exc:
        return _refreshed(message(str(exc), "danger"), None)
    raise PreventUpdate


def _save_target(kind: str | None, name: str | None, url: str | None, editing: int | None) -> tuple[Any, ...]:
    store, actor = services().store, current_actor()
    try:
        if editing is None:
            saved = add_target(store, actor, kind or "", name or "", url or "")
            words = f"Watching {saved.name} ({saved.shown}); collected from its next interval."
        else:
            saved = edit_target(store, actor, int(editing), name=name or "", url=url or None)
            words = f"Saved {saved.name} ({saved.shown})."
    except ConfigError as exc:
        general, name_bad, name_words, url_bad, url_words = _field_error(exc, None)
        keep = (no_update,) * 8
        return (no_update, no_update, general, *keep[:5], name_bad, name_words, url_bad, url_words, *keep[5:])
    return _refreshed(message(words, "success"), _form_state(None))


def ask_to_remove(_clicks: list[int]) -> tuple[Any, ...]:
    if not _clicked() or not isinstance(ctx.triggered_id, dict):
        return no_update, no_update, no_update
    target_id = int(ctx.triggered_id["target"])
    try:
        target = services().store.config.target(target_id=target_id)
    except ConfigError:
        return no_update, no_update, no_update
    words = f"Stop watching {target.name} ({_kind_label(target.kind)})? Data already collected stays."
    return True, words, target_id


def placeholder_for(kind: str | None, editing: int | None) -> Any:
    if editing is not None:
        return no_update
    return PLACEHOLDERS.get(kind or "mysql", "")


def register_callbacks(app: Dash) -> None:
    app.callback(
        Output({"type": ids.ROW_VERDICT, "target": MATCH}, "children"),
        Input({"type": ids.ROW_TEST, "target": MATCH}, "n_clicks"),
        State({"type": ids.ROW_TEST, "target": MATCH}, "id"),
        prevent_initial_call=True,
    )(connect_now)
    app.callback(
        Output(ids.TARGET_TEST_RESULT, "children"),
        Output(ids.TARGET_NAME, "invalid", allow_duplicate=True),
        Output(ids.TARGET_NAME_FEEDBACK, "children", allow_duplicate=True),
        Output(ids.TARGET_URL, "invalid", allow_duplicate=True),
        Output(ids.TARGET_URL_FEEDBACK, "children", allow_duplicate=True),
        Input(ids.TARGET_TEST, "n_clicks"),
        State(ids.TARGET_KIND, "value"),
        State(ids.TARGET_NAME, "value"),
        State(ids.TARGET_URL, "value"),
        State(ids.TARGET_EDITING, "data"),
        prevent_initial_call=True,
    )(probe_typed)
    app.callback(
        Output(ids.TARGETS_LIST, "children"),
        Output(ids.DISCOVERED, "children"),
        Output(ids.TARGET_RESULT, "children"),
        Output(ids.TARGET_KIND, "value"),
        Output(ids.TARGET_KIND, "disabled"),
        Output(ids.TARGET_NAME, "value"),
        Output(ids.TARGET_URL, "value"),
        Output(ids.TARGET_URL, "placeholder", allow_duplicate=True),
        Output(ids.TARGET_NAME, "invalid"),
        Output(ids.TARGET_NAME_FEEDBACK, "children"),
        Output(ids.TARGET_URL, "invalid"),
        Output(ids.TARGET_URL_FEEDBACK, "children"),
        Output(ids.TARGET_EDITING, "data"),
        Output(ids.TARGET_FORM_TITLE, "children"),
        Output(ids.TARGET_CANCEL, "style"),
        Input(ids.TARGET_SAVE, "n_clicks"),
        Input({"type": ids.ROW_EDIT, "target": ALL}, "n_clicks"),
        Input({"type": ids.ROW_TOGGLE, "target": ALL}, "n_clicks"),
        Input(ids.TARGET_CANCEL, "n_clicks"),
        Input(ids.TARGET_REMOVE_CONFIRM, "submit_n_clicks"),
        Input({"type": ids.DISCOVER_WATCH, "kind": ALL}, "n_clicks"),
        State(ids.TARGET_KIND, "value"),
        State(ids.TARGET_NAME, "value"),
        State(ids.TARGET_URL, "value"),
        State(ids.TARGET_EDITING, "data"),
        State(ids.TARGET_REMOVING, "data"),
        prevent_initial_call=True,
    )(manage)
    app.callback(
        Output(ids.TARGET_REMOVE_CONFIRM, "displayed"),
        Output(ids.TARGET_REMOVE_CONFIRM, "message"),
        Output(ids.TARGET_REMOVING, "data"),
        Input({"type": ids.ROW_REMOVE, "target": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )(ask_to_remove)
    app.callback(
        Output(ids.TARGET_URL, "placeholder"),
        Input(ids.TARGET_KIND, "value"),
        State(ids.TARGET_EDITING, "data"),
        prevent_initial_call=True,
    )(placeholder_for)
