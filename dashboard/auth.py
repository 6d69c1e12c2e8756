"""Login for every page and every Dash request (Flask-Login), with a plain server-rendered form.

The login page is plain Flask rather than a Dash page so that nothing of the Dash app (layout,
callbacks, component bundles) is reachable before login. It is a Jinja template with autoescaping, so
nothing a visitor typed (the username, the ``next`` path) can become markup.
"""

from __future__ import annotations

import secrets
from urllib.parse import urlparse

import flask
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from jinja2 import Environment, PackageLoader, select_autoescape

from storage.audit import record_audit
from storage.tokens import verify_token
from storage.users import User, authenticate, get_user_by_id

__all__ = ["PUBLIC_PREFIXES", "install_auth"]

# Reachable without a session: the login form, its stylesheet, and load-balancer probes.
PUBLIC_PREFIXES = (
    "/login",
    "/assets/",
    "/_favicon.ico",
    "/favicon.ico",
    "/api/health/live",
    "/api/health/ready",
    "/api/health",
)


_TEMPLATES = Environment(
    loader=PackageLoader("dashboard", "templates"), autoescape=select_autoescape(["html"])
)


class SessionUser(UserMixin):
    def __init__(self, user: User) -> None:
        self.id = str(user.id)
        self.username = user.username
        self.role = user.role.value


def install_auth(server: flask.Flask) -> None:
    manager = LoginManager()
    manager.init_app(server)
    manager.session_protection = "strong"

    @manager.user_loader
    def _load(user_id: str) -> SessionUser | None:
        from dashboard.services import services

        user = get_user_by_id(services().store.engine, int(user_id))
        return SessionUser(user) if user and user.active else None

    server.before_request(_require_login)
    server.add_url_rule("/favicon.ico", "favicon", _favicon)
    server.add_url_rule("/login", "login", _login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", _logout, methods=["GET", "POST"])


def _favicon() -> ResponseReturnValue:
    # Browsers ask for /favicon.ico; Dash serves its own at /_favicon.ico.
    return flask.redirect("/_favicon.ico", 301)


def _require_login() -> ResponseReturnValue | None:
    path = flask.request.path
    if path.startswith(PUBLIC_PREFIXES):
        return None
    token_path = path.startswith("/api/") or path == "/metrics"
    token = _bearer_token()
    if token_path and token is not None:
        return _check_token(token)
    if current_user.is_authenticated:
        return None
    if token_path or path.startswith("/_dash-"):
        # Script clients get a status, not an HTML redirect they would try to parse.
        response = flask.make_response(flask.jsonify(error="login required"), 401)
        if token_path:
            response.headers["WWW-Authenticate"] = 'Bearer realm="vitals"'
        return response
    return flask.redirect(f"/login?next={flask.request.full_path.rstrip('?')}")


def _bearer_token() -> str | None:
    scheme, _, credentials = flask.request.headers.get("Authorization", "").partition(" ")
    return credentials.strip() if scheme.lower() == "bearer" else None


def _check_token(token: str) -> ResponseReturnValue | None:
    """API clients (scripts, Prometheus) authenticate with a token instead of a session."""
    from dashboard.services import services

    found = verify_token(services().store.engine, token)
    if found is None:
        response = flask.make_response(flask.jsonify(error="invalid or revoked token"), 401)
        response.headers["WWW-Authenticate"] = 'Bearer realm="vitals", error="invalid_token"'
        return response
    flask.g.api_token = found
    return None


def _safe_next(target: str | None) -> str:
    # Only same-site paths: an open redirect would make the login page a phishing aid.
    if not target or urlparse(target).netloc or not target.startswith("/") or target.startswith("//"):
        return "/"
    return target


def _login() -> ResponseReturnValue:
    from dashboard.services import services

    if flask.request.method == "GET":
        return _login_page(next_url=_safe_next(flask.request.args.get("next")))
    form = flask.request.form
    next_url = _safe_next(form.get("next"))
    if not secrets.compare_digest(form.get("csrf", ""), flask.session.get("csrf", "-")):
        return _login_page(next_url, error="The form expired; please sign in again.")
    username = form.get("username", "").strip()
    user = authenticate(services().store.engine, username, form.get("password", ""))
    if user is None:
        record_audit(services().store.engine, username or None, "login", outcome="denied")
        return _login_page(next_url, error="Wrong username or password.", username=username)
    login_user(SessionUser(user))
    record_audit(services().store.engine, user.username, "login")
    return flask.redirect(next_url)


def _logout() -> ResponseReturnValue:
    logout_user()
    return flask.redirect("/login")


def _login_page(next_url: str, error: str = "", username: str = "") -> str:
    # One token per session: a second load of this page (another tab, a favicon redirect) must not
    # invalidate a form already on screen.
    token = flask.session.setdefault("csrf", secrets.token_urlsafe(16))
    return _TEMPLATES.get_template("login.html").render(
        csrf=token, next_url=next_url, error=error, username=username
    )
