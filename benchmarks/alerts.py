"""Alerting benchmark, SQLite and MariaDB.

- One evaluation cycle of 1,000 rules over 1,000 series (100 metrics x 10 hosts, 10 rules per metric,
  each rule over the metric's 10 hosts: 10,000 (rule, series) evaluations), with the share of the
  cycle spent in SQL, and the slowest cycle (the one that writes every open alert's new value; the
  others hold value-only changes back for up to 5 minutes). Baseline: the same rules evaluated the obvious way, one aggregate query per rule.
  Target: <= 1 s per cycle.
- A 7-day backtest of one rule over a 10 s series (60,480 samples, a tick every 60 s) through the
  live engine. Baseline: pandas' vectorised rolling mean sampled at the same ticks (no state machine).
  Target: <= 2 s.

Run: ``python -m benchmarks.alerts [--dialect sqlite|mysql]``.
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
from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
from sqlalchemy import create_engine, text

import storage
from storage import alerts as alertstore
from tasks.alerting.evaluate import evaluate_rules, rule_from_row
from tasks.alerting.preview import backtest_rule

MYSQL_SERVER = os.environ.get("VITALS_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306")
METRICS, HOSTS, RULES_PER_METRIC = 100, 10, 10
STEP_S = 10
HISTORY = pd.Timedelta("10min")


def _median(run: Callable[[], float], repeat: int) -> float:
    return statistics.median(run() for _ in range(repeat))


def _seed_cycle(store: storage.Store, end: pd.Timestamp) -> None:
    stamps = pd.date_range(end=end, periods=int(HISTORY / pd.Timedelta(seconds=STEP_S)), freq=f"{STEP_S}s")
    rng = np.random.default_rng(7)
    frames = []
    for m in range(METRICS):
        for h in range(HOSTS):
            frames.append(
                pd.DataFrame(
                    {
                        "ts": stamps,
                        "metric": f"bench.metric_{m:03d}",
                        "host": f"host-{h:02d}",
                        "value": rng.uniform(0, 100, len(stamps)),
                    }
                )
            )
    store.write(pd.concat(frames, ignore_index=True))
    rules = []
    for m in range(METRICS):
        for r in range(RULES_PER_METRIC):
            aggregation = ("avg", "max", "min", "last", "p95", "rate", "sum", "count", "avg", "max")[r]
            rules.append(
                {
                    "name": f"bench {m:03d}.{r}",
                    "metric": f"bench.metric_{m:03d}",
                    "operator": "gt",
                    "threshold": 97.0 if aggregation in ("max", "p95") else 60.0 + r,
                    "aggregation": aggregation,
                    "window_seconds": 300,
                    "for_seconds": 60,
                    "repeat_seconds": 900,
                    "severity": "warning",
                    "category": "general",
                    "no_data": "ok",
                }
            )
    for rule in rules:
        alertstore.insert_rule(store.engine, rule, "bench")


def _naive_cycle(store: storage.Store, end: pd.Timestamp) -> float:
    """One aggregate query per rule, grouped by series: what a first implementation would do."""
    rules = alertstore.list_rules(store.engine, enabled=True)
    end_ms = int(end.timestamp() * 1000)
    started = time.perf_counter()
    with store.engine.connect() as conn:
        ids: dict[str, list[int]] = {}
        for rule in rules:
            if rule["metric"] not in ids:
                ids[rule["metric"]] = list(
                    conn.execute(
                        text("SELECT id FROM series WHERE metric = :m"), {"m": rule["metric"]}
                    ).scalars()
                )
            marks = ", ".join(map(str, ids[rule["metric"]]))
            conn.execute(
                text(
                    f"SELECT series_id, AVG(value), MAX(value) FROM samples WHERE series_id IN ({marks}) "
                    "AND ts > :lo AND ts <= :hi GROUP BY series_id"
                ),
                {"lo": end_ms - rule["window_seconds"] * 1000, "hi": end_ms},
            ).all()
    return time.perf_counter() - started


def _bench_backtest(store: storage.Store, end: pd.Timestamp) -> tuple[float, float, int, int]:
    stamps = pd.date_range(end=end, periods=7 * 8640, freq="10s")
    rng = np.random.default_rng(3)
    values = 50 + 30 * np.sin(np.arange(len(stamps)) / 500) + rng.normal(0, 5, len(stamps))
    store.write(pd.DataFrame({"ts": stamps, "metric": "bench.backtest", "host": "bt", "value": values}))
    rule_id = alertstore.insert_rule(
        store.engine,
        {
            "name": "bench backtest",
            "metric": "bench.backtest",
            "operator": "gt",
            "threshold": 75.0,
            "aggregation": "avg",
            "window_seconds": 300,
            "for_seconds": 120,
            "repeat_seconds": 3600,
            "enabled": False,
        },
        "bench",
    )
    row = alertstore.get_rule(store.engine, rule_id)
    assert row is not None
    rule = rule_from_row(row)
    now = end.to_pydatetime()
    result = backtest_rule(store, rule, timedelta(days=7), 60.0, now=now)

    def engine_run() -> float:
        started = time.perf_counter()
        backtest_rule(store, rule, timedelta(days=7), 60.0, now=now)
        return time.perf_counter() - started

    def baseline_run() -> float:
        started = time.perf_counter()
        frame = store.metrics(
            "bench.backtest", since=now - timedelta(days=7, minutes=5), until=now, every="10s"
        )
        series = frame.set_index("ts")["mean"].rolling("5min").mean()
        ticks = pd.date_range(end=pd.Timestamp(now), periods=7 * 1440, freq="60s")
        _ = series.reindex(ticks, method="ffill") > 75.0
        return time.perf_counter() - started

    return _median(engine_run, 3), _median(baseline_run, 3), result.samples, result.episodes


def _bench_dialect(dialect: str, workdir: Path) -> list[tuple[str, str, str, str, str]]:
    admin = None
    if dialect == "sqlite":
        url = f"sqlite:///{workdir / 'alerts.db'}"
    else:
        database = f"vitals_bench_alerts_{uuid.uuid4().hex[:6]}"
        admin = create_engine(MYSQL_SERVER)
        with admin.begin() as conn:
            conn.execute(text(f"CREATE DATABASE {database}"))
        url = f"{MYSQL_SERVER}/{database}"
    try:
        store = storage.connect(url)
        end = pd.Timestamp.now(tz="UTC").floor("min")
        started = time.perf_counter()
        _seed_cycle(store, end)
        print(
            f"  [{dialect}] seeded {METRICS * HOSTS:,} series and {METRICS * RULES_PER_METRIC:,} rules "
            f"in {time.perf_counter() - started:.1f} s",
            flush=True,
        )
        cache: dict[str, object] = {}  # what the scheduled job keeps between cycles
        first = evaluate_rules(store, end.to_pydatetime(), cache=cache)
        print(
            f"  [{dialect}] first cycle (opens alerts): {first.seconds * 1000:.0f} ms, "
            f"{first.evaluations:,} evaluations, {first.transitions} transitions",
            flush=True,
        )
        reports = [
            evaluate_rules(store, (end + pd.Timedelta(seconds=10 * i)).to_pydatetime(), cache=cache)
            for i in range(1, 6)
        ]
        cycle = statistics.median(r.seconds for r in reports)
        worst = max(reports, key=lambda r: r.seconds)
        sql = statistics.median(r.sql_seconds for r in reports)
        naive = _median(lambda: _naive_cycle(store, end), 3)
        backtest, baseline, samples, episodes = _bench_backtest(store, end)
        print(f"  [{dialect}] backtest replayed {samples:,} samples, {episodes} episodes", flush=True)
        return [
            (
                f"cycle: {reports[0].evaluations:,} evaluations",
                f"{cycle * 1000:.0f} ms",
                f"{naive * 1000:.0f} ms",
                f"{cycle / naive:.2f}x baseline",
                "<= 1000 ms",
            ),
            ("  of which SQL", f"{sql * 1000:.0f} ms", "", f"{sql / cycle:.0%} of cycle", ""),
            (
                # Value-only changes are written once per flush (5 min): this cycle writes all of them.
                "  slowest cycle (writes all values)",
                f"{worst.seconds * 1000:.0f} ms",
                f"{naive * 1000:.0f} ms",
                f"{worst.seconds / naive:.2f}x baseline",
                "<= 1000 ms",
            ),
            (
                "backtest: 7 d of a 10 s series",
                f"{backtest * 1000:.0f} ms",
                f"{baseline * 1000:.0f} ms",
                f"{backtest / baseline:.2f}x baseline",
                "<= 2000 ms",
            ),
        ]
    finally:
        if admin is not None:
            with admin.begin() as conn:
                conn.execute(text(f"DROP DATABASE IF EXISTS {url.rsplit('/', 1)[1]}"))
            admin.dispose()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dialect", choices=["sqlite", "mysql"], action="append")
    args = parser.parse_args(argv)
    print("alerting benchmark", flush=True)
    with tempfile.TemporaryDirectory(prefix="vitals-bench-") as workdir:
        for dialect in args.dialect or ["sqlite", "mysql"]:
            rows = _bench_dialect(dialect, Path(workdir))
            print(f"\n{dialect}:")
            print(f"  {'figure':<34} {'vitals':>9} {'baseline':>10} {'ratio':>18}  target")
            for figure, vitals, baseline, ratio, target in rows:
                print(f"  {figure:<34} {vitals:>9} {baseline:>10} {ratio:>18}  {target}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
