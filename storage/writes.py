"""The sample write path: a tidy DataFrame in, idempotent bulk insert out.

This is the hottest path in Vitals, so it avoids per-row Python work (``python -m benchmarks.ingest``
measures it against the bare drivers):

* series keys are factorized column by column with pandas/numpy and combined as integer codes;
  each distinct label object is canonicalized once, however many rows share it;
* rows are sorted by (series_id, ts) before the insert (on SQLite in time blocks of 1,000 rows per
  series), so consecutive rows land on the same b-tree page: on SQLite this roughly halves the
  insert time, on InnoDB it fills pages densely;
* SQLite: multi-row ``INSERT OR IGNORE ... VALUES (?,?,?),(?,?,?),...`` through the driver's own
  ``executemany`` (one VDBE run per few hundred rows instead of per row; SQLAlchemy Core's generic
  insert costs ~4x, see docs/engineering-notes.md);
* MySQL/MariaDB (PyMySQL, mysqlclient): the multi-row ``INSERT IGNORE`` text is built by Arrow
  compute kernels instead of PyMySQL's per-value escaping, which costs more than the server's work.
  Only integers and finite floats go into it (floats in shortest round-trip form plus an exponent,
  so the server reads them as DOUBLE, exactly as PyMySQL's own escaping does).

``INSERT IGNORE`` / ``INSERT OR IGNORE`` make a retried or replayed batch a no-op instead of a
duplicate; the sort is stable, so within one frame the first row for a (series, ts) wins as before.
"""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
from sqlalchemy import Connection

from storage.rollups import mark_dirty
from storage.series import SeriesKey, SeriesRegistry, canonical_labels

__all__ = ["REQUIRED_COLUMNS", "epoch_millis", "prepare_samples", "write_frame"]

REQUIRED_COLUMNS = ("ts", "metric", "value")
OPTIONAL_COLUMNS = ("host", "labels", "unit")

_SQLITE_VERB = "INSERT OR IGNORE INTO samples (series_id, ts, value) VALUES "
_MYSQL_VERB = b"INSERT IGNORE INTO samples (series_id, ts, value) VALUES "
# Rows per multi-row SQLite statement (3 bound variables each; SQLite >= 3.32 allows 32,766
# variables, older builds 999, so this is capped by the connection's own limit).
_SQLITE_ROWS_PER_STATEMENT = 500
# Rows turned into Python objects at a time (bounds memory on very large frames).
_SQLITE_ROWS_PER_CHUNK = 200_000
# Bytes per MySQL statement: PyMySQL's own executemany limit, well under any max_allowed_packet.
_MYSQL_STATEMENT_BYTES = 1_000_000
# Rows formatted per Arrow pass (bounds memory and keeps string offsets far from 2 GiB).
_MYSQL_ROWS_PER_FORMAT = 200_000
_ROWS_PER_EXECUTE = 50_000  # generic fallback (other MySQL drivers)
# SQLite: rows of one series per block of the insert order (see _series_time_order).
_SQLITE_ROWS_PER_SERIES_BLOCK = 1_000


def epoch_millis(ts: pd.Series) -> np.ndarray:
    """Epoch milliseconds from datetimes (naive = UTC), ISO strings, or integers already in ms."""
    if pd.api.types.is_integer_dtype(ts):
        return ts.to_numpy(dtype="int64")
    if pd.api.types.is_float_dtype(ts):  # epoch ms as floats (e.g. after a NaN made the column float)
        if ts.isna().any():
            raise ValueError(f"ts: {int(ts.isna().sum())} missing timestamp(s)")
        return ts.to_numpy(dtype="float64").round().astype("int64")
    try:
        stamps = pd.to_datetime(ts, utc=True)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"ts: cannot read as timestamps ({exc})") from None
    if stamps.isna().any():
        raise ValueError(f"ts: {int(stamps.isna().sum())} missing timestamp(s)")
    return stamps.dt.as_unit("ms").astype("int64").to_numpy()


def _factorize_text(column: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes (first-appearance order) and distinct values of a column read as text."""
    codes, uniques = pd.factorize(column.astype(str), use_na_sentinel=False)
    return np.asarray(codes, dtype="int64"), np.asarray(uniques, dtype=object)


def _factorize_labels(labels: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Codes and distinct canonical JSON of a labels column (dicts, JSON strings, None).

    Each distinct label *object* is canonicalized once: frames usually reuse a handful of dicts
    across millions of rows. In an object column every element is a live object, so id() tells
    them apart exactly; other dtypes (Arrow strings, categoricals) hold hashable values and are
    factorized by value, since their Python objects are made on the fly and ids could repeat.
    """
    if labels.dtype == object:
        objects = labels.to_numpy()
        ids = np.fromiter(map(id, objects), dtype=np.uint64, count=len(objects))
        object_codes, first_rows = _factorize_with_first_rows(ids)
        representatives = objects[first_rows]
    else:
        object_codes, representatives = pd.factorize(labels, use_na_sentinel=False)
        object_codes = np.asarray(object_codes, dtype="int64")
    canonical = [canonical_labels(value) for value in representatives]
    canonical_codes, canonical_uniques = pd.factorize(np.asarray(canonical, dtype=object))
    return np.asarray(canonical_codes, dtype="int64")[object_codes], np.asarray(
        canonical_uniques, dtype=object
    )


def _factorize_with_first_rows(values: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """pd.factorize codes plus, for each code, the index of the first row that has it."""
    codes, uniques = pd.factorize(values)
    codes = np.asarray(codes, dtype="int64")
    first_rows = np.empty(len(uniques), dtype="int64")
    first_rows[codes[::-1]] = np.arange(len(codes) - 1, -1, -1)  # written backwards: first row wins
    return codes, first_rows


def _combine(left: np.ndarray, right: np.ndarray, n_right: int) -> np.ndarray:
    """Codes of the distinct (left, right) pairs, in first-appearance order."""
    codes, _ = pd.factorize(left * max(n_right, 1) + right)
    return np.asarray(codes, dtype="int64")


def prepare_samples(frame: pd.DataFrame) -> tuple[list[SeriesKey], np.ndarray, np.ndarray, np.ndarray]:
    """Validate a tidy frame and split it into distinct series keys plus parallel arrays.

    Returns (keys, codes, ts, values): ``keys[codes[i]]`` is the series of row i, in order of first
    appearance; ``ts`` is epoch milliseconds; rows whose value is NaN or infinite are left out.
    """
    missing = [name for name in REQUIRED_COLUMNS if name not in frame.columns]
    if missing:
        raise ValueError(
            f"write: missing column(s) {', '.join(missing)}; expected ts, metric, value "
            "and optionally host, labels, unit"
        )
    values = pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype="float64")
    keep = np.isfinite(values)  # a NaN reading is "no reading": neither SQL dialect stores it well
    if not keep.all():
        frame = frame.loc[keep]
        values = values[keep]
    ts = epoch_millis(frame["ts"])
    n = len(frame)

    metric_codes, metrics = _factorize_text(frame["metric"])
    if "host" in frame:
        host_codes, hosts = _factorize_text(frame["host"])
    else:
        host_codes, hosts = np.zeros(n, dtype="int64"), np.array([socket.gethostname()], dtype=object)
    if "labels" in frame:
        label_codes, label_texts = _factorize_labels(frame["labels"])
    else:
        label_codes, label_texts = np.zeros(n, dtype="int64"), np.array(["{}"], dtype=object)

    codes = _combine(_combine(metric_codes, host_codes, len(hosts)), label_codes, len(label_texts))
    first_rows = np.empty(int(codes.max()) + 1 if n else 0, dtype="int64")
    first_rows[codes[::-1]] = np.arange(n - 1, -1, -1)
    if "unit" in frame:
        # The first non-missing unit of each series, as before.
        first_units = frame["unit"].astype(str).groupby(codes).first()
        units = [first_units.get(i, "") for i in range(len(first_rows))]
    else:
        units = [""] * len(first_rows)
    keys = [
        SeriesKey(
            metric=metrics[metric_codes[row]],
            host=hosts[host_codes[row]],
            labels=label_texts[label_codes[row]],
            unit=units[i],
        )
        for i, row in enumerate(first_rows.tolist())
    ]
    return keys, codes, ts, values


def write_frame(conn: Connection, registry: SeriesRegistry, frame: pd.DataFrame) -> int:
    """Insert the frame's samples; returns the number of rows handed to the database."""
    if frame.empty:
        return 0
    keys, codes, ts, values = prepare_samples(frame)
    if len(codes) == 0:
        return 0
    ids = np.asarray(registry.resolve(conn, keys), dtype="int64")
    # Samples older than the rollup watermark (late or replayed) get their buckets recomputed.
    earliest = pd.Series(ts).groupby(codes).min()
    earliest_by_series = dict(zip(ids[earliest.index].tolist(), earliest.tolist(), strict=True))
    sqlite = conn.dialect.name == "sqlite"
    order = _series_time_order(ids, codes, ts, _SQLITE_ROWS_PER_SERIES_BLOCK if sqlite else None)
    series_ids, ts, values = ids[codes][order], ts[order], values[order]
    dbapi: Any = conn.connection.driver_connection
    if sqlite:
        _insert_sqlite(dbapi, series_ids, ts, values)
    elif conn.dialect.driver in ("pymysql", "mysqldb"):
        _insert_mysql_text(dbapi, series_ids, ts, values)
    else:
        _insert_executemany(dbapi, series_ids, ts, values)
    mark_dirty(conn, earliest_by_series)
    return len(codes)


def _series_time_order(
    ids: np.ndarray, codes: np.ndarray, ts: np.ndarray, rows_per_block: int | None = None
) -> np.ndarray:
    """A stable permutation of the rows into (series id, ts) order, optionally in time blocks.

    Consecutive rows then land on the same b-tree page. With ``rows_per_block``, the order is
    block by block (the first ``rows_per_block`` rows of every series, series by series, then the
    next ones...), so that a large frame written to an empty SQLite table is not one long append
    at the right edge of the b-tree: SQLite's page balancing leaves appended pages ~88% full,
    but ~90% when a series' tail lies inside the tree, as it does in every later write.
    InnoDB is the other way round (a page split at a sequential insert point leaves the old page
    full), so MySQL gets the plain sort.

    Series are ranked by id into small integers, so the sorts are radix/timsort passes over
    nearly sorted data rather than a general lexsort; frames usually arrive in time order.
    """
    n = len(codes)
    rank_of_code = np.empty(len(ids), dtype="int64")
    rank_of_code[np.argsort(ids, kind="stable")] = np.arange(len(ids))
    rank = rank_of_code.astype(_small_int(len(ids)))[codes]
    if n > 1 and not (ts[1:] >= ts[:-1]).all():
        by_time = np.argsort(ts, kind="stable")
        order = by_time[np.argsort(rank[by_time], kind="stable")]
    else:
        order = np.argsort(rank, kind="stable")
    if rows_per_block is None or n <= rows_per_block:
        return order
    sorted_rank = rank[order]
    run_starts = np.flatnonzero(np.r_[True, sorted_rank[1:] != sorted_rank[:-1]])
    run_lengths = np.diff(np.r_[run_starts, n])
    if run_lengths.max() <= rows_per_block:
        return order
    block = (np.arange(n) - np.repeat(run_starts, run_lengths)) // rows_per_block
    return order[np.argsort(block.astype(_small_int(int(block.max()) + 1)), kind="stable")]


def _small_int(count: int) -> type[np.signedinteger[Any]]:
    """The narrowest dtype for 0..count-1 (numpy radix-sorts 16-bit keys)."""
    return np.int16 if count <= np.iinfo(np.int16).max else np.int64


def _insert_sqlite(
    dbapi: sqlite3.Connection, series_ids: np.ndarray, ts: np.ndarray, values: np.ndarray
) -> None:
    try:
        max_variables = dbapi.getlimit(sqlite3.SQLITE_LIMIT_VARIABLE_NUMBER)
    except AttributeError:  # Python < 3.11
        max_variables = 999
    per_statement = max(1, min(_SQLITE_ROWS_PER_STATEMENT, max_variables // 3))
    multi_sql = _SQLITE_VERB + ",".join(["(?,?,?)"] * per_statement)
    width = 3 * per_statement
    n = len(series_ids)
    in_full_statements = n - n % per_statement
    per_chunk = per_statement * max(1, _SQLITE_ROWS_PER_CHUNK // per_statement)
    cursor = dbapi.cursor()
    try:
        for start in range(0, in_full_statements, per_chunk):
            end = min(start + per_chunk, in_full_statements)
            flat = _interleave(series_ids[start:end], ts[start:end], values[start:end])
            cursor.executemany(multi_sql, (flat[i : i + width] for i in range(0, len(flat), width)))
        if in_full_statements < n:
            # The remainder row by row: one statement shape, so it is prepared once and cached.
            rest = _interleave(
                series_ids[in_full_statements:], ts[in_full_statements:], values[in_full_statements:]
            )
            cursor.executemany(_SQLITE_VERB + "(?,?,?)", (rest[i : i + 3] for i in range(0, len(rest), 3)))
    finally:
        cursor.close()


def _interleave(series_ids: np.ndarray, ts: np.ndarray, values: np.ndarray) -> list[Any]:
    """[id0, ts0, value0, id1, ts1, value1, ...] as Python ints and floats."""
    flat: list[Any] = [None] * (3 * len(series_ids))
    flat[0::3] = series_ids.tolist()
    flat[1::3] = ts.tolist()
    flat[2::3] = values.tolist()
    return flat


def _insert_mysql_text(dbapi: Any, series_ids: np.ndarray, ts: np.ndarray, values: np.ndarray) -> None:
    cursor = dbapi.cursor()
    try:
        for start in range(0, len(series_ids), _MYSQL_ROWS_PER_FORMAT):
            end = start + _MYSQL_ROWS_PER_FORMAT
            for statement in _mysql_statements(series_ids[start:end], ts[start:end], values[start:end]):
                cursor.execute(statement)  # no args: the driver sends the bytes as they are
    finally:
        cursor.close()


def _mysql_statements(series_ids: np.ndarray, ts: np.ndarray, values: np.ndarray) -> Iterator[bytes]:
    """Multi-row ``INSERT IGNORE`` statements of at most ~_MYSQL_STATEMENT_BYTES each.

    Integers print as integers; finite floats in shortest round-trip form (Arrow's cast gives the
    same significant digits as Python's repr) with ``e0`` appended when there is no exponent, as PyMySQL does, so
    the server parses a DOUBLE literal rather than a DECIMAL one.
    """
    as_text = pc.cast(pa.array(values, type=pa.float64()), pa.string())
    has_exponent = pc.match_substring(as_text, "e")
    as_text = pc.if_else(has_exponent, as_text, pc.binary_join_element_wise(as_text, "e0", ""))
    rows = pc.binary_join_element_wise(
        "(",
        pc.cast(pa.array(series_ids, type=pa.int64()), pa.string()),
        ",",
        pc.cast(pa.array(ts, type=pa.int64()), pa.string()),
        ",",
        as_text,
        "),",
        "",  # separator between the pieces above
    )
    _, offset_buffer, data = rows.buffers()
    offsets = np.frombuffer(offset_buffer, dtype=np.int32)[rows.offset : rows.offset + len(rows) + 1]
    start, n = 0, len(rows)
    while start < n:
        end = int(np.searchsorted(offsets, offsets[start] + _MYSQL_STATEMENT_BYTES, side="right")) - 1
        end = min(max(end, start + 1), n)
        # Each row ends with "),": drop the last comma.
        yield _MYSQL_VERB + data[int(offsets[start]) : int(offsets[end]) - 1].to_pybytes()
        start = end


def _insert_executemany(dbapi: Any, series_ids: np.ndarray, ts: np.ndarray, values: np.ndarray) -> None:
    """Any other format-paramstyle driver: its own executemany, in slices."""
    sql = _MYSQL_VERB.decode() + "(%s, %s, %s)"
    ids_list, ts_list, values_list = series_ids.tolist(), ts.tolist(), values.tolist()
    cursor = dbapi.cursor()
    try:
        for start in range(0, len(ids_list), _ROWS_PER_EXECUTE):
            end = start + _ROWS_PER_EXECUTE
            cursor.executemany(
                sql, list(zip(ids_list[start:end], ts_list[start:end], values_list[start:end], strict=True))
            )
    finally:
        cursor.close()
