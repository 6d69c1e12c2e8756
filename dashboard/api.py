"""REST endpoints under ``/api``. Liveness and readiness are public so load balancers can probe them."""

from __future__ import annotations

import flask
from sqlalchemy import text

from dashboard.services import services

__all__ = ["api"]

api = flask.Blueprint("api", __name__, url_prefix="/api")


@api.get("/health/live")
def live() -> flask.Response:
    """The process answers: nothing more is checked."""
    return flask.jsonify(status="ok")


@api.get("/health/ready")
def ready() -> tuple[flask.Response, int]:
    """Ready to serve: the store answers a trivial query."""
    try:
        with services().store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
    except Exception as exc:
        return flask.jsonify(status="unavailable", store=str(exc).splitlines()[0]), 503
    return flask.jsonify(status="ok", store="ok"), 200
