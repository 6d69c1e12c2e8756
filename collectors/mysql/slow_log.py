"""The slow-log reader: cumulative per-digest totals from ``mysql.slow_log``, for servers without
performance_schema digests and for statements the digest table cannot see (server-side prepares)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from collectors.mysql.digests import (
    SAMPLE_MAX_CHARS,
    DigestStat,
    normalize_sql,
    sql_digest,
    utc_or_none,
)
from collectors.mysql.target import fetch_all

__all__ = ["SlowLogReader"]

# Slow-log rows are read again this far behind the watermark (clock jitter), deduplicated by key.
_SLOW_LOG_OVERLAP = timedelta(seconds=5)


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
        seen = utc_or_none(row["start_time"])
        if seen is not None:
            self.first_seen = min(self.first_seen or seen, seen)
            if self.last_seen is None or seen >= self.last_seen:
                self.last_seen, self.sample_query = seen, str(row["sql_text"])[:SAMPLE_MAX_CHARS]


class SlowLogReader:
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
            fetch_all(conn, sql)
            if self.watermark is None
            else fetch_all(
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
            self.watermark = fetch_all(conn, "SELECT NOW(6) AS now_")[0]["now_"]
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
