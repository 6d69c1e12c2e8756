"""Rollup tiers: per-series 1-minute and 1-hour buckets of count/sum/min/max/last.

Charts over long ranges read these instead of raw samples. The maintenance job rolls complete
buckets forward from a per-tier watermark; samples that arrive late (below the watermark) mark
their series dirty in the same transaction that wrote them, and the next run recomputes those
buckets, so late and replayed data is corrected rather than ignored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, Table, select, text

from storage.engine import write_transaction
from storage.schema import rollup_1h, rollup_1m, rollup_dirty, rollup_state, samples, series
from storage.timeparse import utc_now

__all__ = ["TIERS", "RollupReport", "Tier", "mark_dirty", "refresh_rollups", "watermarks"]

_SERIES_CHUNK = 400
# Buckets per series computed by one statement: an hour of minutes, or 60 hours of hours.
_BUCKETS_PER_SLICE = 60


@dataclass(frozen=True)
class Tier:
    name: str
    step_ms: int
    table: Table
    source: Table  # where its buckets are computed from
    source_ts: str  # the time column of the source


TIERS = (
    Tier("1m", 60_000, rollup_1m, samples, "ts"),
    # The hour tier is built from minutes: 60x fewer rows to read, and it outlives raw retention.
    Tier("1h", 3_600_000, rollup_1h, rollup_1m, "bucket"),
)

# A minute is rolled up only once it is this old, so samples collected a little late still land
# in the normal path instead of the dirty one.
_SETTLE_MS = 30_000


@dataclass
class RollupReport:
    buckets_written: dict[str, int]
    dirty_series: int
    watermarks: dict[str, int]


def watermarks(conn: Connection) -> dict[str, int]:
    """Tier name -> epoch ms below which the tier is complete (missing: nothing rolled up yet)."""
    rows = conn.execute(select(rollup_state.c.tier, rollup_state.c.watermark_ts)).all()
    return {row.tier: int(row.watermark_ts) for row in rows}


def mark_dirty(conn: Connection, earliest_by_series: dict[int, int]) -> None:
    """Record late samples: per series, the earliest timestamp written below the 1m watermark."""
    marks = watermarks(conn)
    minute_mark = marks.get("1m")
    if minute_mark is None:
        return
    late = [{"sid": sid, "ts": ts} for sid, ts in earliest_by_series.items() if ts < minute_mark]
    if not late:
        return
    if conn.dialect.name == "sqlite":
        sql = (
            "INSERT INTO rollup_dirty (series_id, from_ts) VALUES (:sid, :ts) "
            "ON CONFLICT(series_id) DO UPDATE SET from_ts = MIN(from_ts, excluded.from_ts)"
        )
    else:
        sql = (
            "INSERT INTO rollup_dirty (series_id, from_ts) VALUES (:sid, :ts) "
            "ON DUPLICATE KEY UPDATE from_ts = LEAST(from_ts, VALUES(from_ts))"
        )
    conn.execute(text(sql), late)


def _bucket_sql(tier: Tier, ids: Sequence[int]) -> str:
    """SELECT of complete buckets for ``ids`` between :lo and :hi, including each bucket's last value."""
    src, ts, step = tier.source.name, tier.source_ts, tier.step_ms
    id_list = ",".join(str(int(i)) for i in ids)
    if tier.source is samples:
        count, total, low, high, last_ts, last_value = (
            "COUNT(*)",
            "SUM(value)",
            "MIN(value)",
            "MAX(value)",
            "MAX(ts)",
            "value",
        )
    else:
        count, total, low, high = "SUM(count)", "SUM(sum)", "MIN(min)", "MAX(max)"
        last_ts, last_value = "MAX(last_ts)", "last"
    # Grouped partials joined back to the row holding each bucket's newest timestamp for "last".
    return (
        f"SELECT g.series_id, g.bucket, g.n, g.total, g.low, g.high, s.{last_value}, g.last_ts FROM ("
        f"SELECT series_id, {ts} - {ts} % {step} AS bucket, {count} AS n, {total} AS total, "
        f"{low} AS low, {high} AS high, {last_ts} AS last_ts FROM {src} "
        f"WHERE series_id IN ({id_list}) AND {ts} >= :lo AND {ts} < :hi "
        f"GROUP BY series_id, {ts} - {ts} % {step}) g "
        f"JOIN {src} s ON s.series_id = g.series_id AND s.{ts} = "
        # A minute bucket's last_ts lies inside that minute, so it names the row holding "last".
        + ("g.last_ts" if tier.source is samples else "g.last_ts - g.last_ts % 60000")
    )


def _rebuild(conn: Connection, tier: Tier, ids: Sequence[int], lo: int, hi: int) -> int:
    """Recompute the tier's buckets in [lo, hi) for these series inside the database; returns rows written."""
    if hi <= lo or not ids:
        return 0
    # REPLACE is an upsert on both dialects: a recomputed bucket overwrites the old one.
    result = conn.execute(
        text(
            f"REPLACE INTO {tier.table.name} (series_id, bucket, count, sum, min, max, last, last_ts) "
            + _bucket_sql(tier, ids)
        ),
        {"lo": lo, "hi": hi},
    )
    return int(result.rowcount or 0)


def _all_series_ids(conn: Connection) -> list[int]:
    return [int(i) for i in conn.execute(select(series.c.id).order_by(series.c.id)).scalars()]


def _earliest_sample(conn: Connection) -> int | None:
    # Per-series MIN(ts) uses the primary key; a global MIN(ts) would scan the table.
    query = text(
        "SELECT MIN(first_ts) FROM (SELECT (SELECT MIN(ts) FROM samples s WHERE s.series_id = series.id) "
        "AS first_ts FROM series) f"
    )
    value = conn.execute(query).scalar()
    return int(value) if value is not None else None


def _set_watermark(conn: Connection, tier: str, value: int) -> None:
    now = utc_now().replace(tzinfo=None)
    conn.execute(
        text("REPLACE INTO rollup_state (tier, watermark_ts, updated_at) VALUES (:t, :w, :u)"),
        {"t": tier, "w": value, "u": now},
    )


def _roll_forward(engine: Engine, tier: Tier, ids: list[int], target: int, start: int) -> int:
    """Roll [start, target) in slices, one short transaction each, then move the watermark.

    Slices keep each GROUP BY small (MariaDB spills big ones to disk) and locks short; if the run
    stops half-way, the watermark has not moved and the next run redoes the same idempotent work.
    """
    written = 0
    slice_ms = tier.step_ms * _BUCKETS_PER_SLICE
    for lo in range(start, target, slice_ms):
        for i in range(0, len(ids), _SERIES_CHUNK):
            with write_transaction(engine) as conn:
                written += _rebuild(conn, tier, ids[i : i + _SERIES_CHUNK], lo, min(lo + slice_ms, target))
    with write_transaction(engine) as conn:
        _set_watermark(conn, tier.name, target)
    return written


def _fix_dirty(engine: Engine) -> int:
    """Recompute buckets of series that received late samples, then clear their marks."""
    with engine.connect() as conn:
        dirty = conn.execute(select(rollup_dirty.c.series_id, rollup_dirty.c.from_ts)).all()
    for sid, from_ts in dirty:
        with write_transaction(engine) as conn:
            marks = watermarks(conn)
            for tier in TIERS:
                mark = marks.get(tier.name)
                if mark is not None:
                    start = int(from_ts) - int(from_ts) % tier.step_ms
                    _rebuild(conn, tier, [int(sid)], start, mark)
            # Only clear the mark we handled: a later, earlier late write keeps its own.
            conn.execute(
                rollup_dirty.delete().where(
                    rollup_dirty.c.series_id == sid, rollup_dirty.c.from_ts == from_ts
                )
            )
    return len(dirty)


def refresh_rollups(engine: Engine, now_ms: int | None = None) -> RollupReport:
    """Bring every tier up to date: complete buckets forward, late data corrected. Idempotent."""
    now_ms = now_ms if now_ms is not None else int(utc_now().timestamp() * 1000)
    with engine.connect() as conn:
        marks = watermarks(conn)
        ids = _all_series_ids(conn)
        earliest = _earliest_sample(conn) if "1m" not in marks else None
    written: dict[str, int] = {}
    finer_mark = now_ms - _SETTLE_MS
    for tier in TIERS:
        target = finer_mark - finer_mark % tier.step_ms
        start = marks.get(tier.name)
        if start is None:
            start = earliest if earliest is not None else target
            start -= start % tier.step_ms
        written[tier.name] = _roll_forward(engine, tier, ids, target, start) if target > start else 0
        marks[tier.name] = max(target, start)
        finer_mark = marks[tier.name]  # a coarser tier only reads complete finer buckets
    dirty = _fix_dirty(engine)
    return RollupReport(buckets_written=written, dirty_series=dirty, watermarks=marks)
