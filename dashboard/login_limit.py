"""Failed-login limits per username and per client address, with delays that grow as failures add up.

Each key has several windows (``VITALS_LOGIN_RATE_LIMIT_USER``, default ``5/minute;10/15 minutes;20/hour;
50/day``): the first few failures lock a name for a minute, more for a quarter of an hour, then an hour, then
a day. The counters live in the shared Flask-Limiter storage (``dashboard.limits``: Redis in production,
memory when embedded), so every gunicorn worker and host sees the same counts.

Only failures count per username (so a user who mistypes, then signs in, starts again from zero); every
refused attempt counts per address, so hammering a locked name from one place soon locks that place too.
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
from dataclasses import dataclass

from limits import RateLimitItem, parse_many

from dashboard.limits import limiter
from storage import Settings

__all__ = ["LoginLimits"]

log = logging.getLogger("vitals.auth")


def _address_key(address: str) -> str:
    # An IPv6 host usually owns a whole /64: counting single addresses there would count nothing.
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return address
    if isinstance(ip, ipaddress.IPv6Address):
        if ip.ipv4_mapped:
            return str(ip.ipv4_mapped)
        return str(ipaddress.ip_network(f"{ip}/64", strict=False))
    return str(ip)


def _user_key(username: str) -> str:
    # A digest: what people type as a username (sometimes their password) never lands in Redis.
    return hashlib.sha256(username.strip().lower().encode()).hexdigest()[:32]


@dataclass(frozen=True)
class LoginLimits:
    per_user: tuple[RateLimitItem, ...]
    per_address: tuple[RateLimitItem, ...]

    @classmethod
    def from_settings(cls, settings: Settings) -> LoginLimits:
        return cls(
            tuple(parse_many(settings.login_rate_limit_user)),
            tuple(parse_many(settings.login_rate_limit_address)),
        )

    def _keys(self, username: str, address: str) -> list[tuple[RateLimitItem, str, str]]:
        user, where = _user_key(username), _address_key(address)
        return [(item, "user", user) for item in self.per_user] + [
            (item, "address", where) for item in self.per_address
        ]

    def allowed(self, username: str, address: str) -> bool:
        """Whether a login for ``username`` from ``address`` may be checked at all now."""
        try:
            return all(
                limiter.limiter.test(item, "vitals-login", kind, key)
                for item, kind, key in self._keys(username, address)
            )
        except Exception:  # the counter store is down: logins keep working, loudly
            log.exception("login limits unavailable; allowing the attempt")
            return True

    def failed(self, username: str, address: str, *, checked: bool) -> None:
        """Count a refused attempt: per address always, per username when its password was ``checked``."""
        try:
            for item, kind, key in self._keys(username, address):
                if kind == "address" or checked:
                    limiter.limiter.hit(item, "vitals-login", kind, key)
        except Exception:
            log.exception("login limits unavailable; a failed login was not counted")

    def succeeded(self, username: str) -> None:
        """A correct password ends the username's run of failures (the address keeps its count)."""
        try:
            for item in self.per_user:
                limiter.limiter.clear(item, "vitals-login", "user", _user_key(username))
        except Exception:
            log.exception("login limits unavailable; failures of a user were not cleared")
