"""The sample write path: a tidy DataFrame in, idempotent bulk insert out.

This is the hottest path in Vitals, so it avoids per-row Python work: series keys are factorized
once per call, and rows go to the driver's own ``executemany`` as plain tuples (SQLAlchemy Core's
generic insert costs ~4x on SQLite; see PITFALLS.md). ``INSERT IGNORE`` / ``INSERT OR IGNORE``
make a retried or replayed batch a no-op instead of a duplicate.
"""

from __future__ import annotations

import socket
from collections.abc import Sequence

import numpy as np
import pandas as pd
from sqlalchemy import Connection

from storage.rollups import mark_dirty
from storage.series import SeriesKey, SeriesRegistry, canonical_labels

__all__ = ["REQUIRED_COLUMNS", "prepare_samples", "write_frame"]

REQUIRED_COLUMNS = ("ts", "metric", "value")
OPTIONAL_COLUMNS = ("host", "labels", "unit")

_INSERT_SQL = {
    "sqlite": "INSERT OR IGNORE INTO samples (series_id, ts, value) VALUES (?, ?, ?)",
    # PyMySQL rewrites this into multi-row INSERTs of up to ~1 MB each.
    "mysql": "INSERT IGNORE INTO samples (series_id, ts, value) VALUES (%s, %s, %s)",
}
_ROWS_PER_EXECUTE = 50_000


def _millis(ts: pd.Series) -> np.ndarray:
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


def _canonical_label_column(labels: pd.Series) -> pd.Series:
    # Canonicalize each distinct label object once, not once per row: frames usually reuse a
    # handful of dicts across millions of rows. Live objects have distinct id()s, so this is exact.
    object_ids = labels.map(id)
    codes, first_rows = pd.factorize(object_ids)
    first_of_code = pd.Series(range(len(labels))).groupby(codes).first()
    canonical = [canonical_labels(labels.iloc[row]) for row in first_of_code]
    return pd.Series(np.asarray(canonical, dtype=object)[codes], index=labels.index)


def prepare_samples(frame: pd.DataFrame) -> tuple[list[SeriesKey], np.ndarray, np.ndarray, np.ndarray]:
    """Validate a tidy frame and split it into distinct series keys plus parallel arrays."""
    missing = [name for name in REQUIRED_COLUMNS if name not in frame.columns]
    if missing:
        raise ValueError(
            f"write: missing column(s) {', '.join(missing)}; expected ts, metric, value "
            "and optionally host, labels, unit"
        )
    values = pd.to_numeric(frame["value"], errors="coerce").to_numpy(dtype="float64")
    keep = np.isfinite(values)  # a NaN reading is "no reading": neither SQL dialect stores it well
    frame = frame.loc[keep]
    values = values[keep]
    ts = _millis(frame["ts"])
    host = (
        frame["host"].astype(str) if "host" in frame else pd.Series(socket.gethostname(), index=frame.index)
    )
    labels = (
        _canonical_label_column(frame["labels"]) if "labels" in frame else pd.Series("{}", index=frame.index)
    )
    unit = frame["unit"].astype(str) if "unit" in frame else pd.Series("", index=frame.index)
    metric = frame["metric"].astype(str)
    key_frame = pd.DataFrame({"metric": metric, "host": host, "labels": labels, "unit": unit})
    codes, uniques = pd.MultiIndex.from_frame(key_frame[["metric", "host", "labels"]]).factorize()
    first_units = key_frame["unit"].groupby(codes).first()
    keys = [
        SeriesKey(metric=m, host=h, labels=lab, unit=first_units.iloc[i])
        for i, (m, h, lab) in enumerate(uniques)
    ]
    return keys, np.asarray(codes), ts, values


def write_frame(conn: Connection, registry: SeriesRegistry, frame: pd.DataFrame) -> int:
    """Insert the frame's samples; returns the number of rows handed to the database."""
    if frame.empty:
        return 0
    keys, codes, ts, values = prepare_samples(frame)
    if len(codes) == 0:
        return 0
    ids = np.asarray(registry.resolve(conn, keys), dtype="int64")
    series_ids = ids[codes]
    _insert_rows(conn, series_ids.tolist(), ts.tolist(), values.tolist())
    # Samples older than the rollup watermark (late or replayed) get their buckets recomputed.
    earliest = pd.Series(ts).groupby(series_ids).min()
    mark_dirty(conn, {int(sid): int(first) for sid, first in earliest.items()})
    return len(codes)


def _insert_rows(
    conn: Connection, series_ids: Sequence[int], ts: Sequence[int], values: Sequence[float]
) -> None:
    sql = _INSERT_SQL["sqlite" if conn.dialect.name == "sqlite" else "mysql"]
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    try:
        for start in range(0, len(series_ids), _ROWS_PER_EXECUTE):
            end = start + _ROWS_PER_EXECUTE
            cursor.executemany(
                sql, list(zip(series_ids[start:end], ts[start:end], values[start:end], strict=True))
            )
    finally:
        cursor.close()
