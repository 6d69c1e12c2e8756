"""Settings: effective configuration (secrets masked), users, and the audit log."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, dash_table, html, no_update
from dash.development.base_component import Component
from sqlalchemy.engine import make_url

from dashboard.services import current_actor, services
from storage.audit import audit_entries
from storage.retention import tier_summary
from storage.users import Role, UserError, list_users
from tasks.actions import PermissionDenied, add_user

PATH = "/settings"
NAME = "Settings"
ORDER = 90  # place in the navbar

USERS_TABLE = "settings-users"
AUDIT_TABLE = "settings-audit"
NEW_USERNAME = "settings-new-username"
NEW_PASSWORD = "settings-new-password"
NEW_ROLE = "settings-new-role"
CREATE_USER = "settings-create-user"
CREATE_RESULT = "settings-create-result"
USERNAME_FEEDBACK = "settings-username-feedback"
PASSWORD_FEEDBACK = "settings-password-feedback"

_SECRET_FIELDS = {"secret_key"}


def _mask_url(url: str) -> str:
    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return "(unparseable URL)"


def _configuration_rows() -> list[dict[str, str]]:
    rows = []
    for name, value in services().settings.model_dump().items():
        if name in _SECRET_FIELDS:
            shown = "(set)" if value else "(generated, kept in the data directory)"
        elif name.endswith("_url") and value:
            shown = _mask_url(value)
        elif isinstance(value, list):  # URLs (masked), paths and check targets
            shown = ", ".join(_mask_url(item) if "://" in item else item for item in value) or "(none)"
        else:
            shown = "(not set)" if value is None else str(value)
        rows.append({"setting": f"VITALS_{name.upper()}", "value": shown})
    return rows


def _stamp(moment: Any) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment is not None and moment == moment else "—"


def _tier_rows() -> list[dict[str, str]]:
    summary = tier_summary(services().store.engine, services().settings)
    return [
        {
            "tier": {"raw": "raw samples", "1m": "1-minute rollups", "1h": "1-hour rollups"}[row.tier],
            "rows": f"{row.rows:,}" if row.rows_exact else f"~{row.rows:,}",
            "oldest": _stamp(row.oldest),
            "newest": _stamp(row.newest),
            "kept for": f"{row.keep_days} days",
            "complete until": _stamp(row.complete_until) if row.tier != "raw" else "—",
        }
        for row in summary.itertuples()
    ]


def _users_rows() -> list[dict[str, Any]]:
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


def _audit_rows() -> list[dict[str, Any]]:
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


def _table(table_id: str, rows: list[dict[str, Any]], columns: list[str], page_size: int = 15) -> Component:
    return dash_table.DataTable(  # type: ignore[attr-defined]  # generated at import time
        id=table_id,
        data=rows,
        columns=[{"name": column, "id": column} for column in columns],
        page_size=page_size,
        style_cell={"textAlign": "left", "fontFamily": "inherit", "fontSize": ".9rem", "padding": "4px 8px"},
        style_header={"fontWeight": "600"},
    )


def _create_user_form() -> dbc.Form:
    return dbc.Form(
        dbc.Row(
            [
                dbc.Col(
                    [
                        dbc.Label("Username", html_for=NEW_USERNAME),
                        dbc.Input(id=NEW_USERNAME, autocomplete="off"),
                        dbc.FormFeedback(id=USERNAME_FEEDBACK, type="invalid"),
                    ],
                    md=4,
                ),
                dbc.Col(
                    [
                        dbc.Label("Password", html_for=NEW_PASSWORD),
                        dbc.Input(id=NEW_PASSWORD, type="password", autocomplete="new-password"),
                        dbc.FormFeedback(id=PASSWORD_FEEDBACK, type="invalid"),
                    ],
                    md=3,
                ),
                dbc.Col(
                    [
                        dbc.Label("Role", html_for=NEW_ROLE),
                        dbc.Select(id=NEW_ROLE, options=[r.value for r in Role], value=Role.VIEWER.value),
                    ],
                    md=3,
                ),
                dbc.Col(
                    dbc.Button("Create user", id=CREATE_USER, n_clicks=0), md=2, className="align-self-end"
                ),
            ],
            className="g-2",
        )
    )


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            html.H1("Settings", className="page-title"),
            dbc.Card(
                [
                    dbc.CardHeader("Configuration"),
                    dbc.CardBody(
                        _table("settings-config", _configuration_rows(), ["setting", "value"], page_size=100)
                    ),
                ],
                className="mb-3",
            ),
            dbc.Card(
                [
                    dbc.CardHeader("Storage tiers"),
                    dbc.CardBody(
                        _table(
                            "settings-tiers",
                            _tier_rows(),
                            ["tier", "rows", "oldest", "newest", "kept for", "complete until"],
                        )
                    ),
                ],
                className="mb-3",
            ),
            dbc.Card(
                [
                    dbc.CardHeader("Users"),
                    dbc.CardBody(
                        [
                            _table(USERS_TABLE, _users_rows(), ["username", "role", "active", "last login"]),
                            html.H2("Add a user", className="h6 mt-3"),
                            _create_user_form(),
                            html.Div(id=CREATE_RESULT, className="mt-2"),
                        ]
                    ),
                ],
                className="mb-3",
            ),
            dbc.Card(
                [
                    dbc.CardHeader("Audit log (last 50 entries)"),
                    dbc.CardBody(
                        _table(AUDIT_TABLE, _audit_rows(), ["time", "user", "action", "target", "outcome"])
                    ),
                ]
            ),
        ]
    )


def register_callbacks(app: Dash) -> None:
    @app.callback(
        Output(CREATE_RESULT, "children"),
        Output(NEW_USERNAME, "invalid"),
        Output(USERNAME_FEEDBACK, "children"),
        Output(NEW_PASSWORD, "invalid"),
        Output(PASSWORD_FEEDBACK, "children"),
        Output(NEW_PASSWORD, "value"),
        Output(USERS_TABLE, "data"),
        Output(AUDIT_TABLE, "data"),
        Input(CREATE_USER, "n_clicks"),
        State(NEW_USERNAME, "value"),
        State(NEW_PASSWORD, "value"),
        State(NEW_ROLE, "value"),
        prevent_initial_call=True,
    )
    def _create(
        _clicks: int, username: str | None, password: str | None, role: str | None
    ) -> tuple[Any, ...]:
        store = services().store
        try:
            user = add_user(store, current_actor(), username or "", password or "", role or "")
        except PermissionDenied as exc:
            alert = dbc.Alert(str(exc), color="danger", className="py-2")
            return alert, False, "", False, "", no_update, no_update, _audit_rows()
        except UserError as exc:
            # Messages are "field: reason"; show the reason under that field and keep what was typed.
            field, _, reason = str(exc).partition(": ")
            on_name, on_password = field == "username", field == "password"
            general = (
                None if (on_name or on_password) else dbc.Alert(str(exc), color="danger", className="py-2")
            )
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
        return done, False, "", False, "", "", _users_rows(), _audit_rows()
