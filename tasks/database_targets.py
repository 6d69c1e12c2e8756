"""The configured MySQL/MariaDB targets as the web layer sees them: names, and whether each answers.

The dashboard never imports collectors; this module is its way to the collector's own target
parsing and probe, so a down target is described with the collector's words (unreachable, access
denied, performance_schema off or not readable).
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from collectors.mysql import PreparedStatement, parse_target, prepared_statements, probe
from collectors.mysql.target import connect
from storage import Settings
from storage.masking import mask_url, redact, url_secrets

__all__ = ["TargetState", "prepared_on", "target_names", "target_state", "target_url"]

# A page refreshing every few seconds for many viewers must not open a connection each time.
_PROBE_TTL_S = 15.0
_PROBE_TIMEOUT_S = 3.0
_cache: dict[str, tuple[float, TargetState]] = {}
_lock = threading.Lock()


@dataclass(frozen=True)
class TargetState:
    """Whether a target answers now. ``reason``: ok, unreachable, access_denied, unknown_database,
    no_performance_schema, no_digest_access or error; ``message`` is safe to show (no password)."""

    name: str
    ok: bool
    reason: str
    message: str
    version: str | None
    address: str
    uptime_s: float | None = None


def target_names(settings: Settings) -> list[str]:
    """Every configured target's name, in the configured order (unparsable URLs left out)."""
    names = []
    for url in settings.mysql_urls:
        try:
            names.append(parse_target(url).name)
        except ValueError:
            continue
    return names


def target_url(settings: Settings, name: str) -> str | None:
    """The configured URL of the target called ``name``, or None."""
    for url in settings.mysql_urls:
        try:
            if parse_target(url).name == name:
                return url
        except ValueError:
            continue
    return None


def target_state(settings: Settings, name: str) -> TargetState | None:
    """The collector's probe of ``name`` (cached for a few seconds), or None for an unknown target."""
    url = target_url(settings, name)
    if url is None:
        return None
    now = time.monotonic()
    with _lock:
        cached = _cache.get(url)
    if cached is not None and now - cached[0] < _PROBE_TTL_S:
        return cached[1]
    state = _probe(name, url)
    with _lock:
        _cache[url] = (now, state)
    return state


def _probe(name: str, url: str) -> TargetState:
    target = parse_target(url)
    found = probe(url, _PROBE_TIMEOUT_S, check_digests=True)
    secrets = url_secrets(url)
    if not found.ok:
        return TargetState(
            name, False, found.reason, redact(found.message, secrets), None, redact(mask_url(url), secrets)
        )
    reason, message = "ok", found.message
    if found.digests == "off":
        reason = "no_performance_schema"
        message = f"{found.message}; performance_schema is OFF, so query digests come from the slow log only"
    elif found.digests == "denied":
        reason = "no_digest_access"
        message = f"{found.message}; the monitoring user may not read performance_schema (GRANT SELECT ON performance_schema.*)"
    return TargetState(name, True, reason, message, found.version, target.address, found.uptime_s)


_prepared_cache: dict[str, tuple[float, list[PreparedStatement]]] = {}


def prepared_on(settings: Settings, name: str) -> list[PreparedStatement]:
    """The server-side prepared statements ``name`` holds now (cached like the probe); empty when the
    target is unknown, down, or its performance_schema is off or not readable."""
    url = target_url(settings, name)
    if url is None:
        return []
    now = time.monotonic()
    with _lock:
        cached = _prepared_cache.get(url)
    if cached is not None and now - cached[0] < _PROBE_TTL_S:
        return cached[1]
    found: list[PreparedStatement] = []
    try:
        conn = connect(parse_target(url), _PROBE_TIMEOUT_S, read_timeout_s=_PROBE_TIMEOUT_S)
        try:
            found = prepared_statements(conn)
        finally:
            conn.close()
    except Exception:  # the probe already says why a target cannot be read; this only adds detail
        found = []
    with _lock:
        _prepared_cache[url] = (now, found)
    return found
