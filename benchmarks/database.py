"""Top-queries benchmark: 2,000 distinct digests on one target with 30 days of hourly snapshots
(about half of the digests active in each hour, as idle digests get no new snapshot), SQLite and MariaDB.

The data set is written through the project's own write path (``storage.database.write_digests``).
Each figure is printed next to a baseline timed in the same run, with the ratio:
- the top-queries table (``store.database.query_table``: the first page of 50, sorted by total
  latency, week-over-week change and sparklines included) for a 24 h and a 7 d window, against
  ``pd.read_sql`` of the window's raw snapshot rows (plus each digest's last one before it) with the
  per-interval deltas and totals computed in pandas;
- the same, sorted by p95 (the slow path: p95 for every digest).

Run: ``python -m benchmarks.database [--digests N] [--days N] [--dialect sqlite|mysql]``.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text

import storage
from storage import database as dbstore

MYSQL_SERVER = os.environ.get("VITALS_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306")
TARGET = "bench-db"
ACTIVE_SHARE = 0.5


def _median_ms(run: Callable[[], object], repeat: int) -> float:
    run()  # warm caches and pools once, as a page that has been open for a while would be
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def _load(store: storage.Store, digests: int, days: int, end: datetime) -> int:
    """Hourly cumulative snapshots; each hour a random half of the digests ran (and got a snapshot)."""
    rng = np.random.default_rng(7)
    per_call = rng.integers(1, 50, digests)
    latency = rng.lognormal(0.0, 1.5, digests)  # ms per call
    counts = np.zeros(digests, dtype=np.int64)
    first_seen = end - timedelta(days=days + 1)
    written = 0
    for hours_ago in range(days * 24, -1, -1):
        active = np.flatnonzero(rng.random(digests) < ACTIVE_SHARE)
        counts[active] += per_call[active]
        rows = [
            {
                "schema": f"app{i % 5}",
                "digest": f"{i:032x}",
                "digest_text": f"select * from t{i} where c = ?",
                "sample_query": None,
                "first_seen": first_seen,
                "last_seen": None,  # unchanged between writes: no per-row refresh, as for idle metadata
                "exec_count": int(counts[i]),
                "total_latency_ms": float(counts[i] * latency[i]),
                "max_latency_ms": float(latency[i] * 4),
                "rows_examined": int(counts[i] * 10),
                "rows_sent": int(counts[i]),
            }
            for i in active
        ]
        written += dbstore.write_digests(store.engine, TARGET, rows, end - timedelta(hours=hours_ago))
    return written


def _pandas_baseline(store: storage.Store, since: datetime, until: datetime) -> pd.DataFrame:
    """Raw snapshot rows of the window plus each digest's previous one, deltas and totals in pandas."""
    start_ms, end_ms = int(since.timestamp() * 1000), int(until.timestamp() * 1000)
    sql = text(
        "SELECT s.digest_id, s.ts, s.exec_count, s.total_latency_ms, s.rows_examined, s.rows_sent"
        " FROM query_digest_snapshots s JOIN query_digests d ON d.id = s.digest_id"
        " WHERE d.target = :target AND s.ts < :end AND s.ts >= :start - 3600000"
    )
    with store.engine.connect() as conn:
        raw = pd.read_sql(sql, conn, params={"target": TARGET, "start": start_ms, "end": end_ms})
    raw = raw.sort_values(["digest_id", "ts"])
    counters = ["exec_count", "total_latency_ms", "rows_examined", "rows_sent"]
    deltas = raw.groupby("digest_id")[counters].diff().clip(lower=0)
    deltas["digest_id"] = raw["digest_id"]
    deltas = deltas[raw["ts"] >= start_ms]
    totals = deltas.groupby("digest_id")[counters].sum()
    totals["avg_latency_ms"] = totals["total_latency_ms"] / totals["exec_count"]
    return totals.sort_values("total_latency_ms", ascending=False).head(50)


def _bench_dialect(
    dialect: str, digests: int, days: int, workdir: Path
) -> list[tuple[str, str, str, str, str]]:
    admin = None
    if dialect == "sqlite":
        url = f"sqlite:///{workdir / 'database.db'}"
    else:
        database = f"vitals_bench_database_{uuid.uuid4().hex[:6]}"
        admin = create_engine(MYSQL_SERVER)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE DATABASE {database}"))
        url = f"{MYSQL_SERVER}/{database}"
    try:
        store = storage.connect(url)
        end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
        started = time.perf_counter()
        written = _load(store, digests, days, end)
        print(
            f"  [{dialect}] wrote {written:,} snapshots in {time.perf_counter() - started:.1f} s", flush=True
        )
        rows = []
        for window in ("24h", "7d"):
            span = timedelta(hours=24) if window == "24h" else timedelta(days=7)
            since, until = end - span, end + timedelta(minutes=1)
            vitals = _median_ms(
                lambda s=since, u=until: store.database.query_table(target=TARGET, since=s, until=u), 7
            )
            baseline = _median_ms(lambda s=since, u=until: _pandas_baseline(store, s, u), 5)
            rows.append(
                (
                    f"top queries, {window}, first page",
                    f"{vitals:.0f}",
                    f"{baseline:.0f}",
                    f"{baseline / vitals:.1f}x",
                    "<= 150 ms",
                )
            )
            by_p95 = _median_ms(
                lambda s=since, u=until: store.database.query_table(
                    target=TARGET, since=s, until=u, sort="p95_latency_ms"
                ),
                3,
            )
            rows.append(
                (
                    f"top queries, {window}, sorted by p95",
                    f"{by_p95:.0f}",
                    f"{baseline:.0f}",
                    f"{baseline / by_p95:.1f}x",
                    "print",
                )
            )
        store.close()
        return rows
    finally:
        if admin is not None:
            with admin.begin() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]}"))
            admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--digests", type=int, default=2_000)
    parser.add_argument("--days", type=int, default=30)
    parser.add_argument("--dialect", choices=["sqlite", "mysql"], action="append")
    args = parser.parse_args(argv)
    print(
        f"top-queries benchmark: {args.digests:,} digests x {args.days} days of hourly snapshots", flush=True
    )
    with tempfile.TemporaryDirectory(prefix="vitals-bench-") as workdir:
        for dialect in args.dialect or ["sqlite", "mysql"]:
            rows = _bench_dialect(dialect, args.digests, args.days, Path(workdir))
            load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
            print(f"\n{dialect} (milliseconds, median; load average {load} on {os.cpu_count()} cores):")
            print(f"  {'figure':<38} {'vitals':>9} {'pandas':>10} {'ratio':>10}  target")
            for figure, vitals, baseline, ratio, target in rows:
                print(f"  {figure:<38} {vitals:>9} {baseline:>10} {ratio:>10}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
