"""Statement digests: where they come from (performance_schema or the slow log), their normalized
text and identity, and the performance_schema rows as ``DigestStat`` records."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pymysql

from collectors.mysql.target import (
    CONNECT_TIMEOUT_S,
    DigestSourceName,
    connect,
    describe_failure,
    error_code,
    fetch_all,
    parse_target,
)

__all__ = [
    "SAMPLE_MAX_CHARS",
    "TOKEN",
    "DigestSource",
    "DigestStat",
    "choose_source",
    "digest_source",
    "normalize_sql",
    "performance_schema_problem",
    "ps_digest",
    "sql_digest",
    "utc_or_none",
]

SAMPLE_MAX_CHARS = 65_536


@dataclass(frozen=True)
class DigestSource:
    """Where statement digests come from; ``source`` is None when there is none, and ``message`` says why."""

    source: DigestSourceName | None
    message: str

    @property
    def ok(self) -> bool:
        return self.source is not None


def digest_source(url: str, timeout_s: float = CONNECT_TIMEOUT_S) -> DigestSource:
    """Check which digest source this server offers this user: performance_schema first, else the slow log."""
    try:
        target = parse_target(url)
    except ValueError as exc:
        return DigestSource(None, f"no digest source: {exc}")
    try:
        conn = connect(target, timeout_s, read_timeout_s=timeout_s)
    except Exception as exc:
        return DigestSource(None, f"no digest source: {describe_failure(exc, target)[1]}")
    try:
        return choose_source(conn)
    finally:
        conn.close()


def choose_source(conn: Any) -> DigestSource:
    ps_problem = performance_schema_problem(conn)
    if ps_problem is None:
        return DigestSource("performance_schema", "performance_schema statement digests")
    slow_problem = _slow_log_problem(conn)
    if slow_problem is None:
        return DigestSource("slow_log", f"mysql.slow_log table ({ps_problem})")
    return DigestSource(None, f"no digest source: {ps_problem} and {slow_problem}")


def current_user(conn: Any) -> str:
    return str(fetch_all(conn, "SELECT CURRENT_USER() AS u")[0]["u"])


def performance_schema_problem(conn: Any) -> str | None:
    """None when the digest summary is on and readable, else why not."""
    if int(fetch_all(conn, "SELECT @@performance_schema AS on_")[0]["on_"]) != 1:
        return "performance_schema is OFF"
    try:
        fetch_all(conn, "SELECT 1 FROM performance_schema.events_statements_summary_by_digest LIMIT 1")
        consumer = fetch_all(
            conn, "SELECT ENABLED FROM performance_schema.setup_consumers WHERE NAME = 'statements_digest'"
        )
    except pymysql.err.MySQLError as exc:
        if error_code(exc) in {1142, 1044, 1045}:
            return f"user {current_user(conn)} lacks SELECT on performance_schema"
        return f"performance_schema is not readable ({exc.args[-1]})"
    if consumer and str(consumer[0]["ENABLED"]).upper() != "YES":
        return "the performance_schema statements_digest consumer is disabled"
    return None


def _slow_log_problem(conn: Any) -> str | None:
    """None when the slow log is on, written to mysql.slow_log and readable, else why not."""
    row = fetch_all(conn, "SELECT @@log_output AS log_output, @@slow_query_log AS slow")[0]
    if "TABLE" not in str(row["log_output"]).upper():
        return "the slow log is not written to a table"
    if int(row["slow"]) != 1:
        return "the slow log is OFF (slow_query_log=0)"
    try:
        fetch_all(conn, "SELECT 1 FROM mysql.slow_log LIMIT 1")
    except pymysql.err.MySQLError:
        return f"user {current_user(conn)} lacks SELECT on mysql.slow_log"
    return None


@dataclass(frozen=True)
class DigestStat:
    """Cumulative counters of one statement digest, as the source reports them (not per interval)."""

    schema: str | None
    digest: str
    digest_text: str
    sample_query: str | None
    first_seen: datetime | None
    last_seen: datetime | None
    exec_count: int
    total_latency_ms: float
    max_latency_ms: float
    rows_examined: int
    rows_sent: int
    source: DigestSourceName = "performance_schema"


TOKEN = re.compile(
    r"""
    (?P<comment>/\*.*?\*/|--[^\n]*|\#[^\n]*)
  | (?P<ident>`(?:[^`]|``)*`)
  | (?P<string>'(?:[^'\\]|\\.|'')*'|"(?:[^"\\]|\\.|"")*")
  | (?P<hex>0x[0-9a-fA-F]+|[xX]'[0-9a-fA-F]*'|[bB]'[01]*')
  | (?P<number>(?<![\w$])\d+(?:\.\d*)?(?:[eE][-+]?\d+)?|(?<![\w$])\.\d+(?:[eE][-+]?\d+)?)
  | (?P<space>\s+)
  | (?P<word>[\w$@]+)
  | (?P<other>.)
    """,
    re.VERBOSE | re.DOTALL,
)
# "(?, ?, ?)" and multi-row "VALUES (?,?),(?,?)" collapse to one shape, whatever the number of values.
_ROW_OF_VALUES = r"\(\s*\?(?:\s*,\s*\?)*\s*\)"
_IN_LIST = re.compile(rf"\bin\s*{_ROW_OF_VALUES}")
_VALUES_ROWS = re.compile(rf"\bvalues?\s*{_ROW_OF_VALUES}(?:\s*,\s*{_ROW_OF_VALUES})*")


def normalize_sql(sql: str) -> str:
    """A digest text in the style of pt-query-digest: literals -> ?, IN lists and VALUES rows collapsed,
    comments dropped, whitespace collapsed, lower case outside quoted identifiers."""
    parts: list[str] = []
    for match in TOKEN.finditer(sql):
        kind, text = match.lastgroup, match.group()
        if kind == "comment":
            parts.append(" ")
        elif kind in {"string", "hex", "number"}:
            parts.append("?")
        elif kind == "space":
            parts.append(" ")
        elif kind == "ident":
            parts.append(text)
        else:
            parts.append(text.lower())
    normalized = " ".join("".join(parts).split()).rstrip("; ")
    normalized = _IN_LIST.sub("in (...)", normalized)
    return _VALUES_ROWS.sub("values (...)", normalized)


def sql_digest(normalized: str) -> str:
    """32 hex characters identifying a normalized statement (the length performance_schema uses on MariaDB)."""
    return hashlib.sha256(normalized.encode()).hexdigest()[:32]


def utc_or_none(moment: Any) -> datetime | None:
    """A naive DATETIME read in a UTC session -> aware UTC; zero dates (0000-00-00) -> None."""
    return moment.replace(tzinfo=UTC) if isinstance(moment, datetime) else None


def ps_digest(row: dict[str, Any], samples: dict[str, str]) -> DigestStat:
    sample = row.get("QUERY_SAMPLE_TEXT") or samples.get(row["DIGEST"])
    return DigestStat(
        schema=row["SCHEMA_NAME"],
        digest=str(row["DIGEST"]),
        digest_text=str(row["DIGEST_TEXT"] or ""),
        sample_query=sample[:SAMPLE_MAX_CHARS] if sample else None,
        first_seen=utc_or_none(row["FIRST_SEEN"]),
        last_seen=utc_or_none(row["LAST_SEEN"]),
        exec_count=int(row["COUNT_STAR"]),
        total_latency_ms=int(row["SUM_TIMER_WAIT"]) / 1e9,  # timers are in picoseconds
        max_latency_ms=int(row["MAX_TIMER_WAIT"]) / 1e9,
        rows_examined=int(row["SUM_ROWS_EXAMINED"]),
        rows_sent=int(row["SUM_ROWS_SENT"]),
    )
