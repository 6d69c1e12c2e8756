"""MySQL/MariaDB: status metrics, table sizes, statement digests, deadlocks, replication, probes, EXPLAIN.

One ``MySQLCollector`` per monitored server keeps the previous ``SHOW GLOBAL STATUS`` counters (rates
need two readings) and the slow-log watermark. ``collect()`` returns a ``MySQLCollection`` of plain
records and never raises: a down server or a missing privilege becomes a message in ``errors``.

Public, stable helpers that health checks and pages build on:

* ``probe(url) -> Probe``: can we connect and run a query? ``reason`` is one of ``"ok"``,
  ``"unreachable"``, ``"access_denied"``, ``"unknown_database"``, ``"error"``.
* ``digest_source(url) -> DigestSource``: where statement digests come from (``"performance_schema"``
  or ``"slow_log"``), or, with ``source=None``, a message saying exactly why there is none.
* ``explain(url, sql, timeout_s)``: ``EXPLAIN FORMAT=JSON`` of a read-only statement, with a timeout.

Target URLs look like ``mysql://user:password@host:3306/db?name=orders-primary``; ``name`` (default
``host:port``) and ``digest_source`` (force ``performance_schema`` or ``slow_log``) are Vitals'
own parameters and never reach the server.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit

import pymysql
import pymysql.cursors

from collectors.base import Reading

__all__ = [
    "MYSQL_METRICS",
    "Deadlock",
    "DigestSource",
    "DigestStat",
    "ExplainError",
    "ExplainRefused",
    "MySQLCollection",
    "MySQLCollector",
    "Probe",
    "ReplicationState",
    "StatusSample",
    "Target",
    "digest_source",
    "explain",
    "normalize_sql",
    "parse_deadlock",
    "parse_target",
    "probe",
    "read_only_refusal",
    "replication_state",
    "sql_digest",
    "status_readings",
]

log = logging.getLogger("vitals.collectors.mysql")

# The catalog of what this collector emits: name -> (unit, description). Every series has {target}.
MYSQL_METRICS: dict[str, tuple[str, str]] = {
    "mysql.queries_per_second": ("/s", "Statements executed per second (Queries counter)"),
    "mysql.transactions_per_second": ("/s", "Commits plus rollbacks per second"),
    "mysql.threads_connected": ("", "Open client connections"),
    "mysql.threads_running": ("", "Connections executing a statement right now"),
    "mysql.connections.percent": ("%", "Open connections as a share of max_connections"),
    "mysql.aborted_connects": ("", "Failed connection attempts during the interval"),
    "mysql.slow_queries_per_minute": ("/min", "Statements slower than long_query_time, per minute"),
    "mysql.innodb.buffer_pool_hit_percent": ("%", "InnoDB page reads served from the buffer pool"),
    "mysql.innodb.row_lock_waits": ("", "InnoDB row lock waits during the interval"),
    "mysql.innodb.row_lock_time_ms": ("ms", "Time spent waiting for InnoDB row locks during the interval"),
    "mysql.tmp_disk_tables": ("", "Internal temporary tables created on disk during the interval"),
    "mysql.schema.size_bytes": ("B", "Data plus index size per {schema}"),
    "mysql.table.size_bytes": (
        "B",
        "Data plus index size of the 50 largest tables, per {schema} and {table}",
    ),
    "mysql.replication.lag_seconds": (
        "s",
        "Replica lag behind its source (only where replication is set up)",
    ),
}

DigestSourceName = Literal["performance_schema", "slow_log"]
_DIGEST_SOURCES: tuple[DigestSourceName, ...] = ("performance_schema", "slow_log")
_SYSTEM_SCHEMAS = ("mysql", "information_schema", "performance_schema", "sys")
_LARGEST_TABLES = 50
_CONNECT_TIMEOUT_S = 5.0
_READ_TIMEOUT_S = 30.0
# How often table sizes are read: information_schema.TABLES is slow on big servers and sizes move slowly.
_SIZES_EVERY_S = 300.0
# How often the digest source is chosen again (someone may switch performance_schema or the slow log).
_SOURCE_RECHECK_S = 300.0
# Slow-log rows are read again this far behind the watermark (clock jitter), deduplicated by key.
_SLOW_LOG_OVERLAP = timedelta(seconds=5)
_SAMPLE_MAX_CHARS = 65_536

T = TypeVar("T")

# --- targets -----------------------------------------------------------------------------------


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
    if forced is not None and forced not in _DIGEST_SOURCES:
        raise ValueError(f"digest_source: {forced!r} is not one of {', '.join(_DIGEST_SOURCES)}")
    return Target(
        name=query.get("name") or f"{host}:{port}",
        host=host,
        port=port,
        user=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password else "",
        database=parts.path.lstrip("/") or None,
        digest_source=forced,
    )


def _connect(
    target: Target, timeout_s: float = _CONNECT_TIMEOUT_S, read_timeout_s: float = _READ_TIMEOUT_S
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


def _query(conn: Any, sql: str, args: Any = None) -> list[dict[str, Any]]:
    with conn.cursor() as cursor:
        cursor.execute(sql, args)
        return list(cursor.fetchall())


def _error_code(exc: BaseException) -> int | None:
    args = getattr(exc, "args", ())
    return args[0] if args and isinstance(args[0], int) else None


def _describe(exc: BaseException, target: Target) -> tuple[str, str]:
    """(reason, message) for a connection failure, in words an operator can act on."""
    code = _error_code(exc)
    detail = exc.args[1] if len(getattr(exc, "args", ())) > 1 else str(exc)
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


# --- probe and digest source ---------------------------------------------------------------------


@dataclass(frozen=True)
class Probe:
    """The answer of ``probe``: ``reason`` is ok, unreachable, access_denied, unknown_database or error."""

    ok: bool
    message: str
    latency_ms: float | None
    reason: str = "ok"


def probe(url: str, timeout_s: float = _CONNECT_TIMEOUT_S) -> Probe:
    """Connect and run ``SELECT VERSION()``; says what is wrong (unreachable, access denied, ...) if not."""
    try:
        target = parse_target(url)
    except ValueError as exc:
        return Probe(False, str(exc), None, "error")
    started = time.perf_counter()
    try:
        conn = _connect(target, timeout_s, read_timeout_s=timeout_s)
        try:
            version = _query(conn, "SELECT VERSION() AS v")[0]["v"]
        finally:
            conn.close()
    except Exception as exc:  # every driver or socket failure becomes a message
        reason, message = _describe(exc, target)
        return Probe(False, message, None, reason)
    latency_ms = (time.perf_counter() - started) * 1000
    return Probe(True, f"{target.name}: {_flavour(version)} {version} at {target.address}", latency_ms)


def _flavour(version: str) -> str:
    return "MariaDB" if "mariadb" in version.lower() else "MySQL"


@dataclass(frozen=True)
class DigestSource:
    """Where statement digests come from; ``source`` is None when there is none, and ``message`` says why."""

    source: DigestSourceName | None
    message: str

    @property
    def ok(self) -> bool:
        return self.source is not None


def digest_source(url: str, timeout_s: float = _CONNECT_TIMEOUT_S) -> DigestSource:
    """Check which digest source this server offers this user: performance_schema first, else the slow log."""
    try:
        target = parse_target(url)
    except ValueError as exc:
        return DigestSource(None, f"no digest source: {exc}")
    try:
        conn = _connect(target, timeout_s, read_timeout_s=timeout_s)
    except Exception as exc:
        return DigestSource(None, f"no digest source: {_describe(exc, target)[1]}")
    try:
        return _choose_source(conn)
    finally:
        conn.close()


def _choose_source(conn: Any) -> DigestSource:
    ps_problem = _performance_schema_problem(conn)
    if ps_problem is None:
        return DigestSource("performance_schema", "performance_schema statement digests")
    slow_problem = _slow_log_problem(conn)
    if slow_problem is None:
        return DigestSource("slow_log", f"mysql.slow_log table ({ps_problem})")
    return DigestSource(None, f"no digest source: {ps_problem} and {slow_problem}")


def _current_user(conn: Any) -> str:
    return str(_query(conn, "SELECT CURRENT_USER() AS u")[0]["u"])


def _performance_schema_problem(conn: Any) -> str | None:
    """None when the digest summary is on and readable, else why not."""
    if int(_query(conn, "SELECT @@performance_schema AS on_")[0]["on_"]) != 1:
        return "performance_schema is OFF"
    try:
        _query(conn, "SELECT 1 FROM performance_schema.events_statements_summary_by_digest LIMIT 1")
        consumer = _query(
            conn, "SELECT ENABLED FROM performance_schema.setup_consumers WHERE NAME = 'statements_digest'"
        )
    except pymysql.err.MySQLError as exc:
        if _error_code(exc) in {1142, 1044, 1045}:
            return f"user {_current_user(conn)} lacks SELECT on performance_schema"
        return f"performance_schema is not readable ({exc.args[-1]})"
    if consumer and str(consumer[0]["ENABLED"]).upper() != "YES":
        return "the performance_schema statements_digest consumer is disabled"
    return None


def _slow_log_problem(conn: Any) -> str | None:
    """None when the slow log is on, written to mysql.slow_log and readable, else why not."""
    row = _query(conn, "SELECT @@log_output AS log_output, @@slow_query_log AS slow")[0]
    if "TABLE" not in str(row["log_output"]).upper():
        return "the slow log is not written to a table"
    if int(row["slow"]) != 1:
        return "the slow log is OFF (slow_query_log=0)"
    try:
        _query(conn, "SELECT 1 FROM mysql.slow_log LIMIT 1")
    except pymysql.err.MySQLError:
        return f"user {_current_user(conn)} lacks SELECT on mysql.slow_log"
    return None


# --- status metrics ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StatusSample:
    """One ``SHOW GLOBAL STATUS`` reading: ``at`` is a monotonic clock, ``values`` the numeric counters."""

    at: float
    values: dict[str, float]
    max_connections: float | None = None


# metric -> (counters summed, scale): the value is delta(sum) * scale, or / seconds when per_second.
_RATES: dict[str, tuple[tuple[str, ...], str]] = {
    "mysql.queries_per_second": (("Queries",), "per_second"),
    "mysql.transactions_per_second": (("Com_commit", "Com_rollback"), "per_second"),
    "mysql.slow_queries_per_minute": (("Slow_queries",), "per_minute"),
    "mysql.aborted_connects": (("Aborted_connects",), "per_interval"),
    "mysql.innodb.row_lock_waits": (("Innodb_row_lock_waits",), "per_interval"),
    "mysql.innodb.row_lock_time_ms": (("Innodb_row_lock_time",), "per_interval"),
    "mysql.tmp_disk_tables": (("Created_tmp_disk_tables",), "per_interval"),
}


def _reading(metric: str, value: float, target: str, **labels: str) -> Reading:
    return Reading(metric, float(value), {"target": target, **labels}, MYSQL_METRICS[metric][0])


def status_readings(target: str, before: StatusSample | None, after: StatusSample) -> list[Reading]:
    """Gauges from ``after``; rates and per-interval counts from ``before`` -> ``after`` when there is one.

    A counter that went down (server restart, FLUSH STATUS) skips one interval instead of going negative.
    """
    values = after.values
    readings = [
        _reading(metric, values[name], target)
        for metric, name in (
            ("mysql.threads_connected", "Threads_connected"),
            ("mysql.threads_running", "Threads_running"),
        )
        if name in values
    ]
    if after.max_connections and "Threads_connected" in values:
        percent = 100.0 * values["Threads_connected"] / after.max_connections
        readings.append(_reading("mysql.connections.percent", percent, target))
    if before is None or after.at <= before.at:
        return readings
    elapsed = after.at - before.at
    for metric, (names, scale) in _RATES.items():
        delta = _delta(before.values, values, names)
        if delta is None:
            continue
        value = (
            delta / elapsed
            if scale == "per_second"
            else delta * 60 / elapsed
            if scale == "per_minute"
            else delta
        )
        readings.append(_reading(metric, value, target))
    requests = _delta(before.values, values, ("Innodb_buffer_pool_read_requests",))
    disk_reads = _delta(before.values, values, ("Innodb_buffer_pool_reads",))
    if requests and disk_reads is not None:  # no logical reads in the interval: no ratio to report
        hit = 100.0 * max(0.0, 1.0 - disk_reads / requests)
        readings.append(_reading("mysql.innodb.buffer_pool_hit_percent", hit, target))
    return readings


def _delta(before: dict[str, float], after: dict[str, float], names: tuple[str, ...]) -> float | None:
    if any(name not in before or name not in after for name in names):
        return None
    delta = sum(after[name] - before[name] for name in names)
    return delta if delta >= 0 else None


def _numeric_status(rows: list[dict[str, Any]]) -> dict[str, float]:
    values: dict[str, float] = {}
    for row in rows:
        try:
            values[str(row["Variable_name"])] = float(row["Value"])
        except (TypeError, ValueError):
            continue  # ON/OFF and text variables are not counters
    return values


def _size_readings(target: str, rows: list[dict[str, Any]]) -> list[Reading]:
    """Schema totals from every table, plus the largest tables one by one."""
    per_schema: dict[str, float] = {}
    for row in rows:
        per_schema[row["schema_"]] = per_schema.get(row["schema_"], 0.0) + float(row["bytes"])
    readings = [
        _reading("mysql.schema.size_bytes", size, target, schema=name) for name, size in per_schema.items()
    ]
    largest = sorted(rows, key=lambda row: float(row["bytes"]), reverse=True)[:_LARGEST_TABLES]
    readings += [
        _reading(
            "mysql.table.size_bytes", float(row["bytes"]), target, schema=row["schema_"], table=row["table_"]
        )
        for row in largest
    ]
    return readings


# --- statement digests --------------------------------------------------------------------------


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


_TOKEN = re.compile(
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
    for match in _TOKEN.finditer(sql):
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


def _utc(moment: Any) -> datetime | None:
    """A naive DATETIME read in a UTC session -> aware UTC; zero dates (0000-00-00) -> None."""
    return moment.replace(tzinfo=UTC) if isinstance(moment, datetime) else None


def _ps_digest(row: dict[str, Any], samples: dict[str, str]) -> DigestStat:
    sample = row.get("QUERY_SAMPLE_TEXT") or samples.get(row["DIGEST"])
    return DigestStat(
        schema=row["SCHEMA_NAME"],
        digest=str(row["DIGEST"]),
        digest_text=str(row["DIGEST_TEXT"] or ""),
        sample_query=sample[:_SAMPLE_MAX_CHARS] if sample else None,
        first_seen=_utc(row["FIRST_SEEN"]),
        last_seen=_utc(row["LAST_SEEN"]),
        exec_count=int(row["COUNT_STAR"]),
        total_latency_ms=int(row["SUM_TIMER_WAIT"]) / 1e9,  # timers are in picoseconds
        max_latency_ms=int(row["MAX_TIMER_WAIT"]) / 1e9,
        rows_examined=int(row["SUM_ROWS_EXAMINED"]),
        rows_sent=int(row["SUM_ROWS_SENT"]),
    )


@dataclass
class _SlowLogTotals:
    """Running totals of one normalized statement, built from mysql.slow_log rows."""

    schema: str | None
    digest_text: str
    sample_query: str
    first_seen: datetime | None
    last_seen: datetime | None
    exec_count: int = 0
    total_latency_ms: float = 0.0
    max_latency_ms: float = 0.0
    rows_examined: int = 0
    rows_sent: int = 0

    def add(self, row: dict[str, Any]) -> None:
        latency_ms = float(row["seconds"] or 0) * 1000
        self.exec_count += 1
        self.total_latency_ms += latency_ms
        self.max_latency_ms = max(self.max_latency_ms, latency_ms)
        self.rows_examined += int(row["rows_examined"])
        self.rows_sent += int(row["rows_sent"])
        seen = _utc(row["start_time"])
        if seen is not None:
            self.first_seen = min(self.first_seen or seen, seen)
            if self.last_seen is None or seen >= self.last_seen:
                self.last_seen, self.sample_query = seen, str(row["sql_text"])[:_SAMPLE_MAX_CHARS]


class _SlowLogReader:
    """Cumulative per-digest totals from mysql.slow_log, read incrementally by statement end time.

    The first read takes the whole table (so a restarted collector reports the same totals as before);
    later reads take rows that ended after the watermark minus a small overlap, deduplicated by key.
    """

    def __init__(self) -> None:
        self.totals: dict[tuple[str | None, str], _SlowLogTotals] = {}
        self.watermark: datetime | None = None
        self.seen: dict[tuple[Any, ...], datetime] = {}

    def read(self, conn: Any) -> list[DigestStat]:
        sql = (
            "SELECT start_time, TIME_TO_SEC(query_time) AS seconds, ADDTIME(start_time, query_time) AS ended,"
            " rows_sent, rows_examined, db, sql_text, thread_id FROM mysql.slow_log"
        )
        rows = (
            _query(conn, sql)
            if self.watermark is None
            else _query(
                conn,
                sql + " WHERE ADDTIME(start_time, query_time) >= %s",
                (self.watermark - _SLOW_LOG_OVERLAP,),
            )
        )
        changed: set[tuple[str | None, str]] = set()
        for row in rows:
            key = (row["start_time"], row["thread_id"], row["sql_text"])
            if key in self.seen:
                continue
            self.seen[key] = row["ended"]
            changed.add(self._add(row))
            if self.watermark is None or row["ended"] > self.watermark:
                self.watermark = row["ended"]
        if self.watermark is None:
            self.watermark = _query(conn, "SELECT NOW(6) AS now_")[0]["now_"]
        cutoff = self.watermark - _SLOW_LOG_OVERLAP
        self.seen = {key: ended for key, ended in self.seen.items() if ended >= cutoff}
        return [self._stat(key) for key in changed]

    def _add(self, row: dict[str, Any]) -> tuple[str | None, str]:
        schema = row["db"] or None
        normalized = normalize_sql(str(row["sql_text"]))
        key = (schema, normalized)
        if key not in self.totals:
            self.totals[key] = _SlowLogTotals(schema, normalized, str(row["sql_text"]), None, None)
        self.totals[key].add(row)
        return key

    def _stat(self, key: tuple[str | None, str]) -> DigestStat:
        totals = self.totals[key]
        return DigestStat(
            schema=totals.schema,
            digest=sql_digest(totals.digest_text),
            digest_text=totals.digest_text,
            sample_query=totals.sample_query,
            first_seen=totals.first_seen,
            last_seen=totals.last_seen,
            exec_count=totals.exec_count,
            total_latency_ms=totals.total_latency_ms,
            max_latency_ms=totals.max_latency_ms,
            rows_examined=totals.rows_examined,
            rows_sent=totals.rows_sent,
            source="slow_log",
        )


# --- deadlocks ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deadlock:
    """The latest deadlock InnoDB reports; ``fingerprint`` is the same every time the same one is read."""

    detected_at: datetime | None
    victim: str | None
    transactions: list[dict[str, Any]]
    raw_text: str
    fingerprint: str


_SECTION = re.compile(r"LATEST DETECTED DEADLOCK\n-+\n(?P<body>.*?)\n-{3,}\n[A-Z][A-Z /]+\n", re.DOTALL)
_TRX_HEADER = re.compile(r"^\*\*\* \((?P<n>\d+)\) TRANSACTION:\s*$", re.MULTILINE)
_TRX_ID = re.compile(r"^TRANSACTION (?P<id>\d+)", re.MULTILINE)
_THREAD = re.compile(r"^(?:MySQL|MariaDB) thread id (?P<id>\d+),.*$", re.MULTILINE)
_LOCK_HEADING = re.compile(
    r"^\*\*\* (?:\(\d+\) )?(?P<what>HOLDS THE LOCK\(S\)|WAITING FOR THIS LOCK TO BE GRANTED|CONFLICTING WITH):\s*$"
)
_LOCK_LINE = re.compile(r"^(?P<kind>RECORD|TABLE) LOCKS? ")
_VICTIM = re.compile(r"^\*\*\* WE ROLL BACK TRANSACTION \((?P<n>\d+)\)", re.MULTILINE)
_LOCK_FIELDS = re.compile(
    r"(?:index (?P<index>\S+) of )?table (?P<table>`[^`]*`(?:\.`[^`]*`)?)\s+trx id (?P<trx>\d+)\s+(?:lock[_ ]mode )?(?P<mode>.*)$"
)
_SECTION_KEYS = {
    "HOLDS THE LOCK(S)": "holds",
    "WAITING FOR THIS LOCK TO BE GRANTED": "waits_for",
    "CONFLICTING WITH": "conflicts_with",
}


def parse_deadlock(status_text: str, utc_offset: timedelta = timedelta(0)) -> Deadlock | None:
    """The "LATEST DETECTED DEADLOCK" section of ``SHOW ENGINE INNODB STATUS``, or None if there is none.

    InnoDB prints the time in the server's local time: ``utc_offset`` (local minus UTC) turns it into UTC.
    Each transaction: number, trx_id, thread_id, query, and its locks (holds, waits_for, conflicts_with);
    MariaDB prints only the waited and conflicting locks, so "holds" also gets the conflicting locks
    that belong to that transaction's trx id.
    """
    section = _SECTION.search(status_text.replace("\r\n", "\n"))
    if section is None:
        return None
    body = section.group("body").strip("\n")
    victim = _VICTIM.search(body)
    transactions = _parse_transactions(body)
    for trx in transactions:
        trx["victim"] = victim is not None and str(trx["number"]) == victim.group("n")
    return Deadlock(
        detected_at=_deadlock_time(body, utc_offset),
        victim=victim.group("n") if victim else None,
        transactions=transactions,
        raw_text=body,
        fingerprint=hashlib.sha256(" ".join(body.split()).encode()).hexdigest(),
    )


def _deadlock_time(body: str, utc_offset: timedelta) -> datetime | None:
    try:
        local = datetime.strptime(body.lstrip()[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return (local - utc_offset).replace(tzinfo=UTC)


def _parse_transactions(body: str) -> list[dict[str, Any]]:
    headers = list(_TRX_HEADER.finditer(body))
    victim = _VICTIM.search(body)
    end_of_last = victim.start() if victim else len(body)
    transactions = []
    for position, header in enumerate(headers):
        end = headers[position + 1].start() if position + 1 < len(headers) else end_of_last
        transactions.append(_parse_transaction(int(header.group("n")), body[header.end() : end]))
    by_trx = {trx["trx_id"]: trx for trx in transactions}
    for trx in transactions:
        for lock in trx["conflicts_with"]:
            holder = by_trx.get(lock.get("trx_id"))
            if holder is not None and lock not in holder["holds"]:
                holder["holds"].append(lock)
    return transactions


def _parse_transaction(number: int, text: str) -> dict[str, Any]:
    trx_id = _TRX_ID.search(text)
    thread = _THREAD.search(text)
    query_lines: list[str] = []
    locks: dict[str, list[dict[str, Any]]] = {"holds": [], "waits_for": [], "conflicts_with": []}
    current: str | None = None
    after_thread = False
    for line in text.split("\n"):
        heading = _LOCK_HEADING.match(line)
        if heading:
            current, after_thread = _SECTION_KEYS[heading.group("what")], False
        elif thread and line == thread.group(0):
            after_thread = True
        elif after_thread and current is None:
            query_lines.append(line)
        elif current is not None and _LOCK_LINE.match(line):
            locks[current].append(_parse_lock(line))
    return {
        "number": number,
        "trx_id": trx_id.group("id") if trx_id else None,
        "thread_id": int(thread.group("id")) if thread else None,
        "query": "\n".join(query_lines).strip() or None,
        **locks,
    }


def _parse_lock(line: str) -> dict[str, Any]:
    kind = _LOCK_LINE.match(line)
    fields = _LOCK_FIELDS.search(line)
    lock: dict[str, Any] = {"kind": kind.group("kind").lower() if kind else None, "text": line.strip()}
    if fields:
        lock.update(
            table=fields.group("table"),
            index=fields.group("index"),
            trx_id=fields.group("trx"),
            mode=fields.group("mode").strip(),
        )
    return lock


# --- replication --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReplicationState:
    """Replica status; ``configured=False`` means this server is no replica (not an error)."""

    configured: bool
    lag_seconds: float | None = None
    io_running: str | None = None
    sql_running: str | None = None
    last_error: str | None = None


def _first(row: dict[str, Any], *names: str) -> Any:
    for name in names:
        if row.get(name) not in (None, ""):
            return row[name]
    return None


def replication_state(rows: list[dict[str, Any]]) -> ReplicationState:
    """``SHOW REPLICA STATUS`` (or SLAVE) rows -> state; MySQL 8.0.22+ and MariaDB column names both work."""
    if not rows:
        return ReplicationState(configured=False)
    row = rows[0]
    lag = _first(row, "Seconds_Behind_Source", "Seconds_Behind_Master")
    return ReplicationState(
        configured=True,
        lag_seconds=float(lag) if lag is not None else None,
        io_running=_first(row, "Replica_IO_Running", "Slave_IO_Running"),
        sql_running=_first(row, "Replica_SQL_Running", "Slave_SQL_Running"),
        last_error=_first(row, "Last_IO_Error", "Last_SQL_Error", "Last_Error"),
    )


# --- the collector ------------------------------------------------------------------------------


@dataclass
class MySQLCollection:
    """What one cycle read from one target. ``errors`` holds one message per part that failed."""

    target: str
    readings: list[Reading] = field(default_factory=list)
    digests: list[DigestStat] = field(default_factory=list)
    digest_source: DigestSourceName | None = None
    deadlock: Deadlock | None = None
    replication: ReplicationState | None = None
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


class MySQLCollector:
    """Reads one server; keeps its connection, previous counters and slow-log position between cycles."""

    def __init__(
        self,
        url: str,
        *,
        digest_source: DigestSourceName | None = None,
        sizes_every_s: float = _SIZES_EVERY_S,
    ) -> None:
        self.target = parse_target(url)
        self._forced_source = digest_source or self.target.digest_source
        self._sizes_every_s = sizes_every_s
        self._conn: Any = None
        self._previous: StatusSample | None = None
        self._sizes_at: float | None = None
        self._source: DigestSource | None = None
        self._source_at = 0.0
        self._ps_since: datetime | None = None
        self._ps_sample_column: bool | None = None
        self._slow_log = _SlowLogReader()

    @property
    def name(self) -> str:
        return self.target.name

    def close(self) -> None:
        if self._conn is not None:
            with contextlib.suppress(Exception):  # closing a dead connection may fail; it is gone anyway
                self._conn.close()
            self._conn = None

    def collect(self) -> MySQLCollection:
        """Everything that can be read this cycle; a failing part is reported in ``errors`` and skipped."""
        result = MySQLCollection(self.target.name)
        try:
            conn = self._connection()
        except Exception as exc:
            result.errors.append(_describe(exc, self.target)[1])
            return result
        result.readings += self._attempt(result, "status", lambda: self._status(conn)) or []
        result.readings += self._attempt(result, "sizes", lambda: self._sizes(conn)) or []
        result.digests = self._attempt(result, "digests", lambda: self._digests(conn, result)) or []
        result.deadlock = self._attempt(result, "deadlocks", lambda: self._deadlock(conn))
        result.replication = self._attempt(result, "replication", lambda: self._replication(conn))
        if (
            result.replication
            and result.replication.configured
            and result.replication.lag_seconds is not None
        ):
            result.readings.append(
                _reading("mysql.replication.lag_seconds", result.replication.lag_seconds, self.name)
            )
        return result

    def _connection(self) -> Any:
        if self._conn is not None:
            try:
                self._conn.ping(reconnect=False)
                return self._conn
            except Exception:
                self.close()
        self._conn = _connect(self.target)
        return self._conn

    def _attempt(self, result: MySQLCollection, part: str, read: Callable[[], T]) -> T | None:
        try:
            return read()
        except Exception as exc:  # one failed part never breaks the cycle
            message = f"{self.name}: {part}: {exc.args[-1] if getattr(exc, 'args', None) else exc}"
            log.warning("mysql collector %s", message)
            result.errors.append(message)
            if isinstance(exc, pymysql.err.OperationalError) and _error_code(exc) in {2006, 2013}:
                self.close()  # the connection is gone: reconnect next cycle
            return None

    def _status(self, conn: Any) -> list[Reading]:
        values = _numeric_status(_query(conn, "SHOW GLOBAL STATUS"))
        max_rows = _query(conn, "SHOW GLOBAL VARIABLES LIKE 'max_connections'")
        max_connections = float(max_rows[0]["Value"]) if max_rows else None
        sample = StatusSample(time.monotonic(), values, max_connections)
        before, self._previous = self._previous, sample
        if before is not None and values.get("Uptime", 0) < before.values.get("Uptime", 0):
            before = None  # the server restarted: every counter starts again
        return status_readings(self.name, before, sample)

    def _sizes(self, conn: Any) -> list[Reading]:
        now = time.monotonic()
        if self._sizes_at is not None and now - self._sizes_at < self._sizes_every_s:
            return []
        rows = _query(
            conn,
            "SELECT TABLE_SCHEMA AS schema_, TABLE_NAME AS table_,"
            " COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0) AS bytes"
            " FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE'"
            f" AND TABLE_SCHEMA NOT IN ({', '.join(['%s'] * len(_SYSTEM_SCHEMAS))})",
            _SYSTEM_SCHEMAS,
        )
        self._sizes_at = now
        return _size_readings(self.name, rows)

    def _digests(self, conn: Any, result: MySQLCollection) -> list[DigestStat]:
        source = self._current_source(conn)
        result.digest_source = source.source
        if source.source is None:
            raise RuntimeError(source.message)
        if source.source == "slow_log":
            return self._slow_log.read(conn)
        return self._ps_digests(conn)

    def _current_source(self, conn: Any) -> DigestSource:
        if self._forced_source is not None:
            return DigestSource(self._forced_source, f"forced: {self._forced_source}")
        if self._source is None or time.monotonic() - self._source_at > _SOURCE_RECHECK_S:
            self._source, self._source_at = _choose_source(conn), time.monotonic()
        return self._source

    def _ps_digests(self, conn: Any) -> list[DigestStat]:
        """Digests active since the last read (all of them the first time): idle ones need no new snapshot."""
        if self._ps_sample_column is None:
            self._ps_sample_column = bool(
                _query(
                    conn,
                    "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'performance_schema'"
                    " AND TABLE_NAME = 'events_statements_summary_by_digest' AND COLUMN_NAME = 'QUERY_SAMPLE_TEXT'",
                )
            )
        started = _query(conn, "SELECT NOW() AS now_")[0]["now_"]
        sql = (
            "SELECT SCHEMA_NAME, DIGEST, DIGEST_TEXT, COUNT_STAR, SUM_TIMER_WAIT, MAX_TIMER_WAIT,"
            " SUM_ROWS_EXAMINED, SUM_ROWS_SENT, FIRST_SEEN, LAST_SEEN"
            + (", QUERY_SAMPLE_TEXT" if self._ps_sample_column else "")
            + " FROM performance_schema.events_statements_summary_by_digest WHERE DIGEST IS NOT NULL"
        )
        if self._ps_since is not None:
            rows = _query(conn, sql + " AND LAST_SEEN >= %s", (self._ps_since - timedelta(seconds=2),))
        else:
            rows = _query(conn, sql)
        self._ps_since = started
        samples = self._history_samples(conn)
        return [_ps_digest(row, samples) for row in rows]

    def _history_samples(self, conn: Any) -> dict[str, str]:
        """Real statements per digest from the statement history, when its consumer is enabled (else empty)."""
        try:
            rows = _query(
                conn,
                "SELECT DIGEST, SQL_TEXT FROM performance_schema.events_statements_history"
                " WHERE DIGEST IS NOT NULL AND SQL_TEXT IS NOT NULL",
            )
        except pymysql.err.MySQLError:
            return {}
        return {str(row["DIGEST"]): str(row["SQL_TEXT"]) for row in rows}

    def _deadlock(self, conn: Any) -> Deadlock | None:
        rows = _query(conn, "SHOW ENGINE INNODB STATUS")
        text = str(rows[0]["Status"]) if rows else ""
        if "LATEST DETECTED DEADLOCK" not in text:
            return None
        offset = _query(
            conn,
            "SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), CONVERT_TZ(UTC_TIMESTAMP(), '+00:00', 'SYSTEM')) AS s",
        )[0]["s"]
        return parse_deadlock(text, timedelta(seconds=int(offset or 0)))

    def _replication(self, conn: Any) -> ReplicationState:
        try:
            rows = _query(conn, "SHOW REPLICA STATUS")
        except pymysql.err.ProgrammingError:  # before MySQL 8.0.22 / MariaDB 10.5.1
            rows = _query(conn, "SHOW SLAVE STATUS")
        return replication_state(rows)


# --- EXPLAIN ------------------------------------------------------------------------------------


class ExplainRefused(ValueError):
    """The statement is not one Vitals will EXPLAIN (not read-only, several statements, placeholders)."""


class ExplainError(RuntimeError):
    """EXPLAIN ran but failed: timeout, syntax error, missing table, unreachable server."""


_READ_ONLY_FIRST = {"select", "with"}
_WRITE_WORDS = {"insert", "update", "delete", "replace", "into", "create", "drop", "alter", "truncate",
                "grant", "revoke", "set", "call", "load", "handler", "lock", "unlock", "rename"}  # fmt: skip


_LOCKING_READ = re.compile(r"\bfor (?:update|share)\b|\block in share mode\b")


def _code_tokens(sql: str) -> Iterator[tuple[str, str]]:
    """(kind, text) of the tokens outside comments; strings and quoted identifiers come as one token."""
    for match in _TOKEN.finditer(sql):
        kind = match.lastgroup or "other"
        if kind not in {"comment", "space"}:
            yield kind, match.group()


def read_only_refusal(sql: str) -> str | None:
    """None when ``sql`` is one read-only SELECT (or WITH ... SELECT) with real values; else why not."""
    tokens = list(_code_tokens(sql))
    while tokens and tokens[-1] == ("other", ";"):
        tokens.pop()
    if not tokens:
        return "refused: the statement is empty"
    if ("other", ";") in tokens:
        return "refused: only one statement can be explained, this text holds several"
    # Locking reads are harmless under EXPLAIN (nothing runs), so their UPDATE/SHARE words are allowed.
    words = _LOCKING_READ.sub(" ", " ".join(text.lower() for kind, text in tokens if kind == "word")).split()
    first = next((text.lower() for kind, text in tokens if kind == "word"), "")
    if first not in _READ_ONLY_FIRST:
        return f"refused: only read-only SELECT statements are explained, not {first.upper() or 'this'}"
    writes = sorted(_WRITE_WORDS.intersection(words))
    if writes:
        return (
            f"refused: only read-only SELECT statements are explained; this one contains {writes[0].upper()}"
        )
    if ("other", "?") in tokens:
        return "refused: the statement has ? placeholders (a normalized digest); EXPLAIN needs a sample with real values"
    return None


def explain(url: str, sql: str, timeout_s: float = 5.0, schema: str | None = None) -> str:
    """``EXPLAIN FORMAT=JSON`` of one read-only statement, killed by the server after ``timeout_s``.

    Returns the plan as JSON text. Raises ``ExplainRefused`` before connecting when the statement is
    not a single read-only SELECT, and ``ExplainError`` (with the reason) when EXPLAIN fails.
    """
    refusal = read_only_refusal(sql)
    if refusal is not None:
        raise ExplainRefused(refusal)
    if timeout_s <= 0:
        raise ValueError("timeout_s: must be greater than zero")
    target = parse_target(url)
    statement = sql.strip().rstrip(";").strip()
    try:
        conn = _connect(target, read_timeout_s=timeout_s + 5)
    except Exception as exc:
        raise ExplainError(_describe(exc, target)[1]) from None
    try:
        if schema:
            conn.select_db(schema)
        version = _query(conn, "SELECT VERSION() AS v")[0]["v"]
        rows = _query(conn, _explain_statement(statement, version, timeout_s))
    except pymysql.err.MySQLError as exc:
        if _error_code(exc) in {1969, 3024, 1317}:
            raise ExplainError(f"EXPLAIN took longer than {timeout_s:g} s and was stopped") from None
        raise ExplainError(f"EXPLAIN failed: {exc.args[-1]}") from None
    finally:
        conn.close()
    return str(next(iter(rows[0].values())))


def _explain_statement(statement: str, version: str, timeout_s: float) -> str:
    if _flavour(version) == "MariaDB":
        return f"SET STATEMENT max_statement_time={timeout_s:g} FOR EXPLAIN FORMAT=JSON {statement}"
    hinted = re.sub(r"^(\s*(?:with\b.*?\)\s*)?select\b)", rf"\1 /*+ MAX_EXECUTION_TIME({int(timeout_s * 1000)}) */", statement, count=1, flags=re.IGNORECASE | re.DOTALL)  # fmt: skip
    return f"EXPLAIN FORMAT=JSON {hinted}"
