"""Browser-facing defences of the web tier: CSRF, security headers (CSP), the health allow-list, rate limits.

CSRF (Flask-WTF's CSRFProtect, checked here rather than by its own hook so token clients are exempt):
every POST/PUT/PATCH/DELETE that is not authenticated by a bearer token must

- come from this site: an ``Origin`` (else ``Referer``) naming another origin is refused, and
- carry a CSRF token bound to the session in the ``X-CSRFToken`` header (or a ``csrf_token`` form field).

Dash's renderer already sends ``X-CSRFToken`` with every callback, read from the ``_csrf_token`` cookie,
so the token travels as a double-submit cookie that this module sets (readable by the page's script,
``SameSite=Strict``). The login form is checked by origin here and by its own session token in
``dashboard.auth``. The session cookie itself is ``SameSite=Lax``, a third layer for browsers.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from urllib.parse import urlsplit

import flask
from dash import Dash
from flask_wtf.csrf import CSRFError, CSRFProtect, generate_csrf, validate_csrf
from wtforms import ValidationError

from dashboard.api.core import api
from dashboard.limits import bearer_token, limiter, token_key
from dashboard.prometheus import prometheus
from dashboard.services import services
from storage import Settings

__all__ = [
    "CSRF_COOKIE",
    "CSRF_HEADER",
    "content_security_policy",
    "install_security",
    "limit_api_tokens",
]

# The names Dash's renderer uses (``csrf_token_name``/``csrf_header_name`` in its config): no JS needed.
CSRF_COOKIE = "_csrf_token"
CSRF_HEADER = "X-CSRFToken"
UNSAFE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# Checked by origin here and by its own synchronizer token in dashboard.auth.
_OWN_TOKEN_FORMS = ("/login",)

_csrf = CSRFProtect()


def install_security(app: Dash, settings: Settings) -> None:
    """Hook the defences into the app; call after ``install_auth`` (the CSRF check needs its token verdict)."""
    server = app.server
    server.config.update(
        WTF_CSRF_CHECK_DEFAULT=False,  # checked in _refuse_cross_site, which knows token clients
        WTF_CSRF_TIME_LIMIT=None,  # the token lives as long as the session (whose lifetime auth bounds)
        WTF_CSRF_HEADERS=[CSRF_HEADER],
    )
    _csrf.init_app(server)
    public = _origin(settings.public_url)
    trusted = {public} if public else set()
    server.before_request(functools.partial(_refuse_cross_site, trusted))
    server.after_request(functools.partial(_add_headers, app))
    server.register_error_handler(CSRFError, _csrf_refused)


# --- CSRF ----------------------------------------------------------------------------------------


def _origin(url: str | None) -> str | None:
    if not url:
        return None
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower() if parts.scheme and parts.netloc else "null"


def _refuse_cross_site(trusted: set[str]) -> flask.Response | None:
    request = flask.request
    if request.method not in UNSAFE_METHODS or flask.g.get("api_token") is not None:
        return None  # safe methods change nothing; a bearer token cannot be sent by another site's page
    if request.routing_exception is not None:
        return None  # no route will run (404/405 answers): nothing to protect
    claimed = request.headers.get("Origin") or _origin(request.headers.get("Referer"))
    own = _origin(request.host_url)
    if claimed is not None and claimed.lower() not in {own, *trusted}:
        return _refusal(f"cross-site request refused (origin {claimed} is not {own})")
    if request.path not in _OWN_TOKEN_FORMS:
        _csrf.protect()  # raises CSRFError when the token is missing, expired or not this session's
    return None


def _csrf_refused(exc: CSRFError) -> flask.Response:
    return _refusal(f"{exc.description} Reload the page and try again.")


def _refusal(message: str) -> flask.Response:
    response = flask.jsonify(error=message, parameter=CSRF_HEADER)
    response.status_code = 403
    return response


def _ensure_csrf_cookie(response: flask.Response) -> None:
    """Give a logged-in browser a token for its next state change (renewed when missing or stale)."""
    from flask_login import current_user

    if flask.g.get("api_token") is not None or not current_user or not current_user.is_authenticated:
        return
    current = flask.request.cookies.get(CSRF_COOKIE)
    if current:
        try:
            validate_csrf(current)
            return
        except ValidationError:
            pass
    response.set_cookie(
        CSRF_COOKIE,
        generate_csrf(),
        secure=flask.request.is_secure,
        httponly=False,  # Dash's renderer reads it to send the header: that is the double submit
        samesite="Strict",
    )


# --- headers -------------------------------------------------------------------------------------


def content_security_policy(script_hashes: list[str]) -> str:
    """As strict as Dash allows: scripts only from this app plus the hashed inline start-up of Dash's
    renderer (no 'unsafe-inline', no 'unsafe-eval': dash-ag-grid interprets ``{"function": ...}`` column
    strings with its own parser, not ``eval``), no plugins, no framing. Styles need 'unsafe-inline'
    (React, Plotly and AG Grid set style attributes and inject <style> elements)."""
    directives = {
        "default-src": ["'self'"],
        "script-src": ["'self'", *script_hashes],
        "style-src": ["'self'", "'unsafe-inline'"],
        "img-src": ["'self'", "data:", "blob:"],
        "font-src": ["'self'", "data:"],
        "connect-src": ["'self'"],
        "worker-src": ["'self'", "blob:"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
    return "; ".join(f"{name} {' '.join(values)}" for name, values in directives.items())


@functools.lru_cache(maxsize=8)
def _policy_for(hashes: tuple[str, ...]) -> str:
    return content_security_policy(list(hashes))


def _add_headers(app: Dash, response: flask.Response) -> flask.Response:
    # Hashes are computed per response: callbacks registered late (clientside ones add inline scripts)
    # change them, and the computation is a few sha256 over short strings.
    response.headers.setdefault("Content-Security-Policy", _policy_for(tuple(app.csp_hashes())))
    response.headers.setdefault("X-Frame-Options", "DENY")  # control forms must not be clickjackable
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
    response.headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
    if flask.request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", "max-age=31536000")
    _ensure_csrf_cookie(response)
    return response


# --- rate limits --------------------------------------------------------------------------------


def limit_api_tokens(blueprints: list[flask.Blueprint], rate: Callable[[], str]) -> None:
    """One shared per-token budget over these blueprints (requests without a bearer token are exempt:
    sessions are a person at a browser, and failed logins are limited at the login form)."""
    shared = limiter.shared_limit(
        rate, scope="api-token", key_func=token_key, exempt_when=lambda: bearer_token() is None
    )
    for blueprint in blueprints:
        shared(blueprint)


def _token_rate() -> str:
    return services().settings.api_token_rate_limit


# Once per process: Flask-Limiter keeps blueprint limits on the (shared) limiter, not per app.
limit_api_tokens([api, prometheus], _token_rate)
