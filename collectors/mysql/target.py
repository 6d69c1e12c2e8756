"""Targets and connections: parse a target URL, connect with UTC sessions, describe failures.

Target URLs look like ``mysql://user:password@host:3306/db?name=orders-primary``; ``name`` (default
``host:port``) and ``digest_source`` (force ``performance_schema`` or ``slow_log``) are Vitals'
own parameters and never reach the server.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qsl, unquote, urlsplit

import pymysql
import pymysql.cursors

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DIGEST_SOURCES",
    "DigestSourceName",
    "Target",
    "connect",
    "describe_failure",
    "error_code",
    "failure_detail",
    "fetch_all",
    "flavour",
    "parse_target",
]

DigestSourceName = Literal["performance_schema", "slow_log"]
DIGEST_SOURCES: tuple[DigestSourceName, ...] = ("performance_schema", "slow_log")
CONNECT_TIMEOUT_S = 5.0
_READ_TIMEOUT_S = 30.0


@dataclass(frozen=True)
class Target:
    """One monitored server, parsed from its URL; Vitals' own parameters already taken out."""

    name: str
    host: str
    port: int
    user: str | None
    password: str
    database: str | None
    digest_source: DigestSourceName | None = None

    @property
    def address(self) -> str:
        return f"{self.host}:{self.port}"


def parse_target(url: str) -> Target:
    """``mysql[+pymysql]://user:pw@host:port/db?name=x&digest_source=slow_log`` -> ``Target``."""
    parts = urlsplit(url)
    if parts.scheme.split("+")[0] not in {"mysql", "mariadb"}:
        raise ValueError(
            f"not a MySQL/MariaDB URL: {parts.scheme}://... (expected mysql://user:pw@host:port/db)"
        )
    query = dict(parse_qsl(parts.query))
    host = parts.hostname or "127.0.0.1"
    port = parts.port or 3306
    forced = query.get("digest_source") or None
    if forced is not None and forced not in DIGEST_SOURCES:
        raise ValueError(f"digest_source: {forced!r} is not one of {', '.join(DIGEST_SOURCES)}")
    return Target(
        name=query.get("name") or f"{host}:{port}",
        host=host,
        port=port,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else "",
        database=parts.path.lstrip("/") or None,
        digest_source=forced,
    )


def connect(
    target: Target, timeout_s: float = CONNECT_TIMEOUT_S, read_timeout_s: float = _READ_TIMEOUT_S
) -> Any:
    """A DictCursor connection whose session time zone is UTC, so TIMESTAMP columns come back in UTC."""
    return pymysql.connect(
        host=target.host,
        port=target.port,
        user=target.user,
        password=target.password,
        database=target.database,
        connect_timeout=timeout_s,
        read_timeout=read_timeout_s,
        write_timeout=read_timeout_s,
        autocommit=True,
        charset="utf8mb4",
        init_command="SET time_zone = '+00:00'",
        cursorclass=pymysql.cursors.DictCursor,
    )


def fetch_all(conn: Any, sql: str, args: Any = None) -> list[dict[str, Any]]:
    with conn.cursor() as cursor:
        cursor.execute(sql, args)
        return list(cursor.fetchall())


def error_code(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def failure_detail(exc: BaseException) -> str:
    """The driver's or server's own words for a failure (e.g. "Access denied for user 'x'@'h' ...")."""
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    return str(args[1]) if len(args) > 1 else str(exc)


def describe_failure(exc: BaseException, target: Target) -> tuple[str, str]:
    """(reason, message) for a connection failure, in words an operator can act on."""
    code = error_code(exc)
    detail = failure_detail(exc)
    if code == 1045:
        user = target.user or "(default user)"
        return "access_denied", f"access denied for user {user!r} at {target.address}: wrong user or password"
    if code == 1049:
        return "unknown_database", f"unknown database {target.database!r} on {target.address}"
    if code == 1044:
        return "access_denied", f"access denied to database {target.database!r} on {target.address}: {detail}"
    if code in {2003, 2005, 2006, 2013} or isinstance(exc, OSError | TimeoutError):
        return "unreachable", f"unreachable: cannot connect to {target.address} ({detail})"
    return "error", f"{target.address}: {detail}"


def flavour(version: str) -> str:
    """ "MariaDB" or "MySQL", from the server's VERSION()."""
    return "MariaDB" if "mariadb" in version.lower() else "MySQL"
