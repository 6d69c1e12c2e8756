"""Users (list, create, change role, disable/enable, reset a password: admin), one's own password (anyone),
and the audit log. Every change goes through ``tasks.actions.users``, which checks the role again."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, ctx, html, no_update
from dash.development.base_component import Component

from dashboard.auth import keep_session_after_own_change
from dashboard.pages.settings import ids
from dashboard.pages.settings.common import ADMIN_ONLY, card, is_admin, message, table
from dashboard.services import current_actor, services
from storage.audit import audit_entries
from storage.users import Role, UserError, list_users
from tasks.actions import PermissionDenied, add_user
from tasks.actions.users import change_password, change_role, set_user_enabled


def users_rows() -> list[dict[str, Any]]:
    return [
        {
            "username": user.username,
            "role": user.role.value,
            "active": "yes" if user.active else "no",
            "last login": user.last_login_at.strftime("%Y-%m-%d %H:%M UTC")
            if user.last_login_at
            else "never",
        }
        for user in list_users(services().store.engine)
    ]


def audit_rows() -> list[dict[str, Any]]:
    frame = audit_entries(services().store.engine, since="30d", limit=50)
    return [
        {
            "time": row.ts.strftime("%Y-%m-%d %H:%M:%S UTC"),
            "user": row.username or "",
            "action": row.action,
            "target": row.target or "",
            "outcome": row.outcome,
        }
        for row in frame.itertuples()
    ]


def _field(label: str, component_id: str, feedback_id: str | None = None, **input_args: Any) -> list[Any]:
    parts: list[Any] = [dbc.Label(label, html_for=component_id), dbc.Input(id=component_id, **input_args)]
    if feedback_id:
        parts.append(dbc.FormFeedback(id=feedback_id, type="invalid"))
    return parts


def _create_user_form() -> dbc.Form:
    return dbc.Form(
        dbc.Row(
            [
                dbc.Col(
                    _field("Username", ids.NEW_USERNAME, ids.USERNAME_FEEDBACK, autocomplete="off"), md=4
                ),
                dbc.Col(
                    _field(
                        "Password",
                        ids.NEW_PASSWORD,
                        ids.PASSWORD_FEEDBACK,
                        type="password",
                        autocomplete="new-password",
                    ),
                    md=3,
                ),
                dbc.Col(
                    [
                        dbc.Label("Role", html_for=ids.NEW_ROLE),
                        dbc.Select(id=ids.NEW_ROLE, options=[r.value for r in Role], value=Role.VIEWER.value),
                    ],
                    md=3,
                ),
                dbc.Col(
                    dbc.Button("Create user", id=ids.CREATE_USER, n_clicks=0),
                    md=2,
                    className="align-self-end",
                ),
            ],
            className="g-2",
        )
    )


def _user_options() -> list[str]:
    return [user.username for user in list_users(services().store.engine)]


def _manage_form() -> Component:
    locked = not is_admin()
    button = {"n_clicks": 0, "disabled": locked, "title": ADMIN_ONLY if locked else None}
    return html.Div(
        [
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.Label("User", html_for=ids.MANAGE_USER),
                            dbc.Select(id=ids.MANAGE_USER, options=_user_options()),
                        ],
                        md=3,
                    ),
                    dbc.Col(
                        [
                            dbc.Label("Role", html_for=ids.MANAGE_ROLE),
                            dbc.Select(
                                id=ids.MANAGE_ROLE, options=[r.value for r in Role], value=Role.VIEWER.value
                            ),
                        ],
                        md=2,
                    ),
                    dbc.Col(
                        dbc.ButtonGroup(
                            [
                                dbc.Button(
                                    "Change role", id=ids.MANAGE_SET_ROLE, color="secondary", **button
                                ),
                                dbc.Button("Disable", id=ids.MANAGE_DISABLE, color="warning", **button),
                                dbc.Button("Enable", id=ids.MANAGE_ENABLE, color="success", **button),
                            ]
                        ),
                        md="auto",
                        className="align-self-end",
                    ),
                ],
                className="g-2",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        _field(
                            "New password for this user",
                            ids.MANAGE_PASSWORD,
                            ids.MANAGE_PASSWORD_FEEDBACK,
                            type="password",
                            autocomplete="new-password",
                        ),
                        md=5,
                    ),
                    dbc.Col(
                        dbc.Button(
                            "Reset password", id=ids.MANAGE_RESET, color="danger", outline=True, **button
                        ),
                        md="auto",
                        className="align-self-end",
                    ),
                ],
                className="g-2 mt-1",
            ),
            html.Div(id=ids.MANAGE_RESULT, className="mt-2"),
        ]
    )


def users_card() -> Component:
    return card(
        "Users",
        [
            table(ids.USERS_TABLE, users_rows(), ["username", "role", "active", "last login"]),
            html.H2("Add a user", className="h6 mt-3"),
            _create_user_form(),
            html.Div(id=ids.CREATE_RESULT, className="mt-2"),
            html.H2("Change a user", className="h6 mt-4"),
            html.P(
                "A changed role, password or state ends that user's sessions at once.",
                className="text-secondary small mb-2",
            ),
            _manage_form(),
        ],
    )


def own_password_card() -> Component:
    password = {"type": "password", "autocomplete": "new-password"}
    return card(
        "Your password",
        [
            dbc.Row(
                [
                    dbc.Col(
                        _field(
                            "Current password",
                            ids.OWN_CURRENT,
                            ids.OWN_CURRENT_FEEDBACK,
                            type="password",
                            autocomplete="current-password",
                        ),
                        md=4,
                    ),
                    dbc.Col(_field("New password", ids.OWN_NEW, ids.OWN_NEW_FEEDBACK, **password), md=3),
                    dbc.Col(_field("Repeat it", ids.OWN_REPEAT, ids.OWN_REPEAT_FEEDBACK, **password), md=3),
                    dbc.Col(
                        dbc.Button("Change password", id=ids.OWN_SAVE, n_clicks=0),
                        md=2,
                        className="align-self-end",
                    ),
                ],
                className="g-2",
            ),
            html.Div(id=ids.OWN_RESULT, className="mt-2"),
        ],
        subtitle="your other sessions end; this one stays",
    )


def audit_card() -> Component:
    return card(
        "Audit log (last 50 entries)",
        table(ids.AUDIT_TABLE, audit_rows(), ["time", "user", "action", "target", "outcome"]),
    )


def _split(exc: Exception) -> tuple[str, str]:
    # Action messages are "field: reason": the reason goes under that field.
    field, _, reason = str(exc).partition(": ")
    return field, reason


def create_user(
    _clicks: int, username: str | None, password: str | None, role: str | None
) -> tuple[Any, ...]:
    store = services().store
    try:
        user = add_user(store, current_actor(), username or "", password or "", role or "")
    except PermissionDenied as exc:
        return message(str(exc), "danger"), False, "", False, "", no_update, no_update, audit_rows()
    except UserError as exc:
        field, reason = _split(exc)
        on_name, on_password = field == "username", field == "password"
        general = None if (on_name or on_password) else message(str(exc), "danger")
        return (
            general,
            on_name,
            reason if on_name else "",
            on_password,
            reason if on_password else "",
            no_update,
            no_update,
            no_update,
        )
    done = message(f"Created {user.username} ({user.role.value}).", "success")
    return done, False, "", False, "", "", users_rows(), audit_rows()


def manage_user(
    _role: int,
    _disable: int,
    _enable: int,
    _reset: int,
    username: str | None,
    role: str | None,
    password: str | None,
) -> tuple[Any, ...]:
    """One of the four admin buttons; answers with a message (or the password field's feedback)."""
    store, actor, pressed = services().store, current_actor(), ctx.triggered_id
    if not username:
        return message("Choose a user first.", "warning"), False, "", no_update, no_update, no_update
    try:
        if pressed == ids.MANAGE_SET_ROLE:
            user = change_role(store, actor, username, role or "")
            done = f"{user.username} is now {user.role.value}."
        elif pressed == ids.MANAGE_RESET:
            user = change_password(store, actor, username, password or "")
            done = f"Password of {user.username} changed."
        else:
            user = set_user_enabled(store, actor, username, enabled=pressed == ids.MANAGE_ENABLE)
            done = f"{user.username} is {'enabled' if user.active else 'disabled'}."
    except PermissionDenied as exc:
        return message(str(exc), "danger"), False, "", no_update, no_update, audit_rows()
    except UserError as exc:
        field, reason = _split(exc)
        if field == "password":
            return None, True, reason, no_update, no_update, audit_rows()
        return message(reason or str(exc), "danger"), False, "", no_update, no_update, audit_rows()
    if actor is not None and user.username == actor.username and pressed == ids.MANAGE_RESET:
        keep_session_after_own_change(user.session_epoch)
    cleared = "" if pressed == ids.MANAGE_RESET else no_update
    return (
        message(f"{done} Their sessions have ended.", "success"),
        False,
        "",
        cleared,
        users_rows(),
        audit_rows(),
    )


def change_own_password(
    _clicks: int, current: str | None, new: str | None, repeat: str | None
) -> tuple[Any, ...]:
    actor = current_actor()
    keep = (no_update,) * 3
    if actor is None:
        return (message("Sign in again.", "danger"), False, "", False, "", False, "", *keep)
    if (new or "") != (repeat or ""):
        return (None, False, "", False, "", True, "the two new passwords differ", *keep)
    try:
        user = change_password(services().store, actor, actor.username, new or "", current or "")
    except (UserError, PermissionDenied) as exc:
        field, reason = _split(exc)
        on_current, on_new = field == "current_password", field == "password"
        general = None if (on_current or on_new) else message(str(exc), "danger")
        return (
            general,
            on_current,
            reason if on_current else "",
            on_new,
            reason if on_new else "",
            False,
            "",
            *keep,
        )
    keep_session_after_own_change(user.session_epoch)
    done = message("Password changed. Your other sessions have ended.", "success")
    return (done, False, "", False, "", False, "", "", "", "")


def register_callbacks(app: Dash) -> None:
    app.callback(
        Output(ids.CREATE_RESULT, "children"),
        Output(ids.NEW_USERNAME, "invalid"),
        Output(ids.USERNAME_FEEDBACK, "children"),
        Output(ids.NEW_PASSWORD, "invalid"),
        Output(ids.PASSWORD_FEEDBACK, "children"),
        Output(ids.NEW_PASSWORD, "value"),
        Output(ids.USERS_TABLE, "data"),
        Output(ids.AUDIT_TABLE, "data"),
        Input(ids.CREATE_USER, "n_clicks"),
        State(ids.NEW_USERNAME, "value"),
        State(ids.NEW_PASSWORD, "value"),
        State(ids.NEW_ROLE, "value"),
        prevent_initial_call=True,
    )(create_user)
    app.callback(
        Output(ids.MANAGE_RESULT, "children"),
        Output(ids.MANAGE_PASSWORD, "invalid"),
        Output(ids.MANAGE_PASSWORD_FEEDBACK, "children"),
        Output(ids.MANAGE_PASSWORD, "value"),
        Output(ids.USERS_TABLE, "data", allow_duplicate=True),
        Output(ids.AUDIT_TABLE, "data", allow_duplicate=True),
        Input(ids.MANAGE_SET_ROLE, "n_clicks"),
        Input(ids.MANAGE_DISABLE, "n_clicks"),
        Input(ids.MANAGE_ENABLE, "n_clicks"),
        Input(ids.MANAGE_RESET, "n_clicks"),
        State(ids.MANAGE_USER, "value"),
        State(ids.MANAGE_ROLE, "value"),
        State(ids.MANAGE_PASSWORD, "value"),
        prevent_initial_call=True,
    )(manage_user)
    app.callback(
        Output(ids.OWN_RESULT, "children"),
        Output(ids.OWN_CURRENT, "invalid"),
        Output(ids.OWN_CURRENT_FEEDBACK, "children"),
        Output(ids.OWN_NEW, "invalid"),
        Output(ids.OWN_NEW_FEEDBACK, "children"),
        Output(ids.OWN_REPEAT, "invalid"),
        Output(ids.OWN_REPEAT_FEEDBACK, "children"),
        Output(ids.OWN_CURRENT, "value"),
        Output(ids.OWN_NEW, "value"),
        Output(ids.OWN_REPEAT, "value"),
        Input(ids.OWN_SAVE, "n_clicks"),
        State(ids.OWN_CURRENT, "value"),
        State(ids.OWN_NEW, "value"),
        State(ids.OWN_REPEAT, "value"),
        prevent_initial_call=True,
    )(change_own_password)
