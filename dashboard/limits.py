"""The one rate limiter of the web tier (Flask-Limiter), shared by every module that limits something.

Decorate a view with ``@limiter.limit("5/minute", key_func=...)`` or call ``limiter.limiter.hit(...)``
with a ``limits`` rate item for checks that are not per route (e.g. failed logins per username).
Counters live in Redis when ``VITALS_RATE_LIMIT_STORAGE_URL`` (or a ``redis://`` broker) is set, so
every gunicorn worker and host shares them, and in memory in embedded mode (one process).
:func:`install_limiter` binds it to an app in the app factory (``app.create_app``).
"""

from __future__ import annotations

import hashlib

import flask
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address

from storage import Settings

__all__ = ["bearer_token", "install_limiter", "limiter", "storage_url", "token_key"]

# key_func: the client address (after ProxyFix, when the app trusts a proxy, this is the real client).
# storage_uri stays unset here so each app's RATELIMIT_STORAGE_URI (set by install_limiter) is used.
limiter = Limiter(
    key_func=get_remote_address,
    storage_uri=None,
    headers_enabled=True,  # X-RateLimit-* and Retry-After, so a well-behaved client can back off
    key_prefix="vitals",
)


def storage_url(settings: Settings) -> str:
    """Where the counters live: the configured URL, else a Redis broker, else this process's memory."""
    if settings.rate_limit_storage_url:
        return settings.rate_limit_storage_url
    if settings.broker_url and settings.broker_url.startswith(("redis://", "rediss://")):
        return settings.broker_url
    return "memory://"


def install_limiter(server: flask.Flask, settings: Settings) -> None:
    """Bind the shared limiter to this app (once per app; a new app starts with fresh memory counters)."""
    server.config["RATELIMIT_STORAGE_URI"] = storage_url(settings)
    # A limiter whose storage is down must not take the dashboard down with it.
    server.config.setdefault("RATELIMIT_SWALLOW_ERRORS", True)
    limiter.init_app(server)


def bearer_token() -> str | None:
    """The request's ``Authorization: Bearer`` credential, if any."""
    scheme, _, credentials = flask.request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() or None if scheme.lower() == "bearer" else None


def token_key() -> str:
    """Rate-limit key of an API token: a digest, so no token is ever written to the counter store."""
    token = bearer_token() or ""
    return "token:" + hashlib.sha256(token.encode()).hexdigest()[:32]
