"""Settings: typed configuration (admin form, history, reset), monitored targets and local discovery,
the environment (secrets masked), storage tiers, users, your password, API tokens and the audit log."""

from __future__ import annotations

from dash import Dash, html

from dashboard.pages.settings import config_form, environment, targets, tokens, users

__all__ = ["NAME", "ORDER", "PATH", "layout", "register_callbacks"]

PATH = "/settings"
NAME = "Settings"
ORDER = 90  # place in the navbar


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            html.H1("Settings", className="page-title"),
            targets.targets_card(),
            config_form.config_card(),
            environment.tiers_card(),
            users.users_card(),
            users.own_password_card(),
            tokens.tokens_card(),
            users.audit_card(),
            environment.environment_card(),
        ]
    )


def register_callbacks(app: Dash) -> None:
    config_form.register_callbacks(app)
    targets.register_callbacks(app)
    users.register_callbacks(app)
    tokens.register_callbacks(app)
