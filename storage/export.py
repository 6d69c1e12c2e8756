"""CSV and Parquet exports of any metric selection and range, written in bounded chunks.

Rows are read series by series and, within a series, slice by slice (keyset pages of raw samples,
or a bounded number of buckets at a time), so memory stays flat whatever the size of the export.
Files are written to a temporary name in the target directory and renamed at the end: a failed
export leaves nothing behind. Each file gets a ``<file>.meta.json`` sidecar describing the query.

    store.export("system.cpu.percent", "cpu.parquet", since="30d")            # raw samples
    store.export(["system.cpu.percent", "system.load"], "x.csv", since="7d", every="5min", agg="max")
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import tomllib
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
from sqlalchemy import Connection

from storage import reads
from storage.fetch import numeric_frame
from storage.series import canonical_labels
from storage.timeparse import TimeInput, parse_duration, parse_time, to_millis, utc_now

if TYPE_CHECKING:
    from storage.store import Store

__all__ = [
    "COLUMNS",
    "DEFAULT_CHUNK_POINTS",
    "FORMATS",
    "ExportError",
    "ExportQuery",
    "ExportResult",
    "export_metrics",
    "iso_utc",
    "iter_csv",
    "iter_parquet",
    "iter_tables",
    "prepare_export",
    "validate_window",
    "vitals_version",
]

DEFAULT_CHUNK_POINTS = 100_000
FORMATS = ("csv", "parquet")
COLUMNS = ("ts", "metric", "host", "labels", "unit", "value")
SCHEMA = pa.schema(
    [
        ("ts", pa.timestamp("ms", tz="UTC")),
        ("metric", pa.string()),
        ("host", pa.string()),
        ("labels", pa.string()),  # canonical JSON, e.g. {"core":"0"}
        ("unit", pa.string()),
        ("value", pa.float64()),
    ]
)
_SUFFIXES = {".csv": "csv", ".parquet": "parquet", ".pq": "parquet"}
# Bucketed slices also bound the raw rows a sample aggregate (p95...) loads: at most this many
# seconds of samples per chunk point, assuming no series is sampled more often than once a second.
_RAW_MS_PER_POINT = 1_000
_SPOOL_BYTES = 32 * 1024 * 1024
_STREAM_BLOCK = 256 * 1024


class ExportError(ValueError):
    """A wrong export request; ``parameter`` names the argument that was wrong."""

    def __init__(self, parameter: str, message: str) -> None:
        super().__init__(message)
        self.parameter = parameter


@dataclass(frozen=True)
class ExportQuery:
    """A validated export request: what to read, ready for any output format."""

    metrics: tuple[str, ...]
    series: pd.DataFrame  # id, metric, host, labels, unit: in output order
    since: datetime
    until: datetime
    step_ms: int | None  # None: raw samples
    agg: str | None  # None with raw samples
    host: str | None = None
    chunk_points: int = DEFAULT_CHUNK_POINTS
    tiers: set[str] = field(default_factory=set, compare=False)  # filled in while reading

    def describe(self) -> dict[str, Any]:
        return {
            "metrics": list(self.metrics),
            "since": _iso(self.since),
            "until": _iso(self.until),
            "step_ms": self.step_ms,
            "agg": self.agg,
            "host": self.host,
            "series": len(self.series),
        }


@dataclass(frozen=True)
class ExportResult:
    path: Path
    rows: int
    bytes: int
    meta_path: Path


def export_metrics(
    store: Store,
    metrics: Sequence[str] | str,
    path: str | os.PathLike[str],
    since: TimeInput,
    until: TimeInput = None,
    every: str | timedelta | None = None,
    agg: str = "mean",
    format: str | None = None,
    host: str | None = None,
    chunk_points: int = DEFAULT_CHUNK_POINTS,
) -> ExportResult:
    """Write the samples of ``metrics`` in [since, until) to ``path`` as CSV or Parquet.

    Without ``every`` every raw sample is written (``agg`` is then unused); with it, one row per
    series and bucket holding ``agg`` of the bucket. Columns: ts (UTC; ISO 8601 with a ``Z`` in CSV),
    metric, host, labels (JSON), unit, value. ``format`` defaults to the file suffix (.csv, .parquet).
    Wrong input raises ``ExportError`` (a ``ValueError``) before anything is written.
    """
    target = Path(path)
    _check_target(target)
    fmt = _resolve_format(target, format)
    query = prepare_export(store, metrics, since, until, every, agg, host=host, chunk_points=chunk_points)
    with _atomic_file(target) as handle:
        rows = _write_parquet(store, query, handle) if fmt == "parquet" else _write_csv(store, query, handle)
    size = target.stat().st_size
    meta_path = _write_sidecar(target, query, fmt, rows, size)
    return ExportResult(path=target, rows=rows, bytes=size, meta_path=meta_path)


def prepare_export(
    store: Store,
    metrics: Sequence[str] | str,
    since: TimeInput,
    until: TimeInput = None,
    every: str | timedelta | None = None,
    agg: str = "mean",
    host: str | None = None,
    chunk_points: int = DEFAULT_CHUNK_POINTS,
) -> ExportQuery:
    """Validate an export request; raises ``ExportError`` naming the wrong parameter."""
    names = _metric_names(metrics)
    start, end, step_ms, agg_name = validate_window(since, until, every, agg)
    if chunk_points < 1:
        raise ExportError("chunk_points", f"chunk_points: must be at least 1, got {chunk_points}")
    with store.engine.connect() as conn:
        found = _series_for(conn, names, host)
    return ExportQuery(
        metrics=names,
        series=found,
        since=start,
        until=end,
        step_ms=step_ms,
        agg=agg_name if step_ms is not None else None,
        host=host,
        chunk_points=chunk_points,
    )


# --- validation --------------------------------------------------------------------------------


def validate_window(
    since: TimeInput, until: TimeInput, every: str | timedelta | None, agg: str
) -> tuple[datetime, datetime, int | None, str]:
    """(since, until, step ms or None for raw, aggregate), or ``ExportError`` naming the bad one."""
    start, end = _time_range(since, until)
    return start, end, _step_ms(every), _aggregate(agg)


def _metric_names(metrics: Sequence[str] | str) -> tuple[str, ...]:
    names = (metrics,) if isinstance(metrics, str) else tuple(metrics)
    names = tuple(dict.fromkeys(name.strip() for name in names if name and name.strip()))
    if not names:
        raise ExportError("metric", "metric: name at least one metric to export")
    return names


def _time_range(since: TimeInput, until: TimeInput) -> tuple[datetime, datetime]:
    if since is None:
        raise ExportError(
            "since", "since: give the start of the export, e.g. '30d' or '2026-01-01T00:00:00Z'"
        )
    now = utc_now()
    try:
        start = parse_time(since, name="since", now=now)
    except ValueError as exc:
        raise ExportError("since", str(exc)) from None
    try:
        end = parse_time(until, name="until", now=now)
    except ValueError as exc:
        raise ExportError("until", str(exc)) from None
    if end <= start:
        raise ExportError("until", f"until ({_iso(end)}) must be after since ({_iso(start)})")
    return start, end


def _step_ms(every: str | timedelta | None) -> int | None:
    if every is None or (isinstance(every, str) and every.strip().lower() in {"", "raw"}):
        return None
    try:
        step = int(parse_duration(every, name="every").total_seconds() * 1000)
    except ValueError as exc:
        raise ExportError("every", str(exc)) from None
    if step < 1:
        raise ExportError("every", f"every: must be at least 1 ms, got {every!r}")
    return step


def _aggregate(agg: str) -> str:
    if not isinstance(agg, str):
        raise ExportError("agg", "agg: an export takes one aggregate, e.g. 'mean'")
    try:
        return reads.validate_aggregates(agg)[0]
    except ValueError as exc:
        raise ExportError("agg", str(exc)) from None


def _resolve_format(path: Path, format: str | None) -> str:
    if format is not None:
        fmt = format.strip().lower()
        if fmt not in FORMATS:
            raise ExportError("format", f"format: unsupported {format!r}; choose csv or parquet")
        return fmt
    fmt_from_suffix = _SUFFIXES.get(path.suffix.lower())
    if fmt_from_suffix is None:
        raise ExportError(
            "format",
            f"format: cannot tell it from the file name {path.name!r}; "
            "use a .csv or .parquet name or pass format='csv' or 'parquet'",
        )
    return fmt_from_suffix


def _series_for(conn: Connection, names: tuple[str, ...], host: str | None) -> pd.DataFrame:
    parts = []
    for name in names:
        found = reads.find_series(conn, metric=name)
        if found.empty:
            raise ExportError("metric", str(reads.unknown_metric_error(conn, name)))
        parts.append(found if host is None else found[found["host"] == host])
    selected = pd.concat(parts, ignore_index=True)
    if selected.empty:
        raise ExportError("host", f"host: no series of {', '.join(map(repr, names))} on host {host!r}")
    return selected


def _check_target(path: Path) -> None:
    parent = path.parent
    if path.is_dir():
        raise ExportError("path", f"path: {str(path)!r} is a directory; give a file name")
    if parent.exists() and not parent.is_dir():
        raise ExportError("path", f"path: {str(parent)!r} is not a directory")
    if not parent.is_dir():
        raise ExportError("path", f"path: directory {str(parent)!r} does not exist")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise ExportError("path", f"path: directory {str(parent)!r} is not writable")


# --- reading in chunks -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Slice:
    """Consecutive rows of one series."""

    ts_ms: np.ndarray
    values: np.ndarray
    metric: str
    host: str
    labels: str  # canonical JSON
    unit: str


def _slices(store: Store, query: ExportQuery) -> Iterator[_Slice]:
    with store.engine.connect() as conn:
        for row in query.series.itertuples(index=False):
            constants = (str(row.metric), str(row.host), canonical_labels(row.labels), str(row.unit or ""))
            for ts_ms, values in _series_slices(conn, query, int(row.id)):
                yield _Slice(ts_ms, values, *constants)


def _batched(slices: Iterator[_Slice], limit: int) -> Iterator[list[_Slice]]:
    """Slices grouped into batches of about ``limit`` rows (never more than twice that)."""
    pending: list[_Slice] = []
    rows = 0
    for piece in slices:
        pending.append(piece)
        rows += len(piece.ts_ms)
        if rows >= limit:
            yield pending
            pending, rows = [], 0
    if pending:
        yield pending


def iter_tables(store: Store, query: ExportQuery) -> Iterator[pa.Table]:
    """The export as Arrow tables of about ``chunk_points`` rows each."""
    for batch in _batched(_slices(store, query), query.chunk_points):
        yield pa.concat_tables([_table(piece) for piece in batch])


def _series_slices(
    conn: Connection, query: ExportQuery, series_id: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    start_ms, end_ms = to_millis(query.since), to_millis(query.until)
    if query.step_ms is None:
        yield from _raw_pages(conn, series_id, start_ms, end_ms, query.chunk_points)
        query.tiers.add("raw")
    else:
        assert query.agg is not None
        yield from _bucket_slices(conn, query, series_id, start_ms, end_ms, query.step_ms, query.agg)


def _raw_pages(
    conn: Connection, series_id: int, start_ms: int, end_ms: int, page: int
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """Keyset pages over the (series_id, ts) primary key: each page is one cheap index range scan."""
    cursor = start_ms
    while True:
        rows = numeric_frame(
            conn,
            "SELECT ts AS ts, value AS value FROM samples "
            "WHERE series_id = :sid AND ts >= :lo AND ts < :hi ORDER BY ts LIMIT :page",
            {"sid": series_id, "lo": cursor, "hi": end_ms, "page": page},
            ("ts", "value"),
            ("int64", "float64"),
            order_by=("ts",),
        )
        if rows.empty:
            return
        yield rows["ts"].to_numpy(), rows["value"].to_numpy()
        if len(rows) < page:
            return
        cursor = int(rows["ts"].iloc[-1]) + 1


def _bucket_slices(
    conn: Connection, query: ExportQuery, series_id: int, start_ms: int, end_ms: int, step_ms: int, agg: str
) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    # Slices end on bucket boundaries so that no bucket is split between two slices.
    width = max(step_ms, min(query.chunk_points * step_ms, query.chunk_points * _RAW_MS_PER_POINT))
    width -= width % step_ms
    lo = start_ms
    while lo < end_ms:
        hi = min(end_ms, (lo // step_ms) * step_ms + width)
        frame = reads.bucketed(conn, [series_id], lo, hi, step_ms, (agg,))
        query.tiers.update(frame.attrs.get("tiers", ["raw"]))
        frame = frame.dropna(subset=[agg])
        if not frame.empty:
            yield frame["bucket"].to_numpy("int64"), frame[agg].to_numpy("float64")
        lo = hi


def _table(piece: _Slice) -> pa.Table:
    n = len(piece.ts_ms)
    return pa.Table.from_arrays(
        [
            pa.array(piece.ts_ms, pa.int64()).cast(SCHEMA.field("ts").type),
            pa.repeat(pa.scalar(piece.metric, pa.string()), n),
            pa.repeat(pa.scalar(piece.host, pa.string()), n),
            pa.repeat(pa.scalar(piece.labels, pa.string()), n),
            pa.repeat(pa.scalar(piece.unit, pa.string()), n),
            pa.array(piece.values, pa.float64()),
        ],
        schema=SCHEMA,
    )


# --- formats -----------------------------------------------------------------------------------


def iter_csv(store: Store, query: ExportQuery) -> Iterator[bytes]:
    """The export as CSV, one encoded chunk at a time (the header first)."""
    for chunk, _rows in _csv_chunks(store, query):
        yield chunk


def _csv_chunks(store: Store, query: ExportQuery) -> Iterator[tuple[bytes, int]]:
    yield (",".join(COLUMNS) + "\n").encode(), 0
    # Bucket starts on whole-second steps print as "...:00Z"; raw samples keep their milliseconds.
    whole_seconds = query.step_ms is not None and query.step_ms % 1000 == 0
    for batch in _batched(_slices(store, query), query.chunk_points):
        text = "".join(_csv_lines(piece, whole_seconds) for piece in batch)
        yield text.encode(), sum(len(piece.ts_ms) for piece in batch)


def iso_utc(ts_ms: np.ndarray, whole_seconds: bool = False) -> list[str]:
    """Epoch milliseconds as ISO 8601 UTC: ``2026-11-23T17:00:00Z`` or ``...:00.123Z``."""
    stamps = np.datetime_as_string(ts_ms.astype("datetime64[ms]"), unit="s" if whole_seconds else "ms")
    return [f"{stamp}Z" for stamp in stamps.tolist()]


def _csv_lines(piece: _Slice, whole_seconds: bool) -> str:
    stamps = iso_utc(piece.ts_ms, whole_seconds)
    fields = io.StringIO()
    csv.writer(fields, lineterminator="").writerow([piece.metric, piece.host, piece.labels, piece.unit])
    middle = fields.getvalue()
    # repr() of a float is its shortest exact form, so values survive the round trip unchanged.
    return "".join(
        [f"{stamp},{middle},{value!r}\n" for stamp, value in zip(stamps, piece.values.tolist(), strict=True)]
    )


def _write_csv(store: Store, query: ExportQuery, handle: BinaryIO) -> int:
    rows = 0
    for chunk in _csv_chunks(store, query):
        handle.write(chunk[0])
        rows += chunk[1]
    return rows


def _write_parquet(store: Store, query: ExportQuery, handle: BinaryIO) -> int:
    rows = 0
    schema = SCHEMA.with_metadata({"vitals": json.dumps(query.describe())})
    with pq.ParquetWriter(handle, schema, compression="zstd") as writer:
        for table in iter_tables(store, query):
            writer.write_table(table)
            rows += table.num_rows
    return rows


def iter_parquet(store: Store, query: ExportQuery) -> Iterator[bytes]:
    """The export as Parquet bytes. Parquet's footer comes last, so the file is built first in a
    spooled temporary file (in memory while small, on disk beyond that) and then streamed."""
    with tempfile.SpooledTemporaryFile(max_size=_SPOOL_BYTES) as spool:
        _write_parquet(store, query, spool)  # type: ignore[arg-type]
        spool.seek(0)
        while block := spool.read(_STREAM_BLOCK):
            yield block


# --- files -------------------------------------------------------------------------------------


@contextmanager
def _atomic_file(target: Path) -> Iterator[BinaryIO]:
    """A temporary file next to ``target``, renamed onto it on success and removed on failure."""
    try:
        fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".part")
    except OSError as exc:
        raise ExportError("path", f"path: cannot write to {str(target)!r}: {exc.strerror}") from None
    temp = Path(name)
    try:
        with open(fd, "wb") as handle:
            yield handle
        os.chmod(temp, 0o644)  # mkstemp creates 0600; an export is an ordinary file
        os.replace(temp, target)
    except OSError as exc:  # disk full, directory gone...
        temp.unlink(missing_ok=True)
        raise ExportError("path", f"path: cannot write to {str(target)!r}: {exc.strerror or exc}") from None
    except BaseException:
        temp.unlink(missing_ok=True)
        raise


def _write_sidecar(target: Path, query: ExportQuery, fmt: str, rows: int, size: int) -> Path:
    meta_path = target.with_name(target.name + ".meta.json")
    meta = {
        "file": target.name,
        "format": fmt,
        "compression": "zstd" if fmt == "parquet" else None,
        "columns": list(COLUMNS),
        "rows": rows,
        "bytes": size,
        "query": query.describe(),
        "tiers": sorted(query.tiers) or ["raw"],
        "exported_at": _iso(utc_now()),
        "vitals_version": vitals_version(),
    }
    with _atomic_file(meta_path) as handle:
        handle.write((json.dumps(meta, indent=2) + "\n").encode())
    return meta_path


def _iso(moment: datetime) -> str:
    return pd.Timestamp(moment).tz_convert("UTC").isoformat(timespec="milliseconds").replace("+00:00", "Z")


def vitals_version() -> str:
    """The installed package's version, else the one in the source tree's pyproject.toml."""
    try:
        return metadata.version("vitals")
    except metadata.PackageNotFoundError:
        pyproject = Path(__file__).resolve().parents[1] / "pyproject.toml"
        try:
            return str(tomllib.loads(pyproject.read_text())["project"]["version"])
        except (OSError, KeyError, tomllib.TOMLDecodeError):
            return "unknown"
