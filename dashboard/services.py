"""What callbacks need at run time (store, scheduler, settings), kept on the Flask app.

Keeping it on the app rather than in module globals lets tests run several apps in one process.
"""

from __future__ import annotations

from dataclasses import dataclass

import flask
from flask_login import current_user

from storage import Settings, Store
from storage.secrets import app_secret_key
from storage.users import Role
from tasks.actions import Actor
from tasks.scheduler import EmbeddedScheduler

__all__ = ["Services", "current_actor", "live_settings", "services"]

_KEY = "vitals"


@dataclass
class Services:
    settings: Settings
    store: Store
    scheduler: EmbeddedScheduler | None

    def install(self, server: flask.Flask) -> None:
        server.extensions[_KEY] = self
        # Target credentials are encrypted with this app's secret key (the one that signs sessions).
        self.store.config.use_secret_key(
            key=app_secret_key(self.settings), older=self.settings.secret_key_previous
        )


def services() -> Services:
    found: Services = flask.current_app.extensions[_KEY]
    return found


def live_settings() -> Settings:
    """The settings in effect now: environment-pinned values over the stored configuration (Settings
    page) over defaults, with stored targets added; re-read when the configuration changes (cached)."""
    found = services()
    return found.store.config.effective(settings=found.settings)


def current_actor() -> Actor | None:
    """The logged-in user (or the API token's user) as the actions layer sees them; None when anonymous."""
    token = flask.g.get("api_token") if flask.has_request_context() else None
    if token is not None:  # a bearer token acts with the role it was issued for
        return Actor(username=token.username, role=token.role)
    if not current_user or not current_user.is_authenticated:
        return None
    return Actor(username=current_user.username, role=Role(current_user.role))
