"""Cache benchmark on a private redis-server holding 1,000,000 keys (never the shared one on 6379).

Each figure beside a baseline timed in the same run, with the ratio:
- clear of the 100,000 keys matching one pattern (the other 900,000 are near misses) through the
  Vitals job (``tasks.cache_jobs.run_job``: SCAN + UNLINK in batches, progress rows in a SQLite
  store) vs a plain redis-py ``scan`` + ``unlink`` loop; rate in keys/s, target >= 0.8x;
- PING latency p99 from another process, a PING every 10 ms while each clear runs; target < 5 ms;
- one key-browser page of 100 keys with type, TTL, size and memory (``actions.cache.browse_keys``)
  vs redis-py SCAN + one TYPE/PTTL/MEMORY USAGE round trip per key; target <= 100 ms.

Run: ``python -m benchmarks.cache``.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from pathlib import Path

import redis

import storage
from storage import cache as cachestore
from storage.users import Role
from tasks import cache_jobs
from tasks.actions import Actor
from tasks.actions import cache as actions

TOTAL_KEYS = 1_000_000
MATCHING = 100_000
PATTERN = "target:*"  # DEBUG POPULATE names keys "<prefix>:<n>"
ROUNDS = 4
PING_EVERY_S = 0.010


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _start_server(port: int) -> subprocess.Popen[bytes]:
    binary = shutil.which("redis-server")
    if binary is None:
        sys.exit("redis-server is not installed")
    process = subprocess.Popen(
        [
            binary,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--enable-debug-command",
            "local",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    client = redis.Redis(port=port)
    for _ in range(200):
        try:
            client.ping()
            return process
        except redis.ConnectionError:
            time.sleep(0.02)
    process.kill()
    sys.exit("redis-server did not start")


def _pinger(port: int, stop: Connection, out: Connection) -> None:
    """Another client: PING every 10 ms until told to stop; sends back the latencies in ms.

    It runs at a raised priority when allowed (root): on a loaded 2-core machine the scheduler
    would otherwise measure itself (how long the pinger waits for a core), not Redis.
    """
    with contextlib.suppress(OSError):
        os.nice(-10)
    client = redis.Redis(port=port)
    client.ping()
    latencies = []
    while not stop.poll():
        started = time.perf_counter()
        client.ping()
        latencies.append((time.perf_counter() - started) * 1000)
        time.sleep(max(0.0, PING_EVERY_S - (time.perf_counter() - started)))
    out.send(latencies)


def _with_pings(port: int, run: Callable[[], int]) -> tuple[float, int, list[float]]:
    """(seconds, keys removed, ping latencies) of ``run`` while another process pings."""
    stop_recv, stop_send = multiprocessing.Pipe(duplex=False)
    out_recv, out_send = multiprocessing.Pipe(duplex=False)
    pinger = multiprocessing.Process(target=_pinger, args=(port, stop_recv, out_send))
    pinger.start()
    time.sleep(0.2)  # the pinger is connected and ticking
    started = time.perf_counter()
    removed = run()
    elapsed = time.perf_counter() - started
    stop_send.send(True)
    latencies: list[float] = out_recv.recv()
    pinger.join()
    return elapsed, removed, latencies


def _p99(values: list[float]) -> float:
    return statistics.quantiles(values, n=100)[98] if len(values) >= 2 else float("nan")


def _plain_loop(client: redis.Redis) -> int:
    removed, cursor = 0, 0
    while True:
        cursor, keys = client.scan(cursor=cursor, match=PATTERN, count=1000)
        if keys:
            removed += int(client.unlink(*keys))
        if cursor == 0:
            return removed


def _vitals_clear(store: storage.Store, settings: storage.Settings) -> int:
    job = cachestore.create_job(
        store.engine,
        job_id=f"bench{time.perf_counter_ns()}"[:32],
        target="bench",
        kind="clear_pattern",
        username="bench",
        params={"db": 0, "pattern": PATTERN, "max_keys": MATCHING * 10, "expected": MATCHING},
        exclusive="clear",
    )
    result = cache_jobs.run_job(store, settings, job.id)
    return int(result["removed"])


def _per_key_page(client: redis.Redis) -> int:
    _cursor, keys = client.scan(cursor=0, count=100)
    for key in keys:
        client.type(key)
        client.pttl(key)
        client.memory_usage(key, samples=5)
    return len(keys)


def _median_ms(run: Callable[[], object], repeat: int = 30) -> float:
    run()
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        run()
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times)


def main() -> int:
    port = _free_port()
    server = _start_server(port)
    workdir = Path(tempfile.mkdtemp(prefix="vitals-bench-cache-"))
    try:
        client = redis.Redis(port=port)
        url = f"redis://127.0.0.1:{port}/0?name=bench"
        settings = storage.load_settings(data_dir=workdir, redis_urls=[url])
        store = storage.connect(f"sqlite:///{workdir / 'bench.db'}")
        started = time.perf_counter()
        client.execute_command("DEBUG", "POPULATE", TOTAL_KEYS - MATCHING, "other")
        print(
            f"loaded {TOTAL_KEYS - MATCHING:,} near-miss keys in {time.perf_counter() - started:.1f} s",
            flush=True,
        )

        rates: dict[str, list[float]] = {"plain": [], "vitals": []}
        pings: dict[str, list[float]] = {"plain": [], "vitals": []}
        for _round in range(ROUNDS):
            for name in ("plain", "vitals"):
                client.execute_command("DEBUG", "POPULATE", MATCHING, "target")
                assert client.dbsize() == TOTAL_KEYS
                if name == "plain":
                    elapsed, removed, latencies = _with_pings(port, lambda: _plain_loop(client))
                else:
                    elapsed, removed, latencies = _with_pings(port, lambda: _vitals_clear(store, settings))
                assert removed == MATCHING, (name, removed)
                assert client.dbsize() == TOTAL_KEYS - MATCHING
                rates[name].append(removed / elapsed)
                pings[name].extend(latencies)
                print(f"  {name:6s} clear: {removed:,} keys in {elapsed:.2f} s", flush=True)

        # Best round of each (as timeit does): other processes share this 2-core machine and slow
        # a round down, never speed it up. The medians are printed too.
        vitals_rate, plain_rate = max(rates["vitals"]), max(rates["plain"])
        print(
            f"clear {MATCHING:,} of {TOTAL_KEYS:,} keys (best of {ROUNDS}): Vitals job {vitals_rate:,.0f} keys/s "
            f"vs plain SCAN+UNLINK loop {plain_rate:,.0f} keys/s -> {vitals_rate / plain_rate:.2f}x (target >= 0.8x)"
        )
        medians = statistics.median(rates["vitals"]), statistics.median(rates["plain"])
        print(
            f"  medians: Vitals {medians[0]:,.0f} keys/s vs plain {medians[1]:,.0f} keys/s "
            f"-> {medians[0] / medians[1]:.2f}x; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores"
        )
        print(
            f"PING p99 during the clear: Vitals {_p99(pings['vitals']):.2f} ms ({len(pings['vitals'])} pings) vs "
            f"plain loop {_p99(pings['plain']):.2f} ms -> {_p99(pings['vitals']) / _p99(pings['plain']):.2f}x "
            "(target < 5 ms)"
        )

        client.execute_command("DEBUG", "POPULATE", MATCHING, "target")
        actor = Actor("bench", Role.VIEWER)

        def browse() -> int:
            page = actions.browse_keys(
                store, settings, actor, target="bench", db=0, pattern="*", page_size=100
            )
            assert len(page.rows) >= 100
            return len(page.rows)

        vitals_ms = _median_ms(browse)
        baseline_ms = _median_ms(lambda: _per_key_page(client))
        print(
            f"key-browser page of 100 keys with type/TTL/size/memory: {vitals_ms:.1f} ms vs redis-py per-key "
            f"round trips {baseline_ms:.1f} ms -> {vitals_ms / baseline_ms:.2f}x (target <= 100 ms)"
        )
        store.close()
    finally:
        server.kill()
        server.wait(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
