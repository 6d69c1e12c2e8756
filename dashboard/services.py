"""What callbacks need at run time (store, scheduler, settings), kept on the Flask app.

Keeping it on the app rather than in module globals lets tests run several apps in one process.
"""

from __future__ import annotations

from dataclasses import dataclass

import flask
from flask_login import current_user

from storage import Settings, Store
from storage.users import Role
from tasks.actions import Actor
from tasks.scheduler import EmbeddedScheduler

__all__ = ["Services", "current_actor", "services"]

_KEY = "vitals"


@dataclass
class Services:
    settings: Settings
    store: Store
    scheduler: EmbeddedScheduler | None

    def install(self, server: flask.Flask) -> None:
        server.extensions[_KEY] = self


def services() -> Services:
    found: Services = flask.current_app.extensions[_KEY]
    return found


def current_actor() -> Actor | None:
    """The logged-in user as the actions layer sees them (None when anonymous)."""
    if not current_user or not current_user.is_authenticated:
        return None
    return Actor(username=current_user.username, role=Role(current_user.role))
