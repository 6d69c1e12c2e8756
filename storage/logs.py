"""Log entries: the write path (parsed lines in bulk plus the file checkpoint that covers them, in one
transaction) and the reads (full-text search with filters).

Rows are plain tuples ``(ts_ms, level, channel, message, context, request_id)`` (the tailer's
``LogRecord`` is such a tuple). Like the sample path in ``storage.writes``, they go straight to the
DBAPI cursor's ``executemany``: SQLAlchemy Core's per-row parameter processing would cost more than
SQLite's own work (FTS5 indexing included) at the >= 50,000 lines/s this path is built for.

The checkpoint is advanced with a compare-and-set against the one the lines were read from, inside
the same transaction as the lines: a crash before the commit re-reads the same bytes next time, a
crash after it starts after them, and two processes that read the same bytes cannot both store
them (the second one's compare fails and its transaction is rolled back).
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from itertools import islice
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, Select, and_, select, text

from storage.engine import write_transaction
from storage.frames import check_choice
from storage.schema import log_checkpoints, log_entries
from storage.timeparse import TimeInput, resolve_range, to_millis, utc_now

__all__ = [
    "LOG_LEVELS",
    "CheckpointConflict",
    "LogRow",
    "LogsSection",
    "insert_log_rows",
    "load_checkpoints",
    "read_logs",
    "store_log_batch",
]

# (ts_ms, level, channel, message, context, request_id)
LogRow = tuple[int, str, str | None, str, Mapping[str, Any] | None, str | None]

_COLUMNS = "ts, host, source, level, channel, message, context, request_id"
_SQLITE_INSERT = f"INSERT INTO log_entries ({_COLUMNS}) VALUES "
_SQLITE_ROW = "(?,?,?,?,?,?,?,?)"
_MYSQL_INSERT = f"INSERT INTO log_entries ({_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s)"
# Rows per multi-row SQLite statement: 8 variables each, within even old builds' 999-variable limit.
_SQLITE_ROWS_PER_STATEMENT = 120
# Rows per PyMySQL executemany call (it packs them into multi-row INSERTs of <= ~1 MB itself).
_MYSQL_ROWS_PER_CALL = 5_000
# Column widths (schema.log_entries): MariaDB in strict mode rejects longer values outright.
_SOURCE_MAX, _LEVEL_MAX, _CHANNEL_MAX, _REQUEST_ID_MAX = 255, 16, 191, 64


class CheckpointConflict(RuntimeError):
    """The stored checkpoint moved since the lines were read: another process stored them already."""


def load_checkpoints(engine: Engine, host: str) -> dict[str, tuple[int, int]]:
    """path -> (inode, offset) of every file this host tails."""
    statement = select(log_checkpoints.c.path, log_checkpoints.c.inode, log_checkpoints.c.offset).where(
        log_checkpoints.c.host == host
    )
    with engine.connect() as conn:
        return {path: (int(inode), int(offset)) for path, inode, offset in conn.execute(statement)}


def store_log_batch(
    engine: Engine,
    host: str,
    source: str,
    rows: Sequence[LogRow],
    previous: tuple[int, int] | None,
    checkpoint: tuple[int, int],
) -> bool:
    """Store the rows read from ``source`` and move its checkpoint from ``previous`` to ``checkpoint``.

    Returns False, storing nothing, when the stored checkpoint is no longer ``previous``.
    """
    try:
        with write_transaction(engine) as conn:
            _advance_checkpoint(conn, host, source, previous, checkpoint)
            insert_log_rows(conn, host, source, rows)
    except CheckpointConflict:
        return False
    return True


def _advance_checkpoint(
    conn: Connection, host: str, path: str, previous: tuple[int, int] | None, checkpoint: tuple[int, int]
) -> None:
    values = {"inode": checkpoint[0], "offset": checkpoint[1], "updated_at": utc_now().replace(tzinfo=None)}
    key = and_(log_checkpoints.c.path == path, log_checkpoints.c.host == host)
    if previous is None:
        exists = conn.execute(select(log_checkpoints.c.inode).where(key)).first()
        if exists is not None:
            raise CheckpointConflict(path)
        conn.execute(log_checkpoints.insert().values(path=path, host=host, **values))
        return
    moved = conn.execute(
        log_checkpoints.update()
        .where(key, log_checkpoints.c.inode == previous[0], log_checkpoints.c.offset == previous[1])
        .values(**values)
    )
    if moved.rowcount != 1:
        raise CheckpointConflict(path)


def insert_log_rows(conn: Connection, host: str, source: str, rows: Sequence[LogRow]) -> int:
    """Bulk-insert rows into ``log_entries`` through the driver's cursor; returns how many."""
    if not rows:
        return 0
    dbapi: Any = conn.connection.driver_connection
    host, source = host[:_SOURCE_MAX], source[:_SOURCE_MAX]
    try:
        with conn.begin_nested():  # a savepoint: a failed batch leaves nothing half inserted
            _insert(conn.dialect.name, dbapi, _driver_rows(rows, host, source))
    except UnicodeEncodeError:
        # A lone surrogate (a JSON "\ud800" escape) cannot be encoded; rather than fail the file
        # forever, store the batch again with such characters replaced.
        _insert(conn.dialect.name, dbapi, _driver_rows([_clean(row) for row in rows], host, source))
    return len(rows)


def _insert(dialect: str, dbapi: Any, rows: list[tuple[Any, ...]]) -> None:
    cursor = dbapi.cursor()
    try:
        if dialect == "sqlite":
            _insert_sqlite(cursor, dbapi, rows)
        else:
            for start in range(0, len(rows), _MYSQL_ROWS_PER_CALL):
                cursor.executemany(_MYSQL_INSERT, rows[start : start + _MYSQL_ROWS_PER_CALL])
    finally:
        cursor.close()


def _insert_sqlite(cursor: Any, dbapi: Any, rows: list[tuple[Any, ...]]) -> None:
    try:
        max_variables = dbapi.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except AttributeError:  # Python < 3.11
        max_variables = 999
    per_statement = max(1, min(_SQLITE_ROWS_PER_STATEMENT, max_variables // 8))
    full = len(rows) - len(rows) % per_statement
    if full:
        sql = _SQLITE_INSERT + ",".join([_SQLITE_ROW] * per_statement)
        cursor.executemany(sql, _flattened(rows[:full], per_statement))
    if full < len(rows):
        cursor.executemany(_SQLITE_INSERT + _SQLITE_ROW, rows[full:])


def _flattened(rows: list[tuple[Any, ...]], per_statement: int) -> Iterator[list[Any]]:
    """Parameter lists of ``per_statement`` rows each, for one multi-row INSERT per list."""
    iterator = iter(rows)
    while chunk := list(islice(iterator, per_statement)):
        yield [value for row in chunk for value in row]


def _driver_rows(rows: Sequence[LogRow], host: str, source: str) -> list[tuple[Any, ...]]:
    return [
        (
            ts,
            host,
            source,
            level[:_LEVEL_MAX],
            channel[:_CHANNEL_MAX] if channel is not None else None,
            message,
            _context_json(context) if context else None,
            request_id[:_REQUEST_ID_MAX] if request_id is not None else None,
        )
        for ts, level, channel, message, context, request_id in rows
    ]


# One encoder, made once: json.dumps with any option builds a new encoder per call (~2 us a row).
# Strict JSON: MariaDB's JSON column checks JSON_VALID, which rejects NaN and Infinity.
_ENCODER = json.JSONEncoder(separators=(",", ":"), default=str, allow_nan=False)


def _context_json(context: Mapping[str, Any]) -> str:
    try:
        return _ENCODER.encode(context)
    except ValueError:
        return _ENCODER.encode({key: str(value) for key, value in context.items()})


def _clean(row: LogRow) -> LogRow:
    ts, level, channel, message, context, request_id = row

    def fix(text: str | None) -> str | None:
        return None if text is None else text.encode("utf-8", "replace").decode("utf-8")

    fixed_context = json.loads(fix(_context_json(context)) or "null") if context else None
    return (ts, level, fix(channel), fix(message) or "", fixed_context, fix(request_id))


# -- reading ----------------------------------------------------------------------------------

LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
_NO_END_MS = 2**62
_LOG_COLUMNS = ["id", "ts", "host", "source", "level", "channel", "message", "context", "request_id"]


def _full_text_ids(conn: Connection, query: str, start_ms: int, end_ms: int) -> Select:
    """Ids of log entries whose message matches ``query``; the full-text index drives the lookup."""
    if conn.dialect.name == "sqlite":
        # FTS5 phrase syntax: quote the words so user input is never parsed as FTS operators.
        phrase = " ".join('"' + word.replace('"', '""') + '"' for word in query.split())
        # CROSS JOIN makes SQLite start from the FTS match (PITFALLS: 29 ms -> 1.7 ms on 1M rows).
        return (
            select(log_entries.c.id)
            .select_from(
                text("log_entries_fts CROSS JOIN log_entries ON log_entries.id = log_entries_fts.rowid")
            )
            .where(
                text("log_entries_fts MATCH :phrase").bindparams(phrase=phrase),
                log_entries.c.ts >= start_ms,
                log_entries.c.ts < end_ms,
            )
        )
    words = " ".join("+" + word for word in query.replace('"', " ").split())
    return select(log_entries.c.id).where(
        text("MATCH (message) AGAINST (:words IN BOOLEAN MODE)").bindparams(words=words),
        log_entries.c.ts >= start_ms,
        log_entries.c.ts < end_ms,
    )


def read_logs(
    engine: Engine,
    query: str | None = None,
    level: str | None = None,
    since: TimeInput = "24h",
    until: TimeInput = None,
    host: str | None = None,
    source: str | None = None,
    request_id: str | None = None,
    limit: int = 1000,
) -> pd.DataFrame:
    """Log entries, newest first. ``query`` is full-text (all words must appear); ``level`` is a minimum."""
    if limit < 1:
        raise ValueError("limit: must be at least 1")
    level = check_choice("level", level, LOG_LEVELS)
    start, end = resolve_range(since, until)
    # Without an explicit end, show everything up to now and lines stamped a little ahead of this
    # clock (another host's clock, or the current millisecond).
    start_ms, end_ms = to_millis(start), (to_millis(end) if until is not None else _NO_END_MS)
    statement = select(*[log_entries.c[name] for name in _LOG_COLUMNS]).where(
        log_entries.c.ts >= start_ms, log_entries.c.ts < end_ms
    )
    if level is not None:
        statement = statement.where(log_entries.c.level.in_(LOG_LEVELS[LOG_LEVELS.index(level) :]))
    for column, value in (("host", host), ("source", source), ("request_id", request_id)):
        if value is not None:
            statement = statement.where(log_entries.c[column] == value)
    with engine.connect() as conn:
        if query and query.strip():
            statement = statement.where(log_entries.c.id.in_(_full_text_ids(conn, query, start_ms, end_ms)))
        rows = conn.execute(statement.order_by(log_entries.c.ts.desc(), log_entries.c.id.desc()).limit(limit))
        frame = pd.DataFrame(rows.all(), columns=_LOG_COLUMNS)
    frame["ts"] = pd.to_datetime(frame["ts"].astype("int64"), unit="ms", utc=True)
    return frame


class LogsSection:
    """``store.logs``: call it to search (``store.logs(query="timeout")``); its methods do the rest."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __call__(
        self,
        query: str | None = None,
        level: str | None = None,
        since: TimeInput = "24h",
        until: TimeInput = None,
        host: str | None = None,
        source: str | None = None,
        request_id: str | None = None,
        limit: int = 1000,
    ) -> pd.DataFrame:
        """Log entries, newest first: full-text ``query`` (every word must appear), ``level`` as a minimum
        (``"warning"`` also returns errors), and exact host, source and request id filters."""
        return read_logs(self._engine, query, level, since, until, host, source, request_id, limit)
