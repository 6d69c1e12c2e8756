"""Ingest benchmark: ``Store.write`` against the raw driver on SQLite and MariaDB.

    python -m benchmarks.ingest                # 100 series x 10,000 points, 3 runs each
    python -m benchmarks.ingest --quick        # 10x fewer points, for a smoke test

1,000,000 points (100 series x 10,000 points, 10 s apart) are generated in time order across
series, the way collectors write them, with labels as a handful of shared dicts. Each figure is
the median of ``--repeats`` runs, every run into a fresh store/table:

* Store.write: a prepared tidy DataFrame (ts tz-aware datetime64, metric, host, labels, value)
  -> committed, including series registration (a fresh Store has an empty series cache);
* baseline: the same (series_id, ts_ms, value) tuples, prepared before timing, through the bare
  driver: sqlite3 ``executemany`` into the same WITHOUT ROWID table (WAL, synchronous=NORMAL,
  one transaction) / PyMySQL ``executemany`` in batches of 5,000 into the same InnoDB table.

Bytes per stored point: SQLite = pages of the ``samples`` b-tree (``dbstat``) x page size, or
the file size after VACUUM when dbstat is missing; InnoDB = data_length + index_length of
``samples`` after ANALYZE TABLE. MariaDB: ``VITALS_BENCH_MYSQL_URL`` (default
``mysql+pymysql://root@127.0.0.1:3306``); only databases named ``vitals_bench*`` are created
and all of them are dropped at the end.
"""

from __future__ import annotations

import argparse
import gc
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pymysql
from sqlalchemy.engine import make_url

import storage

DEFAULT_MYSQL_URL = "mysql+pymysql://root@127.0.0.1:3306"
BENCH_DB_PREFIX = "vitals_bench"
START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
STEP_MS = 10_000
RAW_MYSQL_BATCH = 5_000

METRICS = ("system.cpu.percent", "system.memory.used", "disk.io.read_bytes", "net.bytes_sent", "system.load1")
HOSTS = ("web-1", "web-2", "db-1", "cache-1")
# A few dicts shared by every row of their series, as collectors produce them.
LABEL_SETS = ({}, {"core": "0"}, {"core": "1"}, {"device": "sda", "mode": "rw"}, {"iface": "eth0"})

SQLITE_DDL = "CREATE TABLE samples(series_id INTEGER, ts INTEGER, value REAL, PRIMARY KEY(series_id, ts)) WITHOUT ROWID"
# Same columns, types and key as the store's MariaDB ``samples`` table (migration 0001).
MYSQL_DDL = (
    "CREATE TABLE samples (series_id INT NOT NULL, ts BIGINT NOT NULL, value DOUBLE NOT NULL, "
    "PRIMARY KEY (series_id, ts)) ENGINE=InnoDB"
)


# -- data -------------------------------------------------------------------------------------------


@dataclass
class Workload:
    frame: pd.DataFrame
    series_ids: np.ndarray  # 1-based, in the order the store registers them (first appearance)
    ts_ms: np.ndarray
    values: np.ndarray

    @property
    def points(self) -> int:
        return len(self.frame)

    def tuples(self) -> list[tuple[int, int, float]]:
        return list(zip(self.series_ids.tolist(), self.ts_ms.tolist(), self.values.tolist(), strict=True))


def make_workload(n_series: int, n_points: int, seed: int = 42) -> Workload:
    combos = [(m, h, lab) for lab in LABEL_SETS for h in HOSTS for m in METRICS]
    if n_series > len(combos):
        raise ValueError(f"at most {len(combos)} series")
    combos = combos[:n_series]
    rng = np.random.default_rng(seed)
    series = np.tile(np.arange(n_series), n_points)  # time order across series
    ts_ms = np.repeat(START_MS + STEP_MS * np.arange(n_points, dtype="int64"), n_series)
    values = rng.normal(50.0, 15.0, size=series.size).round(3)
    metric = np.array([c[0] for c in combos], dtype=object)[series]
    host = np.array([c[1] for c in combos], dtype=object)[series]
    labels = np.empty(n_series, dtype=object)
    labels[:] = [c[2] for c in combos]  # the same dict objects, referenced by every row
    frame = pd.DataFrame(
        {
            "ts": pd.to_datetime(ts_ms, unit="ms", utc=True).as_unit("ns"),
            "metric": metric,
            "host": host,
            "labels": labels[series],
            "value": values,
        }
    )
    return Workload(frame, series + 1, ts_ms, values)


# -- measurement ------------------------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    bytes_per_point: float | None = None
    cpu_seconds: float | None = None  # this process only (all of it for SQLite, the client for MariaDB)


@dataclass
class Figures:
    runs: list[Run] = field(default_factory=list)

    @property
    def median_rate(self) -> float:
        return statistics.median(1.0 / r.seconds for r in self.runs)

    @property
    def bytes_per_point(self) -> float:
        return statistics.median(r.bytes_per_point for r in self.runs if r.bytes_per_point is not None)


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


@contextmanager
def timed() -> Iterator[list[float]]:
    """Wall and CPU seconds of the block, as [wall, cpu]."""
    gc.collect()
    out: list[float] = []
    start, cpu = time.perf_counter(), time.process_time()
    yield out
    out.extend((time.perf_counter() - start, time.process_time() - cpu))


def sqlite_bytes(conn: sqlite3.Connection, path: Path) -> int:
    try:
        (used,) = conn.execute("SELECT SUM(pgsize) FROM dbstat WHERE name = 'samples'").fetchone()
        return int(used)
    except sqlite3.OperationalError:  # no dbstat: whole file after VACUUM
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.execute("VACUUM")
        return path.stat().st_size


def sqlite_store_run(work: Workload, tmp: Path, i: int) -> Run:
    path = tmp / f"store{i}.db"
    store = storage.connect(f"sqlite:///{path}")
    try:
        with timed() as t:
            written = store.write(work.frame)
    finally:
        store.close()
    with sqlite3.connect(path) as conn:
        (count,) = conn.execute("SELECT COUNT(*) FROM samples").fetchone()
        used = sqlite_bytes(conn, path)
    check(written == count == work.points, f"sqlite store wrote {written}, holds {count}")
    path.unlink()
    return Run(t[0], used / count, t[1])


def sqlite_raw_run(work: Workload, tmp: Path, i: int) -> Run:
    path = tmp / f"raw{i}.db"
    rows = work.tuples()
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    conn.execute(SQLITE_DDL)
    with timed() as t:
        conn.execute("BEGIN")
        conn.executemany("INSERT INTO samples (series_id, ts, value) VALUES (?, ?, ?)", rows)
        conn.execute("COMMIT")
    del rows
    (count,) = conn.execute("SELECT COUNT(*) FROM samples").fetchone()
    used = sqlite_bytes(conn, path)
    conn.close()
    check(count == work.points, f"sqlite raw holds {count}")
    path.unlink()
    return Run(t[0], used / count, t[1])


class MariaDB:
    def __init__(self, url: str) -> None:
        self.url = make_url(url)
        self.created: list[str] = []

    def connect(self, database: str | None = None) -> pymysql.Connection:
        return pymysql.connect(
            host=self.url.host or "127.0.0.1",
            port=self.url.port or 3306,
            user=self.url.username or "root",
            password=self.url.password or "",
            database=database,
            charset="utf8mb4",
        )

    def fresh_database(self, name: str) -> str:
        assert name.startswith(BENCH_DB_PREFIX)
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        self.created.append(name)
        return name

    def drop(self, name: str) -> None:
        assert name.startswith(BENCH_DB_PREFIX)
        with self.connect() as conn, conn.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        if name in self.created:
            self.created.remove(name)

    def drop_all(self) -> None:
        for name in list(self.created):
            self.drop(name)

    def samples_size(self, database: str) -> tuple[int, int]:
        """(rows, data_length + index_length) of ``database.samples`` after ANALYZE TABLE."""
        with self.connect(database) as conn, conn.cursor() as cur:
            cur.execute("ANALYZE TABLE samples")
            cur.fetchall()
            cur.execute("SELECT COUNT(*) FROM samples")
            (count,) = cur.fetchone()
            cur.execute(
                "SELECT data_length + index_length FROM information_schema.tables "
                "WHERE table_schema = %s AND table_name = 'samples'",
                (database,),
            )
            (size,) = cur.fetchone()
        return int(count), int(size)


def mysql_store_run(work: Workload, db: MariaDB, i: int) -> Run:
    name = db.fresh_database(f"{BENCH_DB_PREFIX}_store_{i}")
    store = storage.connect(db.url.set(database=name).render_as_string(hide_password=False))
    try:
        with timed() as t:
            written = store.write(work.frame)
    finally:
        store.close()
    count, size = db.samples_size(name)
    check(written == count == work.points, f"mariadb store wrote {written}, holds {count}")
    db.drop(name)
    return Run(t[0], size / count, t[1])


def mysql_raw_run(work: Workload, db: MariaDB, i: int) -> Run:
    name = db.fresh_database(f"{BENCH_DB_PREFIX}_raw_{i}")
    rows = work.tuples()
    with db.connect(name) as conn:
        with conn.cursor() as cur:
            cur.execute(MYSQL_DDL)
        conn.commit()
        with timed() as t, conn.cursor() as cur:
            for start in range(0, len(rows), RAW_MYSQL_BATCH):
                cur.executemany(
                    "INSERT INTO samples (series_id, ts, value) VALUES (%s,%s,%s)",
                    rows[start : start + RAW_MYSQL_BATCH],
                )
            conn.commit()
    del rows
    count, size = db.samples_size(name)
    check(count == work.points, f"mariadb raw holds {count}")
    db.drop(name)
    return Run(t[0], size / count, t[1])


def check(ok: bool, message: str) -> None:
    if not ok:
        raise SystemExit(f"benchmark check failed: {message}")


def measure(
    repeats: int,
    points: int,
    vitals: tuple[str, Callable[[int], Run]],
    baseline: tuple[str, Callable[[int], Run]],
) -> tuple[Figures, Figures]:
    """Alternate the two sides run by run, so both see the same machine (other load, caches)."""
    figures = (Figures(), Figures())
    for i in range(repeats):
        for (label, run), into in zip((vitals, baseline), figures, strict=True):
            result = run(i)
            into.runs.append(result)
            log(
                f"  run {i + 1}  {label:<20} {result.seconds:6.2f} s wall  {result.cpu_seconds:5.2f} s cpu"
                f"  {points / result.seconds / 1000:7.1f}k pts/s  {result.bytes_per_point:5.1f} B/pt"
            )
    return figures


def warm_up(tmp: Path) -> None:
    """Pay one-off import and first-call costs (pyarrow strings, SQLAlchemy compiled caches) untimed."""
    small = make_workload(10, 100)
    store = storage.connect(f"sqlite:///{tmp / 'warmup.db'}")
    try:
        store.write(small.frame)
    finally:
        store.close()


# -- report -----------------------------------------------------------------------------------------


def print_table(rows: list[tuple[str, str, str, str, str]]) -> None:
    header = ("figure", "vitals", "baseline", "ratio", "target")
    table = [header, *rows]
    widths = [max(len(r[c]) for r in table) for c in range(len(header))]
    align = ["<", ">", ">", ">", "<"]

    def line(r: tuple[str, ...]) -> str:
        return " | ".join(f"{cell:{a}{w}}" for cell, a, w in zip(r, align, widths, strict=True))

    print(line(header))
    print("-+-".join("-" * w for w in widths))
    for r in rows:
        print(line(r))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--series", type=int, default=100)
    parser.add_argument("--points", type=int, default=10_000, help="points per series")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1/10 of the points (smoke test)")
    parser.add_argument("--mysql-url", default=os.environ.get("VITALS_BENCH_MYSQL_URL", DEFAULT_MYSQL_URL))
    parser.add_argument("--no-mysql", action="store_true", help="SQLite only")
    args = parser.parse_args(argv)
    n_points = args.points // 10 if args.quick else args.points

    began = time.perf_counter()
    work = make_workload(args.series, n_points)
    n = work.points
    log(
        f"ingest benchmark: {args.series} series x {n_points:,} points = {n:,} points, {args.repeats} runs each"
    )
    rows: list[tuple[str, str, str, str, str]] = []
    misses: list[str] = []

    def add_rate(figure: str, vitals: Figures, base: Figures, target: float = 0.8) -> None:
        ratio = vitals.median_rate / base.median_rate
        rows.append(
            (
                figure,
                f"{n * vitals.median_rate:,.0f}",
                f"{n * base.median_rate:,.0f}",
                f"{ratio:.2f}x",
                f">= {target}x",
            )
        )
        if ratio < target:
            misses.append(f"{figure}: {ratio:.2f}x < {target}x")

    def add_bytes(figure: str, vitals: Figures, base: Figures, target: float) -> None:
        v, b = vitals.bytes_per_point, base.bytes_per_point
        rows.append((figure, f"{v:.1f}", f"{b:.1f}", f"{v / b:.2f}x", f"<= {target:g} B"))
        if v > target:
            misses.append(f"{figure}: {v:.1f} B > {target:g} B")

    with tempfile.TemporaryDirectory(prefix="vitals_bench_") as tmpdir:
        tmp = Path(tmpdir)
        warm_up(tmp)
        log("SQLite")
        sq_store, sq_raw = measure(
            args.repeats,
            n,
            ("Store.write", lambda i: sqlite_store_run(work, tmp, i)),
            ("sqlite3 executemany", lambda i: sqlite_raw_run(work, tmp, i)),
        )
    add_rate("SQLite ingest (points/s)", sq_store, sq_raw)
    add_bytes("SQLite bytes/point", sq_store, sq_raw, 25)

    if not args.no_mysql:
        db = MariaDB(args.mysql_url)
        try:
            db.connect().close()
        except pymysql.err.OperationalError as exc:
            log(f"MariaDB not reachable at {db.url.render_as_string(hide_password=True)}: {exc}; skipped")
        else:
            try:
                log("MariaDB")
                my_store, my_raw = measure(
                    args.repeats,
                    n,
                    ("Store.write", lambda i: mysql_store_run(work, db, i)),
                    ("PyMySQL executemany", lambda i: mysql_raw_run(work, db, i)),
                )
            finally:
                db.drop_all()
            add_rate("MariaDB ingest (points/s)", my_store, my_raw)
            add_bytes("MariaDB InnoDB bytes/point", my_store, my_raw, 45)

    log(f"total {time.perf_counter() - began:.0f} s\n")
    print_table(rows)
    for miss in misses:
        print(f"MISSED {miss}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
