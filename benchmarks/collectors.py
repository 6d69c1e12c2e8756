"""Collector cost in a real worker: CPU per collection cycle and resident memory.

Starts `vitals worker` (two prefork children, the default) and `vitals beat` with a Redis broker,
one monitored MySQL (the local MariaDB), one monitored Redis and this host, every collector at a
10 s interval, and lets them run. Reports the worker's CPU (main process + children) over a fixed
window after a warm-up, as a share of one core, and its RSS at the end. Baseline in the same run:
the same sources read bare in this process every 10 s (psutil calls, SHOW GLOBAL STATUS, INFO),
no parsing into records, no storing. Target: < 1% of one core and < 150 MB RSS.

Run: ``python -m benchmarks.collectors [--seconds N]``.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import psutil
import pymysql
import redis

MYSQL_URL = os.environ.get("VITALS_BENCH_MYSQL_URL", "mysql+pymysql://root@127.0.0.1:3306/test")
REDIS_URL = "redis://127.0.0.1:6379/0"
BROKER_URL = "redis://127.0.0.1:6379/15"
INTERVAL_S = 10.0
WARM_UP_S = 25.0
PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _processes(parent: psutil.Process) -> list[psutil.Process]:
    return [parent, *parent.children(recursive=True)]


def _cpu_seconds(processes: list[psutil.Process]) -> float:
    total = 0.0
    for process in processes:
        try:
            times = process.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


def _memory_mb(processes: list[psutil.Process]) -> tuple[float, float]:
    """(main RSS + children's unique memory, plain RSS sum) in MB.

    Prefork children share the parent's pages copy-on-write, so summing RSS counts the same
    libraries three times; the first figure counts them once.
    """
    main, *children = [process for process in processes if process.is_running()]
    unique = main.memory_info().rss + sum(child.memory_full_info().uss for child in children)
    return unique / 2**20, sum(process.memory_info().rss for process in [main, *children]) / 2**20


def _vitals(command: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    code = "import app, sys; sys.exit(app.main(sys.argv[1:]))"
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-c", code, *command],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


def _stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def _bare_reads_cpu_per_cycle(cycles: int = 30) -> float:
    """CPU seconds to read the same sources once, with no processing or storage."""
    mysql = pymysql.connect(host="127.0.0.1", user="root")
    cache = redis.Redis.from_url(REDIS_URL)
    started = time.process_time()
    for _ in range(cycles):
        psutil.cpu_times(percpu=True), psutil.virtual_memory(), psutil.swap_memory()
        psutil.disk_io_counters(), psutil.net_io_counters(), len(psutil.pids())
        [psutil.disk_usage(partition.mountpoint) for partition in psutil.disk_partitions()]
        with mysql.cursor() as cursor:
            cursor.execute("SHOW GLOBAL STATUS")
            cursor.fetchall()
        cache.info("all")
    mysql.close()
    return (time.process_time() - started) / cycles


def _environment(workdir: str) -> dict[str, str]:
    intervals = {
        f"VITALS_{kind}_INTERVAL_SECONDS": str(INTERVAL_S)
        for kind in ("SYSTEM", "MYSQL", "REDIS", "CELERY", "LOGS")
    }
    return {
        **os.environ,
        **intervals,
        "VITALS_DATA_DIR": workdir,
        "VITALS_DATABASE_URL": f"sqlite:///{Path(workdir) / 'vitals.db'}",
        "VITALS_BROKER_URL": BROKER_URL,
        "VITALS_MYSQL_URLS": MYSQL_URL,
        "VITALS_REDIS_URLS": REDIS_URL,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0, help="measuring window after the warm-up")
    args = parser.parse_args(argv)
    broker = redis.Redis.from_url(BROKER_URL)
    broker.flushdb()
    with tempfile.TemporaryDirectory(prefix="vitals-bench-collectors-") as workdir:
        env = _environment(workdir)
        subprocess.run(
            [sys.executable, "-c", "import app, sys; sys.exit(app.main(['db', 'upgrade']))"],
            env=env,
            cwd=PROJECT_ROOT,
            check=True,
            capture_output=True,
        )
        worker = _vitals(["worker", "--loglevel", "WARNING"], env, Path(workdir) / "worker.log")
        beat = _vitals(["beat", "--loglevel", "WARNING"], env, Path(workdir) / "beat.log")
        try:
            time.sleep(WARM_UP_S)  # boot, first cycles (connections, first performance_schema read)
            processes = _processes(psutil.Process(worker.pid))
            cpu_before, started = _cpu_seconds(processes), time.perf_counter()
            time.sleep(args.seconds)
            processes = _processes(psutil.Process(worker.pid))
            share = (_cpu_seconds(processes) - cpu_before) / (time.perf_counter() - started) * 100
            memory, rss_sum = _memory_mb(processes)
            beat_rss = psutil.Process(beat.pid).memory_info().rss / 2**20
        finally:
            _stop(beat)
            _stop(worker)
            broker.flushdb()
    bare_share = _bare_reads_cpu_per_cycle() / INTERVAL_S * 100
    print(
        f"collector benchmark: host + 1 MySQL + 1 Redis + Celery, every {INTERVAL_S:.0f} s, "
        f"{args.seconds:.0f} s measured after {WARM_UP_S:.0f} s warm-up"
    )
    print(f"  {'figure':<42} {'vitals':>9} {'baseline':>9} {'ratio':>8}  target")
    print(
        f"  {'worker CPU, share of one core':<42} {share:>8.2f}% {bare_share:>8.2f}% "
        f"{share / bare_share:>7.1f}x  < 1%   (baseline: the same sources read bare)"
    )
    print(
        f"  {'worker memory, main RSS + children USS (MB)':<42} {memory:>9.0f} {'':>9} {'':>8}  < 150 MB   "
        f"(plain RSS sum {rss_sum:.0f} MB; beat {beat_rss:.0f} MB)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
