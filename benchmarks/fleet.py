"""Fleet charts at their default step (issue #15, part 2), SQLite and MariaDB.

200 series at 10 s, written through ``Store.write``; each figure beside a baseline timed in the
same run, with the ratio:
- one series, 7 days, 5-minute buckets: ``Store.metrics`` vs ``pd.read_sql`` of raw rows + resample;
- all 200 series over 7 and over 30 days at the step ``Store.metrics`` picks by default (a total
  point budget) vs the step it picked before the budget (per-series cap only), same code and tiers;
- building every rollup tier from scratch: ``refresh_rollups`` vs the previous algorithm (REPLACE
  per 1-hour slice of all series, REPEATABLE READ, the hour tier from minutes), kept below as the
  baseline. The new build is timed before and after the baseline and averaged, so neither gets the
  warmer cache.

A default run writes 10,000 points per series (2M points); ``VITALS_BENCH_FULL=1`` (or
``--points-per-series 50000``) writes the issue's 10M. 50,000 points at 10 s span 5.8 days, so
the 30-day read covers that much data.

Run: ``python -m benchmarks.fleet [--points-per-series N] [--dialect sqlite|mysql]``.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import pandas as pd
from sqlalchemy import Engine, text

import storage
from benchmarks.reads import (
    METRIC,
    SERIES,
    STEP_S,
    _load,
    _median_ms,
    raw_resample_baseline,
    scratch_store_url,
)
from storage.engine import write_transaction
from storage.rollups import refresh_rollups
from storage.store import DEFAULT_MAX_POINTS

DEFAULT_POINTS = 10_000
FULL_POINTS = 50_000
_TIER_TABLES = ("rollup_1m", "rollup_5m", "rollup_1h")


def _load_average() -> str:
    return f"{os.getloadavg()[0]:.2f}"


def _clear_tiers(engine: Engine) -> None:
    with engine.begin() as conn:
        for table in _TIER_TABLES:
            conn.execute(
                text(f"TRUNCATE TABLE {table}" if engine.dialect.name == "mysql" else f"DELETE FROM {table}")
            )
        conn.execute(text("DELETE FROM rollup_state"))
        conn.execute(text("DELETE FROM rollup_dirty"))


def _legacy_refresh(engine: Engine, now_ms: int) -> None:
    """The rollup build as it was before this change: the baseline for the maintenance figure."""
    with engine.connect() as conn:
        ids = [int(i) for i in conn.execute(text("SELECT id FROM series ORDER BY id")).scalars()]
        earliest = conn.execute(
            text(
                "SELECT MIN(f) FROM (SELECT (SELECT MIN(ts) FROM samples s WHERE s.series_id = series.id) f FROM series) e"
            )
        ).scalar()
    finer_mark = now_ms - 30_000
    for name, step, source, ts in (("1m", 60_000, "samples", "ts"), ("1h", 3_600_000, "rollup_1m", "bucket")):
        target = finer_mark - finer_mark % step
        start = int(earliest) - int(earliest) % step
        raw = source == "samples"
        parts = (
            ("COUNT(*)", "SUM(value)", "MIN(value)", "MAX(value)", "MAX(ts)")
            if raw
            else ("SUM(count)", "SUM(sum)", "MIN(min)", "MAX(max)", "MAX(last_ts)")
        )
        grouped = ", ".join(
            f"{p} AS {a}" for p, a in zip(parts, ("n", "total", "low", "high", "last_ts"), strict=True)
        )
        last_row = "g.last_ts" if raw else "g.last_ts - g.last_ts % 60000"
        for lo in range(start, target, step * 60):
            for i in range(0, len(ids), 400):
                id_list = ",".join(map(str, ids[i : i + 400]))
                sql = (
                    f"REPLACE INTO rollup_{name} (series_id, bucket, count, sum, min, max, last, last_ts) "
                    f"SELECT g.series_id, g.bucket, g.n, g.total, g.low, g.high, s.{'value' if raw else 'last'}, "
                    f"g.last_ts FROM (SELECT series_id, {ts} - {ts} % {step} AS bucket, {grouped} FROM {source} "
                    f"WHERE series_id IN ({id_list}) AND {ts} >= :lo AND {ts} < :hi "
                    f"GROUP BY series_id, {ts} - {ts} % {step}) g "
                    f"JOIN {source} s ON s.series_id = g.series_id AND s.{ts} = {last_row}"
                )
                with write_transaction(engine) as conn:
                    conn.execute(text(sql), {"lo": lo, "hi": min(lo + step * 60, target)})
        finer_mark = target


def _old_default_step(store: storage.Store, since: str) -> pd.DataFrame:
    # Before the total budget: every series got up to DEFAULT_MAX_POINTS buckets.
    return store.metrics(METRIC, since=since, max_total_points=SERIES * DEFAULT_MAX_POINTS)


def _step_of(frame: pd.DataFrame) -> str:
    one = frame[frame["series_id"] == frame["series_id"].iloc[0]]["ts"]
    return str(one.diff().dropna().min()).replace("0 days ", "") if len(one) > 1 else "one bucket"


def _bench_dialect(dialect: str, points_per_series: int, workdir: Path) -> list[tuple[str, ...]]:
    with scratch_store_url(dialect, workdir, "fleet") as url:
        store = storage.connect(url)
        end = pd.Timestamp.now(tz="UTC").floor("min")
        started = time.perf_counter()
        points = _load(store, points_per_series, end)
        print(f"  [{dialect}] wrote {points:,} points in {time.perf_counter() - started:.1f} s", flush=True)
        now_ms = int(end.timestamp() * 1000)

        builds, load_before = [], _load_average()
        for run in ("new", "legacy", "new"):
            _clear_tiers(store.engine)
            started = time.perf_counter()
            _legacy_refresh(store.engine, now_ms) if run == "legacy" else refresh_rollups(
                store.engine, now_ms=now_ms
            )
            builds.append(time.perf_counter() - started)
            print(f"  [{dialect}] {run} rollup build {builds[-1]:.1f} s (load {_load_average()})", flush=True)
        new_build, legacy_build = (builds[0] + builds[2]) / 2, builds[1]
        rows: list[tuple[str, ...]] = [
            (
                "rollup build, all tiers (s)",
                f"{new_build:.1f}",
                f"{legacy_build:.1f}",
                f"{legacy_build / new_build:.1f}x faster",
                ">= 3x (MariaDB)",
                load_before,
            ),
        ]

        sid = int(store.list_series(metric=METRIC, host="host-000")["id"].iloc[0])
        since_ms = now_ms - 7 * 86_400_000
        one = _median_ms(lambda: store.metrics(METRIC, since="7d", every="5min", host="host-000"), 15)

        def raw_resample() -> pd.Series:
            return raw_resample_baseline(store, sid, since_ms)

        load = _load_average()
        one_base = _median_ms(raw_resample, 5)
        rows.append(
            (
                "one series, 7d, 5 min (ms)",
                f"{one:.1f}",
                f"{one_base:.1f}",
                f"{one_base / one:.1f}x faster",
                "<= 20 ms",
                load,
            )
        )
        for since, target in (("7d", "<= 150 ms"), ("30d", "<= 300 ms")):
            load = _load_average()
            fleet = _median_ms(lambda since=since: store.metrics(METRIC, since=since), 9)
            before = _median_ms(lambda since=since: _old_default_step(store, since), 3)
            new_step = _step_of(store.metrics(METRIC, since=since))
            old_step = _step_of(_old_default_step(store, since))
            rows.append(
                (
                    f"200 series, {since}, default step (ms)",
                    f"{fleet:.1f}",
                    f"{before:.1f}",
                    f"{before / fleet:.1f}x faster",
                    target,
                    load,
                )
            )
            rows.append(("  step: budget vs per-series cap", new_step, old_step, "", "", ""))
        store.close()
        return rows


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    full = os.environ.get("VITALS_BENCH_FULL") == "1"
    parser.add_argument("--points-per-series", type=int, default=FULL_POINTS if full else DEFAULT_POINTS)
    parser.add_argument("--dialect", choices=["sqlite", "mysql"], action="append")
    args = parser.parse_args(argv)
    print(f"fleet benchmark: {SERIES} series x {args.points_per_series:,} points at {STEP_S} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="vitals-bench-") as workdir:
        for dialect in args.dialect or ["sqlite", "mysql"]:
            rows = _bench_dialect(dialect, args.points_per_series, Path(workdir))
            print(f"\n{dialect}:")
            print(f"  {'figure':<36} {'vitals':>9} {'baseline':>10} {'ratio':>14}  {'target':<16} load")
            for figure, vitals, baseline, ratio, target, load in rows:
                print(f"  {figure:<36} {vitals:>9} {baseline:>10} {ratio:>14}  {target:<16} {load}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
