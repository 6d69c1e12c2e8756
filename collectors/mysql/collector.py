"""The collector: one ``MySQLCollector`` per monitored server keeps the previous ``SHOW GLOBAL STATUS``
counters (rates need two readings) and the slow-log watermark. ``collect()`` returns a
``MySQLCollection`` of plain records and never raises: a down server or a missing privilege becomes
a message in ``errors``."""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pymysql

from collectors.base import Collection, Reading
from collectors.mysql.deadlocks import Deadlock, parse_deadlock
from collectors.mysql.digests import DigestSource, DigestStat, choose_source, ps_digest
from collectors.mysql.replication import ReplicationState, replication_state
from collectors.mysql.slow_log import SlowLogReader
from collectors.mysql.status import (
    SYSTEM_SCHEMAS,
    StatusSample,
    numeric_status,
    reading,
    size_readings,
    status_readings,
)
from collectors.mysql.target import (
    DigestSourceName,
    connect,
    describe_failure,
    error_code,
    fetch_all,
    parse_target,
)

__all__ = ["MySQLCollection", "MySQLCollector"]

log = logging.getLogger("vitals.collectors.mysql")

# How often table sizes are read: information_schema.TABLES is slow on big servers and sizes move slowly.
_SIZES_EVERY_S = 300.0
# How often the digest source is chosen again (someone may switch performance_schema or the slow log).
_SOURCE_RECHECK_S = 300.0

T = TypeVar("T")


@dataclass
class MySQLCollection(Collection):
    """One cycle of one server: its readings, plus the digests, the latest deadlock and replication."""

    digests: list[DigestStat] = field(default_factory=list)
    digest_source: DigestSourceName | None = None
    deadlock: Deadlock | None = None
    replication: ReplicationState | None = None


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
        self._slow_log = SlowLogReader()

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
            result.errors.append(describe_failure(exc, self.target)[1])
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
                reading("mysql.replication.lag_seconds", result.replication.lag_seconds, self.name)
            )
        return result

    def _connection(self) -> Any:
        if self._conn is not None:
            try:
                self._conn.ping(reconnect=False)
                return self._conn
            except Exception:
                self.close()
        self._conn = connect(self.target)
        return self._conn

    def _attempt(self, result: MySQLCollection, part: str, read: Callable[[], T]) -> T | None:
        try:
            return read()
        except Exception as exc:  # one failed part never breaks the cycle
            message = f"{self.name}: {part}: {exc.args[-1] if getattr(exc, 'args', None) else exc}"
            log.warning("mysql collector %s", message)
            result.errors.append(message)
            if isinstance(exc, pymysql.err.OperationalError) and error_code(exc) in {2006, 2013}:
                self.close()  # the connection is gone: reconnect next cycle
            return None

    def _status(self, conn: Any) -> list[Reading]:
        values = numeric_status(fetch_all(conn, "SHOW GLOBAL STATUS"))
        max_rows = fetch_all(conn, "SHOW GLOBAL VARIABLES LIKE 'max_connections'")
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
        rows = fetch_all(
            conn,
            "SELECT TABLE_SCHEMA AS schema_, TABLE_NAME AS table_,"
            " COALESCE(DATA_LENGTH, 0) + COALESCE(INDEX_LENGTH, 0) AS bytes"
            " FROM information_schema.TABLES WHERE TABLE_TYPE = 'BASE TABLE'"
            f" AND TABLE_SCHEMA NOT IN ({', '.join(['%s'] * len(SYSTEM_SCHEMAS))})",
            SYSTEM_SCHEMAS,
        )
        self._sizes_at = now
        return size_readings(self.name, rows)

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
            self._source, self._source_at = choose_source(conn), time.monotonic()
        return self._source

    def _ps_digests(self, conn: Any) -> list[DigestStat]:
        """Digests active since the last read (all of them the first time): idle ones need no new snapshot."""
        if self._ps_sample_column is None:
            self._ps_sample_column = bool(
                fetch_all(
                    conn,
                    "SELECT 1 FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'performance_schema'"
                    " AND TABLE_NAME = 'events_statements_summary_by_digest' AND COLUMN_NAME = 'QUERY_SAMPLE_TEXT'",
                )
            )
        started = fetch_all(conn, "SELECT NOW() AS now_")[0]["now_"]
        sql = (
            "SELECT SCHEMA_NAME, DIGEST, DIGEST_TEXT, COUNT_STAR, SUM_TIMER_WAIT, MAX_TIMER_WAIT,"
            " SUM_ROWS_EXAMINED, SUM_ROWS_SENT, FIRST_SEEN, LAST_SEEN"
            + (", QUERY_SAMPLE_TEXT" if self._ps_sample_column else "")
            + " FROM performance_schema.events_statements_summary_by_digest WHERE DIGEST IS NOT NULL"
        )
        if self._ps_since is not None:
            rows = fetch_all(conn, sql + " AND LAST_SEEN >= %s", (self._ps_since - timedelta(seconds=2),))
        else:
            rows = fetch_all(conn, sql)
        self._ps_since = started
        samples = self._history_samples(conn)
        return [ps_digest(row, samples) for row in rows]

    def _history_samples(self, conn: Any) -> dict[str, str]:
        """Real statements per digest from the statement history, when its consumer is enabled (else empty)."""
        try:
            rows = fetch_all(
                conn,
                "SELECT DIGEST, SQL_TEXT FROM performance_schema.events_statements_history"
                " WHERE DIGEST IS NOT NULL AND SQL_TEXT IS NOT NULL",
            )
        except pymysql.err.MySQLError:
            return {}
        return {str(row["DIGEST"]): str(row["SQL_TEXT"]) for row in rows}

    def _deadlock(self, conn: Any) -> Deadlock | None:
        rows = fetch_all(conn, "SHOW ENGINE INNODB STATUS")
        text = str(rows[0]["Status"]) if rows else ""
        if "LATEST DETECTED DEADLOCK" not in text:
            return None
        offset = fetch_all(
            conn,
            "SELECT TIMESTAMPDIFF(SECOND, UTC_TIMESTAMP(), CONVERT_TZ(UTC_TIMESTAMP(), '+00:00', 'SYSTEM')) AS s",
        )[0]["s"]
        return parse_deadlock(text, timedelta(seconds=int(offset or 0)))

    def _replication(self, conn: Any) -> ReplicationState:
        try:
            rows = fetch_all(conn, "SHOW REPLICA STATUS")
        except pymysql.err.ProgrammingError:  # before MySQL 8.0.22 / MariaDB 10.5.1
            rows = fetch_all(conn, "SHOW SLAVE STATUS")
        return replication_state(rows)
