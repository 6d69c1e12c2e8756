"""Session lifetime and transport: idle timeout, absolute lifetime, ``Secure`` cookies, trusted proxies.

- A session records when it began and when it was last used; it ends after ``VITALS_SESSION_IDLE_MINUTES``
  without a request, and in any case after the stored configuration's ``security.session_timeout_minutes``
  (read per request through the config cache, so a change on the Settings page applies without restart).
- It also records the user's ``session_epoch`` at login; a password, role or enabled change raises the
  epoch, so every older session ends at its next request (``dashboard.auth`` compares them).
- The cookie is ``Secure`` whenever the request came over HTTPS (or ``VITALS_PUBLIC_URL`` is https).
- ``X-Forwarded-For/Proto/Host/Port/Prefix`` are believed only when the direct peer is one of
  ``VITALS_TRUSTED_PROXIES`` (Werkzeug's ``ProxyFix``, one hop per trusted proxy in the chain); anyone
  else could forge them to dodge per-address login limits or fake HTTPS.
"""

from __future__ import annotations

import ipaddress
import time
from collections.abc import Callable, Iterable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import flask
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

__all__ = ["SessionClock", "TrustedProxies", "install_sessions"]

TIMEOUT_KEY = "security.session_timeout_minutes"
# The signed cookie's own expiry is the longest lifetime the configuration allows; the real limits are
# checked per request, so shortening them takes effect at once.
_LONGEST = timedelta(minutes=43_200)
# Refresh "last seen" at most this often: every write re-sends the cookie.
_TOUCH_EVERY_S = 30


class _SessionInterface(SecureCookieSessionInterface):
    def __init__(self, always_secure: bool, lifetime_minutes: Callable[[], int]) -> None:
        self._always_secure = always_secure
        self._lifetime_minutes = lifetime_minutes

    def get_expiration_time(self, app: flask.Flask, session: SessionMixin) -> datetime | None:
        # The cookie need not outlive the session it carries (the server refuses it after that anyway).
        if not session.permanent or not flask.has_request_context():
            return None
        born = session.get("born")
        start = datetime.fromtimestamp(born, UTC) if isinstance(born, int) else datetime.now(UTC)
        return start + timedelta(minutes=self._lifetime_minutes())

    def get_cookie_secure(self, app: flask.Flask) -> bool:
        secure = self._always_secure or bool(app.config["SESSION_COOKIE_SECURE"])
        return secure or (flask.has_request_context() and flask.request.is_secure)


class TrustedProxies:
    """WSGI middleware: apply ``ProxyFix`` only to requests whose peer (and each further hop) is trusted."""

    def __init__(self, app: WSGIApplication, networks: Iterable[str]) -> None:
        self._app = app
        self._networks = [ipaddress.ip_network(n, strict=False) for n in networks]
        self._fixers: dict[int, ProxyFix] = {}

    def _trusted(self, address: str) -> bool:
        try:
            ip = ipaddress.ip_address(address.strip())
        except ValueError:
            return False
        return any(ip in network for network in self._networks)

    def _hops(self, environ: WSGIEnvironment) -> int:
        if not self._trusted(environ.get("REMOTE_ADDR", "")):
            return 0
        hops = 1
        forwarded = [a for a in environ.get("HTTP_X_FORWARDED_FOR", "").split(",") if a.strip()]
        # A chain of our own proxies: step back over each one until the first outside address.
        for address in reversed(forwarded[1:]):
            if not self._trusted(address):
                break
            hops += 1
        return hops

    def __call__(self, environ: WSGIEnvironment, start_response: StartResponse) -> Iterable[bytes]:
        hops = self._hops(environ)
        if hops == 0:
            return self._app(environ, start_response)
        fixer = self._fixers.get(hops)
        if fixer is None:
            fixer = ProxyFix(self._app, x_for=hops, x_proto=1, x_host=1, x_port=1, x_prefix=1)
            self._fixers[hops] = fixer
        return fixer(environ, start_response)


class SessionClock:
    """Starts, refreshes and judges the time limits of the current session."""

    def __init__(self, idle_minutes: int, lifetime_minutes: Callable[[], int]) -> None:
        self._idle_s = idle_minutes * 60
        self._lifetime_minutes = lifetime_minutes  # () -> minutes, from the live configuration

    def start(self, epoch: int) -> None:
        now = int(time.time())
        flask.session.update(born=now, seen=now, epoch=epoch)
        flask.session.permanent = True

    def expired(self) -> str | None:
        """Why the session is over ("idle", "lifetime"), or None when it may go on (and is touched)."""
        now = int(time.time())
        born, seen = flask.session.get("born"), flask.session.get("seen")
        if not isinstance(born, int) or not isinstance(seen, int):
            return "lifetime"  # a session from before these limits: start again
        if now - seen > self._idle_s:
            return "idle"
        if now - born > int(self._lifetime_minutes()) * 60:
            return "lifetime"
        if now - seen >= _TOUCH_EVERY_S:
            flask.session["seen"] = now
        return None


def install_sessions(
    server: flask.Flask,
    trusted_proxies: Iterable[str],
    public_url: str | None,
    lifetime_minutes: Callable[[], int],
) -> None:
    """Cookie flags, the session interface and the proxy middleware for ``server``."""
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True, SESSION_COOKIE_SAMESITE="Lax", PERMANENT_SESSION_LIFETIME=_LONGEST
    )
    always_secure = (public_url or "").startswith("https://")
    server.session_interface = _SessionInterface(always_secure, lifetime_minutes)
    networks = list(trusted_proxies)
    if networks:
        server.wsgi_app = TrustedProxies(server.wsgi_app, networks)  # type: ignore[method-assign]
