"""Read-path benchmark on 10,000,000 points (200 series x 50,000 points at 10 s), SQLite and MariaDB.

Each figure is printed next to a baseline timed in the same run, with the ratio:
- one series, 7 days, 5-minute buckets: ``Store.metrics`` vs ``pd.read_sql`` of raw rows + ``resample``;
- all 200 series, 7 days, hourly (fleet overview): ``Store.metrics`` vs SQL GROUP BY over raw rows;
- export of all 10M points to Parquet: ``Store.export`` (time, peak RSS of a child process)
  vs ``pd.read_sql`` of every raw row + ``to_parquet``;
- bytes per point on disk, rollups included.

Run: ``python -m benchmarks.reads [--points-per-series N] [--dialect sqlite|mysql]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text

import storage
from storage.rollups import refresh_rollups

MYSQL_SERVER = os.environ.get("VITALS_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306")
SERIES = 200
METRIC = "system.cpu.percent"
STEP_S = 10
WRITE_CHUNK_POINTS = 1_000_000


def _median_ms(run: Callable[[], object], repeat: int) -> float:
    run()  # warm caches and pools once, as a dashboard that has been open for a while would be
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _load(store: storage.Store, points_per_series: int, end: pd.Timestamp) -> int:
    """Write the data set in time order across series, as collectors would, in 1M-point chunks."""
    stamps = pd.date_range(end=end, periods=points_per_series, freq=f"{STEP_S}s")
    hosts = np.array([f"host-{i:03d}" for i in range(SERIES)], dtype=object)
    rng = np.random.default_rng(1)
    per_chunk = max(1, WRITE_CHUNK_POINTS // SERIES)
    for start in range(0, points_per_series, per_chunk):
        chunk = stamps[start : start + per_chunk]
        store.write(
            pd.DataFrame(
                {
                    "ts": np.repeat(chunk.values, SERIES),
                    "metric": METRIC,
                    "host": np.tile(hosts, len(chunk)),
                    "value": rng.uniform(0, 100, len(chunk) * SERIES).round(2),
                }
            ).assign(ts=lambda frame: pd.to_datetime(frame["ts"], utc=True))
        )
    return points_per_series * SERIES


def raw_resample_baseline(store: storage.Store, sid: int, since_ms: int) -> pd.Series:
    """The 5-minute means of one series the plain way: ``pd.read_sql`` of raw rows, then resample."""
    frame = pd.read_sql(
        text("SELECT ts, value FROM samples WHERE series_id = :sid AND ts >= :lo"),
        store.engine,
        params={"sid": sid, "lo": since_ms},
    )
    return frame.set_index(pd.to_datetime(frame["ts"], unit="ms", utc=True))["value"].resample("5min").mean()


def _disk_bytes(store: storage.Store, path: Path | None) -> int:
    if store.dialect == "sqlite":
        assert path is not None
        with store.engine.connect() as conn:
            conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return path.stat().st_size
    with store.engine.connect() as conn:
        for table in ("samples", "rollup_1m", "rollup_1h", "series"):
            conn.exec_driver_sql(f"ANALYZE TABLE {table}").all()
        return int(
            conn.execute(
                text(
                    "SELECT SUM(data_length + index_length) FROM information_schema.tables "
                    "WHERE table_schema = DATABASE() AND table_name IN ('samples','rollup_1m','rollup_1h','series')"
                )
            ).scalar_one()
        )


def _export_in_child(url: str, path: Path) -> tuple[float, float]:
    """(seconds, peak RSS MB) of Store.export run in a fresh process, so RSS is the export's own."""
    code = (
        "import resource, sys, time, storage\n"
        "store = storage.connect(sys.argv[1], migrate=False)\n"
        "t = time.perf_counter(); store.export(sys.argv[2], path=sys.argv[3], since='30d', every=None)\n"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, url, METRIC, str(path)], check=True, capture_output=True, text=True
    ).stdout.split()
    return float(out[-2]), float(out[-1])


def _baseline_export_in_child(url: str, path: Path) -> tuple[float, float]:
    code = (
        "import resource, sys, time, pandas as pd, sqlalchemy as sa\n"
        "engine = sa.create_engine(sys.argv[1])\n"
        "t = time.perf_counter()\n"
        "frame = pd.read_sql('SELECT series_id, ts, value FROM samples', engine)\n"
        "frame.to_parquet(sys.argv[2], compression='zstd')\n"
        "print(time.perf_counter() - t, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code, url, str(path)], check=True, capture_output=True, text=True
    ).stdout.split()
    return float(out[-2]), float(out[-1])


def _bench_dialect(
    dialect: str, points_per_series: int, workdir: Path
) -> list[tuple[str, str, str, str, str]]:
    db_path = workdir / "reads.db" if dialect == "sqlite" else None
    with scratch_store_url(dialect, workdir, "reads") as url:
        store = storage.connect(url)
        end = pd.Timestamp.now(tz="UTC").floor("min")
        started = time.perf_counter()
        points = _load(store, points_per_series, end)
        load_s = time.perf_counter() - started
        started = time.perf_counter()
        refresh_rollups(store.engine)
        rollup_s = time.perf_counter() - started
        print(
            f"  [{dialect}] loaded {points:,} points in {load_s:.1f} s; rollups built in {rollup_s:.1f} s",
            flush=True,
        )
        sid = int(store.list_series(metric=METRIC, host="host-000")["id"].iloc[0])
        since_ms = int((end - pd.Timedelta("7D")).timestamp() * 1000)

        one = _median_ms(lambda: store.metrics(METRIC, since="7d", every="5min", host="host-000"), 15)

        def raw_resample() -> pd.Series:
            return raw_resample_baseline(store, sid, since_ms)

        one_base = _median_ms(raw_resample, 5)
        fleet = _median_ms(lambda: store.metrics(METRIC, since="7d", every="1h"), 9)

        def raw_group_by() -> object:
            with store.engine.connect() as conn:
                return conn.execute(
                    text(
                        "SELECT series_id, ts - ts % 3600000 AS b, AVG(value) FROM samples "
                        "WHERE ts >= :lo GROUP BY series_id, ts - ts % 3600000"
                    ),
                    {"lo": since_ms},
                ).all()

        fleet_base = _median_ms(raw_group_by, 2)
        rows = [
            (
                "one series, 7d, 5-min buckets (ms)",
                f"{one:.1f}",
                f"{one_base:.1f}",
                f"{one_base / one:.1f}x faster",
                "<= 20 ms",
            ),
            (
                "200 series, 7d, hourly (ms)",
                f"{fleet:.1f}",
                f"{fleet_base:.1f}",
                f"{fleet_base / fleet:.1f}x faster",
                "<= 150 ms",
            ),
        ]
        if hasattr(store, "export"):
            seconds, rss = _export_in_child(url, workdir / f"export-{dialect}.parquet")
            base_seconds, base_rss = _baseline_export_in_child(url, workdir / f"baseline-{dialect}.parquet")
            rows.append(
                (
                    f"export {points / 1e6:.0f}M points to Parquet (s)",
                    f"{seconds:.1f}",
                    f"{base_seconds:.1f}",
                    f"{base_seconds / seconds:.2f}x",
                    "<= 15 s",
                )
            )
            rows.append(
                (
                    "export peak RSS (MB)",
                    f"{rss:.0f}",
                    f"{base_rss:.0f}",
                    f"{base_rss / rss:.2f}x less",
                    "< 600 MB",
                )
            )
        else:
            rows.append(("export to Parquet", "n/a", "", "", "Store.export not built"))
        rows.append(
            (
                "bytes per point, rollups included",
                f"{_disk_bytes(store, db_path) / points:.1f}",
                "",
                "",
                "print",
            )
        )
        store.close()
        return rows


@contextmanager
def scratch_store_url(dialect: str, workdir: Path, name: str) -> Iterator[str]:
    """A throw-away store: a SQLite file in ``workdir``, or a MariaDB database dropped afterwards."""
    if dialect == "sqlite":
        yield f"sqlite:///{workdir / f'{name}.db'}"
        return
    database = f"vitals_bench_{name}_{uuid.uuid4().hex[:6]}"
    admin = create_engine(MYSQL_SERVER)
    with admin.begin() as conn:
        conn.execute(text(f"CREATE DATABASE {database}"))
    try:
        yield f"{MYSQL_SERVER}/{database}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP DATABASE IF EXISTS {database}"))
        admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--points-per-series", type=int, default=50_000)
    parser.add_argument("--dialect", choices=["sqlite", "mysql"], action="append")
    args = parser.parse_args(argv)
    print(f"read benchmark: {SERIES} series x {args.points_per_series:,} points at {STEP_S} s", flush=True)
    with tempfile.TemporaryDirectory(prefix="vitals-bench-") as workdir:
        for dialect in args.dialect or ["sqlite", "mysql"]:
            rows = _bench_dialect(dialect, args.points_per_series, Path(workdir))
            print(f"\n{dialect}:")
            print(f"  {'figure':<38} {'vitals':>9} {'baseline':>10} {'ratio':>14}  target")
            for figure, vitals, baseline, ratio, target in rows:
                print(f"  {figure:<38} {vitals:>9} {baseline:>10} {ratio:>14}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
