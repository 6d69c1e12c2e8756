"""The one MySQL/MariaDB probe: can we connect and run a query, and can we see statement digests?

The collector's pages and the health check both use it, so a server is described alike everywhere.
``reason`` says what kind of failure it was; ``code`` and ``detail`` keep the server's own error so a
caller can word it its own way (the health check quotes the server's "Access denied for ..." text).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Literal

import pymysql

from collectors.mysql.target import (
    CONNECT_TIMEOUT_S,
    connect,
    describe_failure,
    error_code,
    failure_detail,
    fetch_all,
    flavour,
    parse_target,
)

__all__ = ["DIGEST_TABLE", "DigestAccess", "Probe", "probe"]

DIGEST_TABLE = "performance_schema.events_statements_summary_by_digest"
# "readable": digests can be read; "off": performance_schema is OFF; "denied": the user lacks SELECT
# on it; None: not checked (the probe was asked not to, or the connection failed first).
DigestAccess = Literal["readable", "off", "denied"]
_DENIED_CODES = {1142, 1044}


@dataclass(frozen=True)
class Probe:
    """The answer of ``probe``: ``reason`` is ok, unreachable, access_denied, unknown_database or error."""

    ok: bool
    message: str
    latency_ms: float | None
    reason: str = "ok"
    code: int | None = None
    detail: str = ""
    version: str | None = None
    digests: DigestAccess | None = None
    uptime_s: float | None = None


def probe(url: str, timeout_s: float = CONNECT_TIMEOUT_S, *, check_digests: bool = False) -> Probe:
    """Connect and run ``SELECT VERSION()``; says what is wrong (unreachable, access denied, ...) if not.

    With ``check_digests`` it also reads one row of the digest summary, which is what query analytics
    needs: the server can be up while Vitals sees no statements, and ``digests`` says why.
    """
    try:
        target = parse_target(url)
    except ValueError as exc:
        return Probe(False, str(exc), None, "error", detail=str(exc))
    started = time.perf_counter()
    try:
        conn = connect(target, timeout_s, read_timeout_s=timeout_s)
        try:
            version = str(fetch_all(conn, "SELECT VERSION() AS v")[0]["v"])
            latency_ms = (time.perf_counter() - started) * 1000
            uptime = fetch_all(conn, "SHOW GLOBAL STATUS LIKE 'Uptime'")
            digests = _digest_access(conn) if check_digests else None
        finally:
            conn.close()
    except Exception as exc:  # every driver or socket failure becomes a message
        reason, message = describe_failure(exc, target)
        return Probe(False, message, None, reason, error_code(exc), failure_detail(exc))
    message = f"{target.name}: {flavour(version)} {version} at {target.address}"
    uptime_s = float(uptime[0]["Value"]) if uptime else None
    return Probe(True, message, latency_ms, version=version, digests=digests, uptime_s=uptime_s)


def _digest_access(conn: object) -> DigestAccess:
    if int(fetch_all(conn, "SELECT @@performance_schema AS on_")[0]["on_"]) != 1:
        return "off"
    try:
        fetch_all(conn, f"SELECT 1 FROM {DIGEST_TABLE} LIMIT 1")
    except pymysql.err.MySQLError as exc:
        if error_code(exc) in _DENIED_CODES:
            return "denied"
        raise
    return "readable"
