"""Users (list and create, admin) and the audit log."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, html, no_update
from dash.development.base_component import Component

from dashboard.pages.settings import ids
from dashboard.pages.settings.common import card, table
from dashboard.services import current_actor, services
from storage.audit import audit_entries
from storage.users import Role, UserError, list_users
from tasks.actions import PermissionDenied, add_user


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


def _create_user_form() -> dbc.Form:
    return dbc.Form(
        dbc.Row(
            [
                dbc.Col(
                    [
                        dbc.Label("Username", html_for=ids.NEW_USERNAME),
                        dbc.Input(id=ids.NEW_USERNAME, autocomplete="off"),
                        dbc.FormFeedback(id=ids.USERNAME_FEEDBACK, type="invalid"),
                    ],
                    md=4,
                ),
                dbc.Col(
                    [
                        dbc.Label("Password", html_for=ids.NEW_PASSWORD),
                        dbc.Input(id=ids.NEW_PASSWORD, type="password", autocomplete="new-password"),
                        dbc.FormFeedback(id=ids.PASSWORD_FEEDBACK, type="invalid"),
                    ],
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


def users_card() -> Component:
    return card(
        "Users",
        [
            table(ids.USERS_TABLE, users_rows(), ["username", "role", "active", "last login"]),
            html.H2("Add a user", className="h6 mt-3"),
            _create_user_form(),
            html.Div(id=ids.CREATE_RESULT, className="mt-2"),
        ],
    )


def audit_card() -> Component:
    return card(
        "Audit log (last 50 entries)",
        table(ids.AUDIT_TABLE, audit_rows(), ["time", "user", "action", "target", "outcome"]),
    )


def create_user(
    _clicks: int, username: str | None, password: str | None, role: str | None
) -> tuple[Any, ...]:
    store = services().store
    try:
        user = add_user(store, current_actor(), username or "", password or "", role or "")
    except PermissionDenied as exc:
        alert = dbc.Alert(str(exc), color="danger", className="py-2")
        return alert, False, "", False, "", no_update, no_update, audit_rows()
    except UserError as exc:
        # Messages are "field: reason"; show the reason under that field and keep what was typed.
        field, _, reason = str(exc).partition(": ")
        on_name, on_password = field == "username", field == "password"
        general = None if (on_name or on_password) else dbc.Alert(str(exc), color="danger", className="py-2")
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
    done = dbc.Alert(f"Created {user.username} ({user.role.value}).", color="success", className="py-2")
    return done, False, "", False, "", "", users_rows(), audit_rows()


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
