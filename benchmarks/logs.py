"""Log ingest benchmark: parse + store mixed-format lines, against the raw driver on the same table.

    python -m benchmarks.logs               # 200,000 lines, 3 runs each
    python -m benchmarks.logs --quick       # 20,000 lines, for a smoke test

The lines mix the formats the tailer reads (JSON lines, Python logging, RFC 3164/5424 syslog,
combined access logs, a few tracebacks and unknown lines). Each figure is the median of
``--repeats`` runs, each into a fresh store:

* Vitals: ``parse_lines`` on the raw text lines + ``store_log_batch`` (bulk insert and checkpoint,
  one transaction) in batches the size of one tailer read (4 MiB);
* baseline: the same rows, parsed and serialized *before* timing, through sqlite3 ``executemany``
  (one transaction) into an identical ``log_entries`` table: a migrated store file, so the FTS5
  index and its trigger cost the same on both sides. The store path wins on SQLite because it
  sends multi-row INSERTs: with the FTS5 trigger, one statement per row measured ~4x slower here
  than 120 rows per statement.

Target: >= 50,000 lines/s end to end on SQLite (the ingest target). MariaDB (``VITALS_BENCH_MYSQL_URL``,
default ``mysql+pymysql://root@127.0.0.1:3306``) is printed too, against PyMySQL ``executemany``;
only ``vitals_bench_logs*`` databases are created, and dropped at the end.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import pymysql
from sqlalchemy.engine import make_url

import storage
from benchmarks.ingest import MariaDB, log, print_table, timed
from collectors.logs.parse import parse_lines
from storage.logs import _driver_rows, store_log_batch

DEFAULT_MYSQL_URL = "mysql+pymysql://root@127.0.0.1:3306"
TARGET_LINES_PER_SECOND = 50_000
BATCH_BYTES = 4 * 1024 * 1024  # one tailer read per file per cycle
HOST, SOURCE = "bench-host", "/var/log/bench/app.log"
# The same ten columns Vitals writes (the last two say where each entry starts in its file).
INSERT = (
    "INSERT INTO log_entries (ts, host, source, level, channel, message, context, request_id, file_inode, "
    "file_offset) VALUES "
)


def make_lines(n: int, seed: int = 7) -> list[str]:
    """``n`` log lines (a traceback counts its lines), in a realistic mix of formats."""
    rng = random.Random(seed)
    paths = ["/api/orders", "/api/users/42", "/health", "/static/app.js", "/login"]
    words = [
        "timeout",
        "connection",
        "refused",
        "retry",
        "payment",
        "order",
        "cache",
        "miss",
        "slow",
        "query",
        "user",
    ]
    out: list[str] = []
    while len(out) < n:
        i = len(out)
        second = f"{i // 500 % 60:02d}"
        text = " ".join(rng.choices(words, k=6))
        kind = rng.random()
        if kind < 0.30:
            out.append(
                json.dumps(
                    {
                        "timestamp": f"2026-01-02T03:04:{second}.{i % 1000:03d}Z",
                        "level": rng.choice(["info", "warning", "error"]),
                        "logger": "app.orders",
                        "message": f"{text} #{i}",
                        "request_id": f"req-{i:08x}",
                        "user_id": i % 977,
                        "duration_ms": i % 350,
                    }
                )
            )
        elif kind < 0.55:
            status = rng.choice([200, 200, 200, 201, 304, 404, 500])
            out.append(
                f'10.0.{i % 256}.{i % 200} - - [02/Jan/2026:03:04:{second} +0000] "GET {rng.choice(paths)} HTTP/1.1" '
                f'{status} {i % 5000} "-" "Mozilla/5.0 (X11; Linux x86_64)" 0.{i % 1000:03d}'
            )
        elif kind < 0.75:
            level = rng.choice(["INFO", "WARNING", "ERROR", "DEBUG"])
            out.append(f"2026-01-02 03:04:{second},{i % 1000:03d} {level} app.worker: {text} #{i}")
        elif kind < 0.85:
            out.append(
                f"<{rng.choice([11, 13, 30, 165])}>Jan  2 03:04:{second} web1 nginx[{i % 900}]: {text}"
            )
        elif kind < 0.93:
            out.append(
                f"<165>1 2026-01-02T03:04:{second}.000Z web1 app {i % 900} ID{i % 50} "
                f'[meta request_id="r-{i}"] {text}'
            )
        elif kind < 0.97:
            out.append(f"WARNING:app.cache:{text} #{i}")
        elif kind < 0.99:
            out.extend(
                [
                    f"2026-01-02 03:04:{second},000 ERROR app.api: request failed #{i}",
                    "Traceback (most recent call last):",
                    '  File "/srv/app/api.py", line 88, in handle',
                    "    return service.run(payload)",
                    "ValueError: payload rejected",
                ]
            )
        else:
            out.append(f"unstructured output line {i} {text}")
    return out[:n]


def batches(lines: list[str]) -> list[list[str]]:
    """The lines cut into tailer-sized reads (by bytes)."""
    out: list[list[str]] = [[]]
    size = 0
    for line in lines:
        size += len(line) + 1
        if size > BATCH_BYTES:
            out.append([])
            size = len(line) + 1
        out[-1].append(line)
    return out


def vitals_run(chunks: list[list[str]], url: str) -> tuple[float, int]:
    """Parse + store, timed; returns (seconds, records stored)."""
    store = storage.connect(url)
    try:
        stored, offset = 0, 0
        with timed() as t:
            for chunk in chunks:
                records = parse_lines(chunk)
                end = offset + sum(len(line) + 1 for line in chunk)
                previous = (1, offset) if offset else None
                store_log_batch(store.engine, HOST, SOURCE, records, previous, (1, end))
                offset, stored = end, stored + len(records)
    finally:
        store.close()
    return t[0], stored


def sqlite_raw_run(rows: list[tuple[object, ...]], path: Path) -> float:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    with timed() as t:
        conn.execute("BEGIN")
        conn.executemany(INSERT + "(?,?,?,?,?,?,?,?,?,?)", rows)
        conn.execute("COMMIT")
    (count,) = conn.execute("SELECT COUNT(*) FROM log_entries").fetchone()
    conn.close()
    check(count == len(rows), f"raw sqlite holds {count}, expected {len(rows)}")
    return t[0]


def mysql_raw_run(rows: list[tuple[object, ...]], db: MariaDB, name: str) -> float:
    with db.connect(name) as conn, timed() as t, conn.cursor() as cur:
        for start in range(0, len(rows), 5_000):
            cur.executemany(INSERT + "(%s,%s,%s,%s,%s,%s,%s,%s,%s,%s)", rows[start : start + 5_000])
        conn.commit()
    return t[0]


def check(ok: bool, message: str) -> None:
    if not ok:
        raise SystemExit(f"benchmark check failed: {message}")


def measure(
    repeats: int, vitals: Callable[[int], float], baseline: Callable[[int], float]
) -> tuple[float, float]:
    """Median seconds of each side, run alternately so both see the same machine."""
    ours, theirs = [], []
    for i in range(repeats):
        ours.append(vitals(i))
        theirs.append(baseline(i))
        log(f"  run {i + 1}  vitals {ours[-1]:6.2f} s   baseline {theirs[-1]:6.2f} s")
    return statistics.median(ours), statistics.median(theirs)


def sqlite_figures(
    lines: list[str], rows: list[tuple[object, ...]], repeats: int, tmp: Path
) -> tuple[float, float]:
    chunks = batches(lines)

    def ours(i: int) -> float:
        seconds, stored = vitals_run(chunks, f"sqlite:///{tmp / f'vitals{i}.db'}")
        check(stored == len(rows), f"stored {stored}, expected {len(rows)}")
        return seconds

    def theirs(i: int) -> float:
        path = tmp / f"raw{i}.db"
        storage.connect(f"sqlite:///{path}").close()  # the same migrated schema: FTS5 and trigger
        return sqlite_raw_run(rows, path)

    return measure(repeats, ours, theirs)


def mysql_figures(
    lines: list[str], rows: list[tuple[object, ...]], repeats: int, url: str
) -> tuple[float, float] | None:
    db = MariaDB(url)
    try:
        db.connect().close()
    except pymysql.err.OperationalError as exc:
        log(f"MariaDB not reachable at {db.url.render_as_string(hide_password=True)}: {exc}; skipped")
        return None
    chunks = batches(lines)

    def fresh(i: int, side: str) -> str:
        name = db.fresh_database(f"vitals_bench_logs_{side}_{i}")
        storage.connect(db.url.set(database=name).render_as_string(hide_password=False)).close()
        return name

    def ours(i: int) -> float:
        name = fresh(i, "store")
        seconds, _ = vitals_run(chunks, db.url.set(database=name).render_as_string(hide_password=False))
        return seconds

    def theirs(i: int) -> float:
        return mysql_raw_run(rows, db, fresh(i, "raw"))

    try:
        return measure(repeats, ours, theirs)
    finally:
        db.drop_all()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lines", type=int, default=200_000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="1/10 of the lines (smoke test)")
    parser.add_argument("--mysql-url", default=os.environ.get("VITALS_BENCH_MYSQL_URL", DEFAULT_MYSQL_URL))
    parser.add_argument("--no-mysql", action="store_true", help="SQLite only")
    args = parser.parse_args(argv)
    n = args.lines // 10 if args.quick else args.lines
    began = time.perf_counter()
    lines = make_lines(n)
    records = parse_lines(lines)
    rows = _driver_rows(records, HOST, SOURCE)  # the baseline gets everything prepared
    log(f"log benchmark: {n:,} lines -> {len(rows):,} records, {args.repeats} runs each")

    table: list[tuple[str, str, str, str, str]] = []
    misses: list[str] = []

    def add(figure: str, ours: float, theirs: float, target: str, ok: bool) -> None:
        table.append((figure, f"{n / ours:,.0f}", f"{n / theirs:,.0f}", f"{theirs / ours:.2f}x", target))
        if not ok:
            misses.append(f"{figure}: {n / ours:,.0f} lines/s")

    with tempfile.TemporaryDirectory(prefix="vitals_bench_logs_") as tmpdir:
        log("SQLite")
        ours, theirs = sqlite_figures(lines, rows, args.repeats, Path(tmpdir))
    add(
        "SQLite parse+store (lines/s)",
        ours,
        theirs,
        f">= {TARGET_LINES_PER_SECOND:,}/s",
        n / ours >= TARGET_LINES_PER_SECOND,
    )
    if not args.no_mysql:
        log("MariaDB")
        found = mysql_figures(lines, rows, args.repeats, make_url(args.mysql_url).render_as_string(False))
        if found is not None:
            add("MariaDB parse+store (lines/s)", *found, "(printed)", True)
    log(f"total {time.perf_counter() - began:.0f} s\n")
    print_table(table)
    for miss in misses:
        print(f"MISSED {miss} < {TARGET_LINES_PER_SECOND:,}/s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
