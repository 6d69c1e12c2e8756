"""Log entries: the write path (parsed lines in bulk plus the file checkpoint that covers them, in one
transaction) and the reads (full-text search with filters).

Rows are plain tuples ``(ts_ms, level, channel, message, context, request_id[, inode, offset])``
(the tailer's ``LogRecord`` is such a tuple; the file position is what context lines are read by). Like the sample path in ``storage.writes``, they go straight to the
DBAPI cursor's ``executemany``: SQLAlchemy Core's per-row parameter processing would cost more than
SQLite's own work (FTS5 indexing included) at the >= 50,000 lines/s this path is built for.

The checkpoint is advanced with a compare-and-set against the one the lines were read from, inside
the same transaction as the lines: a crash before the commit re-reads the same bytes next time, a
crash after it starts after them, and two processes that read the same bytes cannot both store
them (the second one's compare fails and its transaction is rolled back).
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from itertools import islice
from typing import Any

import pandas as pd
from sqlalchemy import (
    Connection,
    Engine,
    Integer,
    Select,
    String,
    and_,
    func,
    literal_column,
    or_,
    select,
    text,
)
from sqlalchemy.exc import OperationalError

from storage.engine import write_transaction
from storage.frames import check_choice
from storage.schema import log_checkpoints, log_counts, log_entries
from storage.timeparse import TimeInput, resolve_range, to_millis, utc_now

__all__ = [
    "LOG_LEVELS",
    "CheckpointConflict",
    "LogFilter",
    "LogRow",
    "LogsSection",
    "insert_log_rows",
    "load_checkpoints",
    "make_filter",
    "read_logs",
    "search_page",
    "search_terms",
    "store_log_batch",
]

# (ts_ms, level, channel, message, context, request_id) plus, from the tailer, (file inode, offset)
LogRow = tuple[Any, ...]

_COLUMNS = "ts, host, source, level, channel, message, context, request_id, file_inode, file_offset"
_SQLITE_INSERT = f"INSERT INTO log_entries ({_COLUMNS}) VALUES "
_SQLITE_ROW = "(?,?,?,?,?,?,?,?,?,?)"
_MYSQL_INSERT = f"INSERT INTO log_entries ({_COLUMNS}) VALUES (%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)"
_VARIABLES_PER_ROW = 10
# Rows per multi-row SQLite statement: 10 variables each, within even old builds' 999-variable limit.
_SQLITE_ROWS_PER_STATEMENT = 99
# Rows per PyMySQL executemany call (it packs them into multi-row INSERTs of <= ~1 MB itself).
_MYSQL_ROWS_PER_CALL = 5_000
# Column widths (schema.log_entries): MariaDB in strict mode rejects longer values outright.
_SOURCE_MAX, _LEVEL_MAX, _CHANNEL_MAX, _REQUEST_ID_MAX = 255, 16, 191, 64


class CheckpointConflict(RuntimeError):
    """The stored checkpoint moved since the lines were read: another process stored them already."""


# (inode, offset) or (inode, offset, head): what the tailer's Checkpoint holds.
StoredCheckpoint = tuple[int, int] | tuple[int, int, str]


def load_checkpoints(engine: Engine, host: str) -> dict[str, tuple[int, int, str]]:
    """path -> (inode, offset, head) of every file this host tails."""
    columns = log_checkpoints.c
    statement = select(columns.path, columns.inode, columns.offset, columns.head).where(columns.host == host)
    with engine.connect() as conn:
        return {
            path: (int(inode), int(offset), head or "")
            for path, inode, offset, head in conn.execute(statement)
        }


def store_log_batch(
    engine: Engine,
    host: str,
    source: str,
    rows: Sequence[LogRow],
    previous: StoredCheckpoint | None,
    checkpoint: StoredCheckpoint,
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
    conn: Connection,
    host: str,
    path: str,
    previous: StoredCheckpoint | None,
    checkpoint: StoredCheckpoint,
) -> None:
    values = {
        "inode": checkpoint[0],
        "offset": checkpoint[1],
        "head": checkpoint[2] if len(checkpoint) > 2 else "",
        "updated_at": utc_now().replace(tzinfo=None),
    }
    key = and_(log_checkpoints.c.path == path, log_checkpoints.c.host == host)
    if previous is None:
        exists = conn.execute(select(log_checkpoints.c.inode).where(key)).first()
        if exists is not None:
            raise CheckpointConflict(path)
        conn.execute(log_checkpoints.insert().values(path=path, host=host, **values))
        return
    moved = conn.execute(
        log_checkpoints.update()
        .where(
            key,
            log_checkpoints.c.inode == previous[0],
            log_checkpoints.c.offset == previous[1],
            # Same inode and offset but other first bytes: another process saw a rewrite first.
            log_checkpoints.c.head == (previous[2] if len(previous) > 2 else ""),
        )
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
    _add_counts(conn, host, source, rows)
    return len(rows)


COUNT_BUCKET_MS = 600_000


def _add_counts(conn: Connection, host: str, source: str, rows: Sequence[LogRow]) -> None:
    """Add the batch to ``log_counts`` (one upsert per bucket and level, in the same transaction)."""
    counts: dict[tuple[int, str], int] = {}
    for row in rows:
        key = (row[0] - row[0] % COUNT_BUCKET_MS, row[1][:_LEVEL_MAX])
        counts[key] = counts.get(key, 0) + 1
    values = [
        {"bucket": bucket, "host": host, "source": source, "level": level, "count": n}
        for (bucket, level), n in counts.items()
    ]
    _upsert_counts(conn, values)


def _upsert_counts(conn: Connection, values: list[dict[str, Any]]) -> None:
    if not values:
        return
    if conn.dialect.name == "sqlite":
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        lite = sqlite_insert(log_counts)
        statement: Any = lite.on_conflict_do_update(
            index_elements=["bucket", "host", "source", "level"],
            set_={"count": log_counts.c.count + lite.excluded.count},
        )
    else:
        from sqlalchemy.dialects.mysql import insert as mysql_insert

        my = mysql_insert(log_counts)
        statement = my.on_duplicate_key_update(count=log_counts.c.count + my.inserted.count)
    conn.execute(statement, values)


def recount(conn: Connection, from_ms: int, to_ms: int) -> None:
    """Rebuild ``log_counts`` for the buckets covering [from_ms, to_ms] from the entries themselves
    (after rows left or came back in bulk: archive deletes and restores)."""
    low = from_ms - from_ms % COUNT_BUCKET_MS
    high = to_ms - to_ms % COUNT_BUCKET_MS + COUNT_BUCKET_MS
    conn.execute(log_counts.delete().where(log_counts.c.bucket >= low, log_counts.c.bucket < high))
    bucket = (log_entries.c.ts - log_entries.c.ts % COUNT_BUCKET_MS).label("bucket")
    grouped = (
        select(bucket, log_entries.c.host, log_entries.c.source, log_entries.c.level, func.count())
        .where(log_entries.c.ts >= low, log_entries.c.ts < high)
        .group_by(text("bucket"), log_entries.c.host, log_entries.c.source, log_entries.c.level)
    )
    conn.execute(log_counts.insert().from_select(["bucket", "host", "source", "level", "count"], grouped))


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
    per_statement = max(1, min(_SQLITE_ROWS_PER_STATEMENT, max_variables // _VARIABLES_PER_ROW))
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
            row[0],
            host,
            source,
            row[1][:_LEVEL_MAX],
            row[2][:_CHANNEL_MAX] if row[2] is not None else None,
            row[3],
            _context_json(row[4]) if row[4] else None,
            row[5][:_REQUEST_ID_MAX] if row[5] is not None else None,
            row[6] if len(row) > 6 else None,
            row[7] if len(row) > 7 else None,
        )
        for row in rows
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
    ts, level, channel, message, context, request_id = row[:6]

    def fix(text: str | None) -> str | None:
        return None if text is None else text.encode("utf-8", "replace").decode("utf-8")

    fixed_context = json.loads(fix(_context_json(context)) or "null") if context else None
    return (ts, level, fix(channel), fix(message) or "", fixed_context, fix(request_id), *row[6:8])


# -- reading ----------------------------------------------------------------------------------

LOG_LEVELS = ("debug", "info", "notice", "warning", "error", "critical", "alert", "emergency")
_NO_END_MS = 2**62
_LOG_COLUMNS = [
    "id", "ts", "host", "source", "level", "channel", "message", "context", "request_id",
    "file_inode", "file_offset",
]  # fmt: skip
_MAX_PAGE = 10_000
_MAX_CONTEXT = 500
# InnoDB FULLTEXT skips words shorter than innodb_ft_min_token_size (3) and its default stopwords:
# a required ``+word`` of those would match nothing, so such words are matched with LIKE instead.
_MYSQL_MIN_TOKEN = 3
_MYSQL_STOPWORDS = frozenset(
    [
        "a",
        "about",
        "an",
        "are",
        "as",
        "at",
        "be",
        "by",
        "com",
        "de",
        "en",
        "for",
        "from",
        "how",
        "i",
        "in",
        "is",
        "it",
        "la",
        "of",
        "on",
        "or",
        "that",
        "the",
        "this",
        "to",
        "was",
        "what",
        "when",
        "where",
        "who",
        "will",
        "with",
        "und",
        "www",
    ]
)
_TERM = re.compile(r'"([^"]*)"?|(\S+)')
_TOKEN = re.compile(r"\w+")
_PLAIN_PHRASE = re.compile(r"\w+(?:\s+\w+)*")


@dataclass(frozen=True)
class LogFilter:
    """What a log search selects: full-text ``query`` and exact filters over ``[start_ms, end_ms)``.

    ``levels`` empty means every level. ``query`` takes words (all must appear) and ``"quoted
    phrases"``; any other character is matched literally, never as full-text or SQL syntax.
    """

    start_ms: int
    end_ms: int
    query: str | None = None
    levels: tuple[str, ...] = ()
    channel: str | None = None
    host: str | None = None
    source: str | None = None
    request_id: str | None = None


def search_terms(query: str | None) -> list[str]:
    """The words and quoted phrases of a search box, in order (an unbalanced quote runs to the end)."""
    if not query:
        return []
    terms = []
    for phrase, word in _TERM.findall(query):
        term = (phrase if phrase else word).strip()
        if term and term != '"':
            terms.append(term)
    return terms


def _like_pattern(term: str) -> str:
    return "%" + term.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def _full_text_plan(dialect: str, terms: Sequence[str]) -> tuple[str | None, list[str]]:
    """(full-text expression or None, terms that must also match literally with LIKE)."""
    fts: list[str] = []
    literal: list[str] = []
    for term in terms:
        tokens = _TOKEN.findall(term)
        exact = _PLAIN_PHRASE.fullmatch(term) is not None
        if dialect == "sqlite":
            if tokens:
                # One FTS5 phrase of the term's tokens: quoted, so nothing in it is an operator.
                fts.append('"' + " ".join(tokens) + '"')
            if not tokens or not exact:
                literal.append(term)
            continue
        usable = [t for t in tokens if len(t) >= _MYSQL_MIN_TOKEN and t.lower() not in _MYSQL_STOPWORDS]
        fts.extend("+" + token for token in usable)
        if not exact or len(tokens) != 1 or len(usable) != 1:
            literal.append(term)
    return (" ".join(fts) if fts else None), literal


# Up to this many full-text matches, SQLite reads the matches and sorts them; beyond it, walking the
# time index newest first and probing the matches stops sooner (a frequent word fills a page fast).
_FTS_DRIVEN_MAX = 50_000


def _filtered(conn: Connection, where: LogFilter, columns: Sequence[Any]) -> Select:
    """A SELECT of ``columns`` over the entries ``where`` selects; full-text drives it when present."""
    return _query(conn, where, columns)[0]


def _query(
    conn: Connection, where: LogFilter, columns: Sequence[Any], *, walk: bool = False
) -> tuple[Select, Any]:
    """(SELECT of ``columns`` over the entries ``where`` selects, the ``ts`` expression to order by).

    ``walk`` (MySQL): match the full-text words per row (``LIKE`` to find candidates cheaply, a
    word-boundary ``REGEXP`` for the same whole-word meaning as the index) instead of ``MATCH``, so
    the time index drives the plan and a ``LIMIT`` stops it early.
    """
    table = log_entries
    dialect = conn.dialect.name
    expression, literal = _full_text_plan(dialect, search_terms(where.query))
    if walk and expression is not None and dialect != "sqlite":
        statement = select(*columns).select_from(table)
        for token in expression.split():
            word = token.lstrip("+")
            statement = statement.where(
                table.c.message.like(_like_pattern(word), escape="\\"),
                table.c.message.regexp_match(r"\b" + word + r"\b"),
            )
        return _plain_filters(
            statement.where(table.c.ts >= where.start_ms, table.c.ts < where.end_ms),
            where,
            literal,
            table.c.level,
        ), table.c.ts
    statement = select(*columns).select_from(table)
    ts: Any = table.c.ts
    level: Any = table.c.level
    if expression is not None and dialect == "sqlite":
        matches: Select[Any] = (
            select(literal_column("rowid"))
            .select_from(text("log_entries_fts"))
            .where(text("log_entries_fts MATCH :fts_expression").bindparams(fts_expression=expression))
        )
        matched = _match_count(conn, expression)
        if matched < _FTS_DRIVEN_MAX and matched <= _rows_in_range(conn, where):
            # Make the matches drive the plan: a unary + keeps SQLite from using the time and level
            # indexes, so it looks up each matching rowid instead of walking a whole time range
            # (docs/engineering-notes.md: the full-text match must drive the join).
            ts = literal_column("+log_entries.ts", Integer)
            level = literal_column("+log_entries.level", String)
        statement = statement.where(table.c.id.in_(matches))
    elif expression is not None:
        statement = statement.where(
            text("MATCH (log_entries.message) AGAINST (:fts_expression IN BOOLEAN MODE)").bindparams(
                fts_expression=expression
            )
        )
    statement = statement.where(ts >= where.start_ms, ts < where.end_ms)
    return _plain_filters(statement, where, literal, level), ts


def _plain_filters(statement: Select, where: LogFilter, literal: Sequence[str], level: Any) -> Select:
    """``statement`` narrowed by the literal terms, the levels and the exact-value filters."""
    table = log_entries
    for term in literal:
        statement = statement.where(table.c.message.like(_like_pattern(term), escape="\\"))
    if where.levels:
        statement = statement.where(level.in_(where.levels))
    for name in ("channel", "host", "source", "request_id"):
        value = getattr(where, name)
        if value is not None:
            statement = statement.where(table.c[name] == value)
    return statement


def _rows_in_range(conn: Connection, where: LogFilter) -> int:
    """About how many entries the time, level, host and source filters leave (from ``log_counts``,
    whole 10-minute cells): when that is fewer than the full-text matches, walking them is cheaper."""
    counts = log_counts
    low = where.start_ms - where.start_ms % COUNT_BUCKET_MS
    statement = select(func.coalesce(func.sum(counts.c.count), 0)).where(
        counts.c.bucket >= low, counts.c.bucket < where.end_ms
    )
    if where.levels:
        statement = statement.where(counts.c.level.in_(where.levels))
    for name in ("host", "source"):
        value = getattr(where, name)
        if value is not None:
            statement = statement.where(counts.c[name] == value)
    return int(conn.execute(statement).scalar_one())


def _match_count(conn: Connection, expression: str) -> int:
    """Full-text matches of ``expression`` on SQLite, counted up to ``_FTS_DRIVEN_MAX`` (a doclist walk)."""
    found = conn.execute(
        text(
            "SELECT count(*) FROM (SELECT rowid FROM log_entries_fts WHERE log_entries_fts MATCH :e LIMIT :n)"
        ),
        {"e": expression, "n": _FTS_DRIVEN_MAX},
    ).scalar_one()
    return int(found)


def _rows_frame(rows: Sequence[Any], columns: Sequence[str]) -> pd.DataFrame:
    frame = pd.DataFrame(list(rows), columns=list(columns))
    if "ts" in frame:
        frame["ts"] = pd.to_datetime(frame["ts"].astype("int64"), unit="ms", utc=True)
    if "context" in frame:
        frame["context"] = [_decoded(value) for value in frame["context"]]
    return frame


def _decoded(value: Any) -> Any:
    if isinstance(value, str | bytes):
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


def _check_levels(levels: str | Sequence[str] | None) -> tuple[str, ...]:
    if levels is None or levels == "":
        return ()
    chosen = [levels] if isinstance(levels, str) else list(levels)
    for level in chosen:
        check_choice("level", level, LOG_LEVELS)
    return tuple(dict.fromkeys(level.lower() for level in chosen))


def make_filter(
    *,
    query: str | None = None,
    levels: str | Sequence[str] | None = None,
    min_level: str | None = None,
    channel: str | None = None,
    host: str | None = None,
    source: str | None = None,
    request_id: str | None = None,
    since: TimeInput = "24h",
    until: TimeInput = None,
) -> LogFilter:
    """A ``LogFilter`` from the facade's arguments (times parsed, levels checked)."""
    chosen = _check_levels(levels)
    minimum = check_choice("level", min_level, LOG_LEVELS)
    if minimum is not None:
        floor = LOG_LEVELS[LOG_LEVELS.index(minimum) :]
        chosen = tuple(level for level in (chosen or floor) if level in floor) or ("-none-",)
    start, end = resolve_range(since, until)
    # Without an explicit end, show everything up to now and lines stamped a little ahead of this
    # clock (another host's clock, or the current millisecond).
    end_ms = to_millis(end) if until is not None else _NO_END_MS
    return LogFilter(
        start_ms=to_millis(start),
        end_ms=end_ms,
        query=query if query and query.strip() else None,
        levels=chosen,
        channel=channel or None,
        host=host or None,
        source=source or None,
        request_id=request_id or None,
    )


def search_page(
    engine: Engine,
    where: LogFilter,
    *,
    limit: int = 100,
    offset: int = 0,
    cursor: tuple[int, int] | None = None,
) -> pd.DataFrame:
    """One page of matching entries, newest first (ts, then id, descending).

    ``cursor`` (the (ts_ms, id) of the last row of the previous page) pages by keyset, which costs
    the same on page 1,000 as on page 1; ``offset`` suits a grid that asks for a row range.
    """
    if not 1 <= limit <= _MAX_PAGE:
        raise ValueError(f"limit: must be between 1 and {_MAX_PAGE}")
    if offset < 0:
        raise ValueError("offset: must not be negative")
    with engine.connect() as conn:
        rows: Sequence[Any] | None = None
        if conn.dialect.name != "sqlite" and where.query:
            rows = _walked_page(conn, where, limit=limit, offset=offset, cursor=cursor)
        if rows is None:
            rows = conn.execute(_page(conn, where, limit=limit, offset=offset, cursor=cursor)).all()
    return _rows_frame(rows, _LOG_COLUMNS)


def _page(
    conn: Connection,
    where: LogFilter,
    *,
    limit: int,
    offset: int,
    cursor: tuple[int, int] | None,
    walk: bool = False,
) -> Select:
    statement, ts_column = _query(conn, where, [log_entries.c[name] for name in _LOG_COLUMNS], walk=walk)
    if cursor is not None:
        ts, last_id = cursor
        statement = statement.where(or_(ts_column < ts, and_(ts_column == ts, log_entries.c.id < last_id)))
    statement = statement.order_by(ts_column.desc(), log_entries.c.id.desc()).limit(limit)
    return statement.offset(offset) if offset else statement


# How many rows a MariaDB page may read walking the time index before the full-text index takes
# over: about 30 ms of reading here, enough for any word in at least ~1 line in 200 of the range.
WALK_ROWS_EXAMINED = 20_000
_ROWS_EXAMINED_EXCEEDED = 1931  # ER_QUERY_EXCEEDED_ROWS_EXAMINED_LIMIT
_SORT_ABORTED = 1028  # ER_FILSORT_ABORT


def _walked_page(
    conn: Connection, where: LogFilter, *, limit: int, offset: int, cursor: tuple[int, int] | None
) -> list[Any] | None:
    """A MariaDB page read newest first along the time index, or None when that needed more than
    ``WALK_ROWS_EXAMINED`` rows (a rare word: the full-text index finds its few rows faster).

    InnoDB's MATCH always builds the whole match set before any ORDER BY/LIMIT applies: ~0.7 s for a
    word in 2% of 1M lines (EXPLAIN: fulltext + filesort), whatever the time range or page size. A
    frequent word fills a page within a few thousand of the newest rows, so those are read first,
    bounded by MariaDB's ``LIMIT ... ROWS EXAMINED``.
    """
    if not getattr(conn.dialect, "is_mariadb", False):  # ROWS EXAMINED is MariaDB's own
        return None
    if _full_text_plan(conn.dialect.name, search_terms(where.query))[0] is None:
        return None
    statement = _page(conn, where, limit=limit, offset=offset, cursor=cursor, walk=True)
    try:
        rows = list(conn.execute(statement.suffix_with(f"ROWS EXAMINED {WALK_ROWS_EXAMINED}")).all())
    except OperationalError as exc:
        # A plan that sorts (several levels, say) is aborted rather than cut short at the budget.
        if getattr(exc.orig, "args", (None,))[0] == _SORT_ABORTED:
            return None
        raise
    if len(rows) == limit:
        return rows
    warnings = conn.exec_driver_sql("SHOW WARNINGS").all()
    if any(int(row[1]) == _ROWS_EXAMINED_EXCEEDED for row in warnings):
        return None
    return rows


def count_matches(engine: Engine, where: LogFilter, *, cap: int = 100_000) -> int:
    """How many entries match, counted up to ``cap`` (a grid needs 'many', not an exact million)."""
    with engine.connect() as conn:
        inner = _filtered(conn, where, [log_entries.c.id]).limit(cap).subquery()
        return int(conn.execute(select(func.count()).select_from(inner)).scalar_one())


def newer_than(engine: Engine, where: LogFilter, *, after_id: int, limit: int = 200) -> pd.DataFrame:
    """Entries stored after ``after_id`` that match (the live tail), newest first."""
    columns = [log_entries.c[name] for name in _LOG_COLUMNS]
    with engine.connect() as conn:
        statement = _filtered(conn, where, columns).where(log_entries.c.id > after_id)
        rows = conn.execute(statement.order_by(log_entries.c.id.desc()).limit(limit)).all()
    return _rows_frame(rows, _LOG_COLUMNS)


def count_newer(engine: Engine, where: LogFilter, *, after_id: int, cap: int = 100_000) -> int:
    """How many matching entries were stored after ``after_id`` (a paused tail's counter)."""
    with engine.connect() as conn:
        inner = _filtered(conn, where, [log_entries.c.id]).where(log_entries.c.id > after_id).limit(cap)
        return int(conn.execute(select(func.count()).select_from(inner.subquery())).scalar_one())


def last_id(engine: Engine) -> int:
    """The newest stored entry's id (0 when there is none)."""
    with engine.connect() as conn:
        return int(conn.execute(select(func.max(log_entries.c.id))).scalar() or 0)


def entry(engine: Engine, entry_id: int) -> dict[str, Any] | None:
    """One entry as a dict (``ts`` a UTC Timestamp), or None."""
    columns = [log_entries.c[name] for name in _LOG_COLUMNS]
    with engine.connect() as conn:
        row = conn.execute(select(*columns).where(log_entries.c.id == entry_id)).first()
    if row is None:
        return None
    return dict(_rows_frame([row], _LOG_COLUMNS).iloc[0])


def context_lines(engine: Engine, entry_id: int, *, before: int = 20, after: int = 20) -> pd.DataFrame:
    """The entry and its neighbours in the same file, in file order, with ``position`` (0 = the entry).

    Neighbours are read by the stored (inode, byte offset): exactly the lines before and after it in
    that file, whatever their timestamps say. Entries stored without a position (written through
    the API, or by an older tailer) fall back to the same source's storage order.
    """
    if not (0 <= before <= _MAX_CONTEXT and 0 <= after <= _MAX_CONTEXT):
        raise ValueError(f"context: before and after must be between 0 and {_MAX_CONTEXT}")
    table = log_entries
    columns = [table.c[name] for name in _LOG_COLUMNS]
    with engine.connect() as conn:
        row = conn.execute(select(*columns).where(table.c.id == entry_id)).first()
        if row is None:
            raise KeyError(entry_id)
        same_file = [table.c.host == row.host, table.c.source == row.source]
        if row.file_offset is not None:
            same_file.append(table.c.file_inode == row.file_inode)
            offset, at = table.c.file_offset, row.file_offset
            # Two index ranges each way rather than one OR (which no index serves): the entries at
            # the same offset (a file truncated in place and rewritten) by id, then the others.
            earlier = _neighbours(
                conn, columns, [*same_file, offset == at, table.c.id < row.id], (table.c.id.desc(),), before
            )
            earlier += _neighbours(
                conn,
                columns,
                [*same_file, offset < at],
                (offset.desc(), table.c.id.desc()),
                before - len(earlier),
            )
            later = _neighbours(
                conn, columns, [*same_file, offset == at, table.c.id > row.id], (table.c.id.asc(),), after
            )
            later += _neighbours(
                conn, columns, [*same_file, offset > at], (offset.asc(), table.c.id.asc()), after - len(later)
            )
        else:
            same_file.append(table.c.file_offset.is_(None))
            earlier = _neighbours(
                conn, columns, [*same_file, table.c.id < row.id], (table.c.id.desc(),), before
            )
            later = _neighbours(conn, columns, [*same_file, table.c.id > row.id], (table.c.id.asc(),), after)
    rows = [*reversed(earlier), row, *later]
    frame = _rows_frame(rows, _LOG_COLUMNS)
    frame["position"] = range(-len(earlier), len(later) + 1)
    return frame


def _neighbours(
    conn: Connection, columns: list[Any], where: list[Any], order: tuple[Any, ...], limit: int
) -> list[Any]:
    if limit <= 0:
        return []
    return list(conn.execute(select(*columns).where(*where).order_by(*order).limit(limit)).all())


def histogram(engine: Engine, where: LogFilter, *, buckets: int = 60) -> tuple[int, pd.DataFrame]:
    """(bucket width in ms, frame of bucket start ``ts``, ``level``, ``count``) over the filter's range.

    The range must be bounded: an open end is taken as now.
    """
    if not 1 <= buckets <= 1000:
        raise ValueError("buckets: must be between 1 and 1000")
    end_ms = where.end_ms if where.end_ms != _NO_END_MS else to_millis(utc_now()) + 1
    span = max(1, end_ms - where.start_ms)
    width = _nice_width(span / buckets)
    first = where.start_ms - where.start_ms % width
    bounded = LogFilter(**{**where.__dict__, "end_ms": end_ms})
    if width % COUNT_BUCKET_MS == 0 and not (where.query or where.channel or where.request_id):
        return width, _histogram_from_counts(engine, bounded, first, width)
    bucket = ((log_entries.c.ts - first) / width).label("bucket")
    with engine.connect() as conn:
        if conn.dialect.name == "sqlite":
            bucket = (func.cast((log_entries.c.ts - first) / width, Integer)).label("bucket")
        else:
            bucket = func.floor((log_entries.c.ts - first) / width).label("bucket")
        statement = _filtered(conn, bounded, [bucket, log_entries.c.level, func.count().label("count")])
        rows = conn.execute(statement.group_by(text("bucket"), log_entries.c.level)).all()
    frame = pd.DataFrame(rows, columns=["bucket", "level", "count"])
    frame["ts"] = pd.to_datetime(first + frame["bucket"].astype("int64") * width, unit="ms", utc=True)
    frame["count"] = frame["count"].astype("int64")
    return width, frame[["ts", "level", "count"]].sort_values(["ts", "level"]).reset_index(drop=True)


def _histogram_from_counts(engine: Engine, where: LogFilter, first: int, width: int) -> pd.DataFrame:
    """The histogram from ``log_counts`` for whole 10-minute cells, and from the entries for the
    partial cells at either end of the window (so the counts are exact for any window)."""
    inner_low = -(-where.start_ms // COUNT_BUCKET_MS) * COUNT_BUCKET_MS
    inner_high = max(inner_low, where.end_ms - where.end_ms % COUNT_BUCKET_MS)
    counts = log_counts
    cell = (
        func.floor((counts.c.bucket - first) / width)
        if engine.dialect.name != "sqlite"
        else func.cast((counts.c.bucket - first) / width, Integer)
    )
    statement = select(cell.label("cell"), counts.c.level, func.sum(counts.c.count)).where(
        counts.c.bucket >= inner_low, counts.c.bucket < inner_high
    )
    for name in ("host", "source"):
        value = getattr(where, name)
        if value is not None:
            statement = statement.where(counts.c[name] == value)
    if where.levels:
        statement = statement.where(counts.c.level.in_(where.levels))
    totals: dict[tuple[int, str], int] = {}
    with engine.connect() as conn:
        for index, level, n in conn.execute(statement.group_by(text("cell"), counts.c.level)):
            totals[(int(index), level)] = totals.get((int(index), level), 0) + int(n)
        edges = [
            (where.start_ms, min(inner_low, where.end_ms)),
            (max(inner_high, where.start_ms), where.end_ms),
        ]
        if inner_low >= inner_high:
            edges = [(where.start_ms, where.end_ms)]
        for low, high in edges:
            if high <= low:
                continue
            part = LogFilter(**{**where.__dict__, "start_ms": low, "end_ms": high})
            ts_bucket = (log_entries.c.ts - first) / width
            ts_bucket = (
                func.cast(ts_bucket, Integer) if conn.dialect.name == "sqlite" else func.floor(ts_bucket)
            )
            rows = conn.execute(
                _filtered(conn, part, [ts_bucket.label("cell"), log_entries.c.level, func.count()]).group_by(
                    text("cell"), log_entries.c.level
                )
            )
            for index, level, n in rows:
                totals[(int(index), level)] = totals.get((int(index), level), 0) + int(n)
    frame = pd.DataFrame(
        [(first + index * width, level, n) for (index, level), n in totals.items() if n],
        columns=["ts", "level", "count"],
    )
    frame["ts"] = pd.to_datetime(frame["ts"].astype("int64"), unit="ms", utc=True)
    frame["count"] = frame["count"].astype("int64")
    return frame.sort_values(["ts", "level"]).reset_index(drop=True)


_WIDTHS_MS = [
    1_000, 2_000, 5_000, 10_000, 15_000, 30_000, 60_000, 120_000, 300_000, 600_000, 900_000, 1_800_000,
    3_600_000, 7_200_000, 10_800_000, 21_600_000, 43_200_000, 86_400_000, 7 * 86_400_000,
]  # fmt: skip


def _nice_width(raw_ms: float) -> int:
    return next((width for width in _WIDTHS_MS if width >= raw_ms), _WIDTHS_MS[-1])


def distinct_values(engine: Engine, column: str, *, since_ms: int, limit: int = 500) -> list[str]:
    """The distinct non-empty values of ``channel``, ``host``, ``source`` or ``level`` seen since then."""
    if column not in ("channel", "host", "source", "level"):
        raise ValueError(f"column: {column!r} is not channel, host, source or level")
    col = log_entries.c[column]
    statement = (
        select(col)
        .where(log_entries.c.ts >= since_ms, col.is_not(None))
        .group_by(col)
        .order_by(col)
        .limit(limit)
    )
    with engine.connect() as conn:
        return [value for (value,) in conn.execute(statement) if value]


def level_counts(engine: Engine, where: LogFilter) -> dict[str, int]:
    """Entries per level among those the filter selects."""
    with engine.connect() as conn:
        statement = _filtered(conn, where, [log_entries.c.level, func.count()])
        return {level: int(n) for level, n in conn.execute(statement.group_by(log_entries.c.level))}


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
    where = make_filter(
        query=query,
        min_level=level,
        since=since,
        until=until,
        host=host,
        source=source,
        request_id=request_id,
    )
    return search_page(engine, where, limit=min(limit, _MAX_PAGE))


class LogsSection:
    """``store.logs``: call it to search (``store.logs(query="timeout")``); its methods do the rest.

    Filters shared by the methods: ``query`` (words and "quoted phrases", all must appear; any other
    character is matched literally), ``levels`` (one or several level names), ``channel``, ``host``,
    ``source``, ``request_id``, and ``since``/``until`` (a duration ago such as ``"24h"``, or ISO 8601).
    """

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

    def search(
        self,
        *,
        query: str | None = None,
        levels: str | Sequence[str] | None = None,
        channel: str | None = None,
        host: str | None = None,
        source: str | None = None,
        request_id: str | None = None,
        since: TimeInput = "24h",
        until: TimeInput = None,
        limit: int = 100,
        offset: int = 0,
        cursor: tuple[int, int] | None = None,
    ) -> pd.DataFrame:
        """One page of matching entries, newest first; ``cursor`` = (ts ms, id) of the previous page's last row."""
        where = make_filter(
            query=query, levels=levels, channel=channel, host=host, source=source,
            request_id=request_id, since=since, until=until,
        )  # fmt: skip
        return search_page(self._engine, where, limit=limit, offset=offset, cursor=cursor)

    def count(
        self,
        *,
        query: str | None = None,
        levels: str | Sequence[str] | None = None,
        channel: str | None = None,
        host: str | None = None,
        source: str | None = None,
        request_id: str | None = None,
        since: TimeInput = "24h",
        until: TimeInput = None,
        cap: int = 100_000,
    ) -> int:
        """How many entries match (counted up to ``cap``)."""
        where = make_filter(
            query=query, levels=levels, channel=channel, host=host, source=source,
            request_id=request_id, since=since, until=until,
        )  # fmt: skip
        return count_matches(self._engine, where, cap=cap)

    def histogram(
        self,
        *,
        query: str | None = None,
        levels: str | Sequence[str] | None = None,
        channel: str | None = None,
        host: str | None = None,
        source: str | None = None,
        request_id: str | None = None,
        since: TimeInput = "24h",
        until: TimeInput = None,
        buckets: int = 60,
    ) -> pd.DataFrame:
        """Matching entries per time bucket and level (``ts``, ``level``, ``count``); the width is
        ``frame.attrs["bucket_ms"]``."""
        where = make_filter(
            query=query, levels=levels, channel=channel, host=host, source=source,
            request_id=request_id, since=since, until=until,
        )  # fmt: skip
        width, frame = histogram(self._engine, where, buckets=buckets)
        frame.attrs["bucket_ms"] = width
        return frame

    def entry(self, *, id: int) -> dict[str, Any] | None:
        """One entry with every field (``context`` decoded), or None when no entry has that id."""
        return entry(self._engine, id)

    def context(self, *, id: int, before: int = 20, after: int = 20) -> pd.DataFrame:
        """The entry and the exact lines before/after it in its file, in file order (``position`` 0 = it).

        Raises KeyError when no entry has that id."""
        return context_lines(self._engine, id, before=before, after=after)

    def levels(
        self,
        *,
        query: str | None = None,
        channel: str | None = None,
        host: str | None = None,
        source: str | None = None,
        since: TimeInput = "24h",
        until: TimeInput = None,
    ) -> dict[str, int]:
        """Entries per level in the range (every known level, zero when absent), in severity order."""
        where = make_filter(query=query, channel=channel, host=host, source=source, since=since, until=until)
        counts = level_counts(self._engine, where)
        return {level: counts.get(level, 0) for level in LOG_LEVELS} | {
            level: n for level, n in counts.items() if level not in LOG_LEVELS
        }

    def channels(self, *, since: TimeInput = "7d") -> list[str]:
        """The channels (logger names, syslog apps) seen since then, sorted."""
        return distinct_values(self._engine, "channel", since_ms=to_millis(resolve_range(since, None)[0]))

    def hosts(self, *, since: TimeInput = "7d") -> list[str]:
        """The hosts that logged since then, sorted."""
        return distinct_values(self._engine, "host", since_ms=to_millis(resolve_range(since, None)[0]))

    def sources(self, *, since: TimeInput = "7d") -> list[str]:
        """The source files logged from since then, sorted."""
        return distinct_values(self._engine, "source", since_ms=to_millis(resolve_range(since, None)[0]))

    def newest_id(self) -> int:
        """The id of the newest stored entry (0 when empty): where a live tail starts."""
        return last_id(self._engine)

    def tail(
        self,
        *,
        after_id: int,
        query: str | None = None,
        levels: str | Sequence[str] | None = None,
        channel: str | None = None,
        host: str | None = None,
        source: str | None = None,
        request_id: str | None = None,
        limit: int = 200,
    ) -> pd.DataFrame:
        """Matching entries stored after ``after_id``, newest first (the live tail)."""
        where = make_filter(
            query=query, levels=levels, channel=channel, host=host, source=source,
            request_id=request_id, since=0,
        )  # fmt: skip
        return newer_than(self._engine, where, after_id=after_id, limit=limit)

    def count_after(
        self,
        *,
        after_id: int,
        query: str | None = None,
        levels: str | Sequence[str] | None = None,
        channel: str | None = None,
        host: str | None = None,
        source: str | None = None,
        request_id: str | None = None,
    ) -> int:
        """How many matching entries were stored after ``after_id`` (a paused tail's counter)."""
        where = make_filter(
            query=query, levels=levels, channel=channel, host=host, source=source,
            request_id=request_id, since=0,
        )  # fmt: skip
        return count_newer(self._engine, where, after_id=after_id)

    def archives(self) -> pd.DataFrame:
        """Every archive, newest first: range, entries, bytes, sha256, status, verify and delete times."""
        from storage.log_archives import list_archives

        return list_archives(self._engine)

    def archive(self, *, id: int) -> dict[str, Any]:
        """One archive's row; KeyError when there is none."""
        from storage.log_archives import archive_row

        return archive_row(self._engine, id)

    def create_archive(
        self,
        *,
        directory: str | Any,
        query: str | None = None,
        levels: str | Sequence[str] | None = None,
        channel: str | None = None,
        host: str | None = None,
        source: str | None = None,
        request_id: str | None = None,
        since: TimeInput = "24h",
        until: TimeInput = None,
        created_by: str | None = None,
        progress: Any = None,
    ) -> Any:
        """Write the matching entries to a gzip JSON Lines file in ``directory`` (SHA-256 recorded);
        returns an ``ArchiveResult`` or None when nothing matched. The hot rows stay.

        ``progress(entries_so_far)`` is called between batches; returning True cancels
        (``ArchiveCancelled``, nothing kept)."""
        from pathlib import Path

        from storage.log_archives import create_archive

        where = make_filter(
            query=query, levels=levels, channel=channel, host=host, source=source,
            request_id=request_id, since=since, until=until,
        )  # fmt: skip
        filters = {
            "query": query, "levels": list(where.levels), "channel": channel, "host": host,
            "source": source, "request_id": request_id, "from_ms": where.start_ms,
            "to_ms": None if where.end_ms == _NO_END_MS else where.end_ms,
        }  # fmt: skip
        return create_archive(
            self._engine, where, Path(directory), created_by=created_by, filters=filters, progress=progress
        )

    def verify_archive(self, *, id: int) -> tuple[bool, str]:
        """Check an archive's file against its SHA-256 and entry count: (ok, reason); the state is stored."""
        from storage.log_archives import verify_archive

        return verify_archive(self._engine, id)

    def restore_archive(self, *, id: int, progress: Any = None) -> int:
        """Put a verified archive's entries back (entries still present are skipped); returns how many.

        ``progress`` as for ``create_archive``: a cancel restores nothing."""
        from storage.log_archives import restore_archive

        return restore_archive(self._engine, id, progress)

    def delete_hot_rows(self, *, id: int, progress: Any = None) -> int:
        """Delete an archive's entries from the hot table, only after it verifies; returns how many.

        ``progress`` as for ``create_archive``: a cancel deletes nothing."""
        from storage.log_archives import delete_hot_rows

        return delete_hot_rows(self._engine, id, progress)

    def jobs(self, *, limit: int = 20) -> list[Any]:
        """The newest background archive, restore and delete jobs (``LogJob``), newest first."""
        from storage.log_jobs import recent_jobs

        return recent_jobs(self._engine, limit=limit)

    def job(self, *, id: str) -> Any:
        """One background job (``LogJob``: status, progress, result), or None."""
        from storage.log_jobs import get_job

        return get_job(self._engine, id)

    def delete_archive(self, *, id: int) -> None:
        """Remove an archive's file and its row."""
        from storage.log_archives import delete_archive_file

        delete_archive_file(self._engine, id)
