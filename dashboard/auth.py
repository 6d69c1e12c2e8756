"""Login for every page and every Dash request (Flask-Login), with a plain server-rendered form.

The login page is plain Flask rather than a Dash page so that nothing of the Dash app (layout,
callbacks, component bundles) is reachable before login. It is a Jinja template with autoescaping, so
nothing a visitor typed (the username, the ``next`` path) can become markup.

Failed logins are limited (``dashboard.login_limit``); a refused attempt, whether the password was wrong
or the name or address is locked out, gets the same page, status, headers and wording, so the answer
tells an attacker nothing, and each lands in the audit log with its reason. (A locked-out attempt skips
the password hash, so it is answered sooner: the price of not letting a flood of them burn the CPU.) Logins and logouts are audited too.
Sessions end when idle or too old, and when the user's password, role or enabled state changes
(``dashboard.sessions``).
"""

from __future__ import annotations

import secrets
from urllib.parse import urlparse

import flask
from flask.typing import ResponseReturnValue
from flask_login import LoginManager, UserMixin, current_user, login_user, logout_user
from jinja2 import Environment, PackageLoader, select_autoescape

from dashboard.login_limit import LoginLimits
from dashboard.sessions import TIMEOUT_KEY, SessionClock, install_sessions
from storage import Settings
from storage.audit import record_audit
from storage.tokens import verify_token
from storage.users import User, authenticate, get_user_by_id

__all__ = ["PUBLIC_PREFIXES", "install_auth", "keep_session_after_own_change"]

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


_WRONG = "Wrong username or password."
_EXTENSION = "vitals-auth"


class SessionUser(UserMixin):
    def __init__(self, user: User) -> None:
        self.id = str(user.id)
        self.username = user.username
        self.role = user.role.value


def install_auth(server: flask.Flask, settings: Settings) -> None:
    install_sessions(server, settings.trusted_proxies, settings.public_url, _live_lifetime_minutes)
    server.extensions[_EXTENSION] = (
        LoginLimits.from_settings(settings),
        SessionClock(settings.session_idle_minutes, _live_lifetime_minutes),
    )
    manager = LoginManager()
    manager.init_app(server)
    manager.session_protection = "strong"
    manager.user_loader(_load_user)
    server.before_request(_require_login)
    server.add_url_rule("/favicon.ico", "favicon", _favicon)
    server.add_url_rule("/login", "login", _login, methods=["GET", "POST"])
    server.add_url_rule("/logout", "logout", _logout, methods=["GET", "POST"])


def _limits() -> LoginLimits:
    found: LoginLimits = flask.current_app.extensions[_EXTENSION][0]
    return found


def _clock() -> SessionClock:
    found: SessionClock = flask.current_app.extensions[_EXTENSION][1]
    return found


def _live_lifetime_minutes() -> int:
    from dashboard.services import services

    found = services()
    # Re-checked at most once a second (one indexed lookup), so a shortened lifetime applies at once.
    return int(found.store.config.value(key=TIMEOUT_KEY, settings=found.settings, max_age_s=1.0))


def _load_user(user_id: str) -> SessionUser | None:
    """The session's user, unless the session is over: user gone or disabled, epoch moved, idle, too old."""
    from dashboard.services import services

    engine = services().store.engine
    user = get_user_by_id(engine, int(user_id))
    if user is None or not user.active:
        why: str | None = "disabled"
    elif flask.session.get("epoch") != user.session_epoch:
        why = "password, role or state changed"
    else:
        why = _clock().expired()
    if why is None:
        return SessionUser(user)  # type: ignore[arg-type]  # why is None only with a user
    record_audit(engine, user.username if user else None, "logout", after={"reason": why})
    flask.session.clear()  # once: the next request is simply anonymous
    return None


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
    username = form.get("username", "").strip()[:64]
    password = form.get("password", "")
    engine, limits = services().store.engine, _limits()
    address = flask.request.remote_addr or "unknown"
    # A locked-out attempt skips the hash check: argon2 costs 64 MiB and tens of ms, which a flood of
    # locked attempts must not be able to buy. The answer is otherwise the wrong-password one, byte for byte.
    allowed = limits.allowed(username, address)
    user = authenticate(engine, username, password) if allowed else None
    if user is None:
        limits.failed(username, address, checked=allowed)
        reason = "wrong credentials" if allowed else "locked out"
        after = {"reason": reason, "address": address}
        record_audit(engine, username or None, "login", after=after, outcome="denied")
        return _login_page(next_url, error=_WRONG, username=username)
    limits.succeeded(username)
    login_user(SessionUser(user))
    _clock().start(user.session_epoch)
    record_audit(engine, user.username, "login", after={"address": address})
    return flask.redirect(next_url)


def _logout() -> ResponseReturnValue:
    from dashboard.services import services

    if current_user.is_authenticated:
        record_audit(services().store.engine, current_user.username, "logout")
    logout_user()
    flask.session.clear()
    return flask.redirect("/login")


def keep_session_after_own_change(epoch: int) -> None:
    """After a user changed their own password, this session stays (the others have ended)."""
    if flask.has_request_context():
        flask.session["epoch"] = epoch


def _login_page(next_url: str, error: str = "", username: str = "") -> str:
    # One token per session: a second load of this page (another tab, a favicon redirect) must not
    # invalidate a form already on screen.
    token = flask.session.setdefault("csrf", secrets.token_urlsafe(16))
    return _TEMPLATES.get_template("login.html").render(
        csrf=token, next_url=next_url, error=error, username=username
    )
