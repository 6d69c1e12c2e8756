"""API tokens (admin): who holds which, with what role, when last used; revoke one after confirming.

Creating stays on the CLI (``vitals tokens create``), where the secret is printed once to whoever has a
shell on the box; this page never shows a secret, only the token's name and id.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, dcc, html, no_update
from dash.development.base_component import Component

from dashboard.pages.settings import ids
from dashboard.pages.settings.common import ADMIN_ONLY, card, is_admin, message, stamp, table
from dashboard.pages.settings.users import audit_rows
from dashboard.services import current_actor, services
from storage.tokens import ApiToken, list_tokens
from tasks.actions import PermissionDenied
from tasks.actions.tokens import revoke_api_token

COLUMNS = ["id", "name", "user", "role", "created", "last used", "state"]


def _tokens() -> list[ApiToken]:
    return list_tokens(services().store.engine)


def token_rows(tokens: list[ApiToken]) -> list[dict[str, Any]]:
    return [
        {
            "id": token.id,
            "name": token.name,
            "user": token.username,
            "role": token.role.value,
            "created": stamp(token.created_at),
            "last used": stamp(token.last_used_at) if token.last_used_at else "never",
            "state": "active" if token.active else f"revoked {stamp(token.revoked_at)}",
        }
        for token in tokens
    ]


def _options(tokens: list[ApiToken]) -> list[dict[str, Any]]:
    return [
        {"label": f"#{token.id} {token.name} ({token.username})", "value": token.id}
        for token in tokens
        if token.active
    ]


def tokens_card() -> Component:
    tokens = _tokens()
    locked = not is_admin()
    return card(
        "API tokens",
        [
            table(ids.TOKENS_TABLE, token_rows(tokens), COLUMNS),
            dbc.Row(
                [
                    dbc.Col(
                        dbc.Select(
                            id=ids.TOKEN_PICK, options=_options(tokens), placeholder="Token to revoke"
                        ),
                        md=5,
                    ),
                    dbc.Col(
                        dbc.Button(
                            "Revoke…",
                            id=ids.TOKEN_REVOKE,
                            color="danger",
                            outline=True,
                            n_clicks=0,
                            disabled=locked,
                            title=ADMIN_ONLY if locked else None,
                        ),
                        md="auto",
                    ),
                ],
                className="g-2 mt-2",
            ),
            dcc.ConfirmDialog(id=ids.TOKEN_CONFIRM),
            html.Div(id=ids.TOKEN_RESULT, className="mt-2"),
        ],
        subtitle="create them with `vitals tokens create NAME --user USER`",
    )


def ask_to_revoke(_clicks: int, token_id: str | None) -> tuple[Any, Any, Any]:
    """Name the token in the confirmation, so nobody revokes the wrong one by a slip of the list."""
    if not token_id:
        return False, no_update, message("Choose a token first.", "warning")
    found = next((t for t in _tokens() if str(t.id) == str(token_id)), None)
    if found is None or not found.active:
        return False, no_update, message(f"Token {token_id} is not active any more.", "warning")
    text = (
        f"Revoke token #{found.id} {found.name!r} of {found.username}? Clients using it stop working at once."
    )
    return True, text, None


def revoke(_submitted: int, token_id: str | None) -> tuple[Any, ...]:
    try:
        revoke_api_token(services().store, current_actor(), int(token_id or 0))
    except (PermissionDenied, ValueError) as exc:
        return message(str(exc), "danger"), no_update, no_update, audit_rows()
    tokens = _tokens()
    done = message(f"Revoked token {token_id}.", "success")
    return done, token_rows(tokens), _options(tokens), audit_rows()


def register_callbacks(app: Dash) -> None:
    app.callback(
        Output(ids.TOKEN_CONFIRM, "displayed"),
        Output(ids.TOKEN_CONFIRM, "message"),
        Output(ids.TOKEN_RESULT, "children", allow_duplicate=True),
        Input(ids.TOKEN_REVOKE, "n_clicks"),
        State(ids.TOKEN_PICK, "value"),
        prevent_initial_call=True,
    )(ask_to_revoke)
    app.callback(
        Output(ids.TOKEN_RESULT, "children"),
        Output(ids.TOKENS_TABLE, "data"),
        Output(ids.TOKEN_PICK, "options"),
        Output(ids.AUDIT_TABLE, "data", allow_duplicate=True),
        Input(ids.TOKEN_CONFIRM, "submit_n_clicks"),
        State(ids.TOKEN_PICK, "value"),
        prevent_initial_call=True,
    )(revoke)
