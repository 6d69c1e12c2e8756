"""Faults in the production topology, with real processes: a MariaDB store (a private mariadbd, so it can
be stopped), a Redis broker (private, so it can be restarted), one ``vitals beat`` and two ``vitals worker``
processes, collecting this host every second and a monitored Redis every two seconds.

The tests run in order on one topology (a module fixture; the Makefile's ``--dist loadfile`` keeps them
in one process). Each fault is judged by what landed in the store: the series the cluster job writes
(``redis.*``, one collection per beat tick, by whichever worker gets it) and the one every worker's own
timer writes (``system.memory.percent``), checked for gaps over the fault's window once everything is
replayed. Rows cannot be duplicated (samples are unique per series and time, and a replay is an
``INSERT IGNORE``), so "none duplicated" is checked as "no more samples than ticks".
"""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

import storage
from storage.health import latest_health
from tests.integration.tasks.test_celery_worker import Started, start, vitals_command
from tests.support import PrivateMariaDB, PrivateRedis, unavailable

SYSTEM_INTERVAL, REDIS_INTERVAL = 1.0, 2.0
BOOT_SECONDS = 40
STORE_OUTAGE_SECONDS = 60
# A collection is "on time" when the next one follows within two intervals, plus the time a worker
# needs to pick the task up and read the target.
SLACK_SECONDS = 1.5

pytestmark = pytest.mark.faults


@dataclass
class Topology:
    store_server: PrivateMariaDB
    broker: PrivateRedis
    target: PrivateRedis
    root: Path
    env: dict[str, str]
    workers: dict[str, Started] = field(default_factory=dict)
    beat: Started | None = None

    def start_worker(self, name: str) -> Started:
        data_dir = self.root / name
        data_dir.mkdir(exist_ok=True)
        env = {**self.env, "VITALS_DATA_DIR": str(data_dir)}
        worker = start(
            vitals_command("worker", "--concurrency", "2", "--loglevel", "INFO", "--hostname", f"{name}@%h"),
            env,
            data_dir / f"worker-{int(time.time())}.log",
        )
        worker.wait_for_log(" ready.", BOOT_SECONDS)
        self.workers[name] = worker
        return worker

    def logs(self) -> str:
        parts = [f"--- {name}:\n{worker.log()[-4000:]}" for name, worker in self.workers.items()]
        if self.beat is not None:
            parts.append(f"--- beat:\n{self.beat.log()[-3000:]}")
        return "\n".join(parts)

    def spooled_files(self) -> int:
        return sum(1 for path in self.root.glob("*/spool/**/*") if path.is_file() and path.suffix)


@pytest.fixture(scope="module")
def topology(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Topology]:
    for tool in ("mariadbd", "mariadb-install-db", "redis-server"):
        if shutil.which(tool) is None:
            unavailable(f"{tool} is not installed: the fault suite runs a private store and broker")
    root = tmp_path_factory.mktemp("faults")
    store_server = PrivateMariaDB(root / "mariadb")
    store_server.install()
    store_server.start()
    redis_binary = shutil.which("redis-server") or ""
    broker, target = PrivateRedis(redis_binary), PrivateRedis(redis_binary)
    broker.start()
    target.start()
    import pymysql

    with pymysql.connect(host="127.0.0.1", port=store_server.port, user="root") as conn:
        conn.cursor().execute("CREATE DATABASE vitals")
    storage.connect(store_server.url()).close()  # migrated before any process uses it
    env = {key: value for key, value in os.environ.items() if not key.startswith("VITALS_")}
    env |= {
        "PYTHONPATH": str(Path(__file__).resolve().parents[3]),
        "VITALS_BROKER_URL": broker.url,
        "VITALS_DATABASE_URL": store_server.url(),
        "VITALS_DATA_DIR": str(root / "beat"),
        "VITALS_REDIS_URLS": f"{target.url}?name=cache",
        "VITALS_SYSTEM_INTERVAL_SECONDS": str(SYSTEM_INTERVAL),
        "VITALS_REDIS_INTERVAL_SECONDS": str(REDIS_INTERVAL),
        # Not faster: each health check holds a pool slot for about a second (Celery's broadcast ping
        # waits out its timeout) and the Celery job holds one for its event window, so with checks
        # every 2 s a CI host busy with browser tests let the 2-second Redis ticks expire unrun.
        "VITALS_HEALTH_INTERVAL_SECONDS": "5",
        "VITALS_CELERY_INTERVAL_SECONDS": "30",
    }
    (root / "beat").mkdir()
    found = Topology(store_server, broker, target, root, env)
    try:
        found.start_worker("w1")
        found.start_worker("w2")
        found.beat = start(vitals_command("beat", "--loglevel", "INFO"), env, root / "beat" / "beat.log")
        found.beat.wait_for_log("Sending due task", BOOT_SECONDS)
        yield found
    finally:
        for worker in found.workers.values():
            worker.stop()
        if found.beat is not None:
            found.beat.stop()
        broker.stop()
        target.stop()
        store_server.stop()


def _store(topology: Topology) -> storage.Store:
    return storage.connect(topology.store_server.url(), migrate=False)


def _times(store: storage.Store, metric: str, since: pd.Timestamp) -> pd.Series:
    """Distinct sample times of ``metric`` (any series) since ``since``."""
    frame = store.metrics(metric, since=since.to_pydatetime(), every="1ms", agg="count")
    return frame["ts"].drop_duplicates().sort_values().reset_index(drop=True)


def _redis_times(store: storage.Store, since: pd.Timestamp) -> pd.Series:
    return _times(store, "redis.up", since)


def _largest_gap(times: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> float:
    """The longest stretch without a sample between ``start`` and ``end`` (seconds)."""
    inside = times[(times >= start) & (times <= end)]
    edges = pd.concat([pd.Series([start]), inside, pd.Series([end])], ignore_index=True)
    return float(edges.diff().dropna().dt.total_seconds().max())


def _wait(condition: Callable[[], object], timeout: float, what: str, topology: Topology) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if condition():
                return
        except Exception:  # the store may still be coming back
            pass
        time.sleep(0.5)
    pytest.fail(f"{what} within {timeout:.0f} s\n{topology.logs()}")


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def test_the_topology_collects(topology: Topology) -> None:
    start_at = _now()
    store = _store(topology)
    try:
        _wait(lambda: len(_redis_times(store, start_at)) >= 3, 30, "three cluster collections", topology)
        _wait(
            lambda: len(_times(store, "system.memory.percent", start_at)) >= 3, 30, "host samples", topology
        )
    finally:
        store.close()


def test_sigkill_of_a_worker_leaves_no_gap(topology: Topology) -> None:
    """One worker killed outright (no warm shutdown): the other takes every following beat tick."""
    time.sleep(REDIS_INTERVAL * 2)
    killed_at = _now()
    victim = topology.workers["w1"]
    os.killpg(victim.process.pid, signal.SIGKILL)
    victim.process.wait(timeout=10)
    time.sleep(12)  # six beat ticks
    end = _now()
    store = _store(topology)
    try:
        gap = _largest_gap(_redis_times(store, killed_at - pd.Timedelta("5s")), killed_at, end)
        host_gap = _largest_gap(_times(store, "system.memory.percent", killed_at), killed_at, end)
    finally:
        store.close()
    assert gap <= 2 * REDIS_INTERVAL + SLACK_SECONDS, (gap, topology.logs())
    assert host_gap <= 2 * SYSTEM_INTERVAL + SLACK_SECONDS, (host_gap, topology.logs())
    topology.start_worker("w1")  # back to two for the next faults


def test_a_store_outage_is_spooled_and_replayed_in_full(topology: Topology) -> None:
    """The store stopped for a minute: every worker spools, and after the restart replays it all."""
    time.sleep(REDIS_INTERVAL * 2)
    down_at = _now()
    topology.store_server.stop()
    time.sleep(STORE_OUTAGE_SECONDS)
    assert topology.spooled_files() > 0, "nothing was spooled while the store was down"
    topology.store_server.start()
    up_at = _now()
    _wait(lambda: topology.spooled_files() == 0, 60, "the spools drained after the restart", topology)
    time.sleep(REDIS_INTERVAL * 2)
    store = _store(topology)
    try:
        redis_times = _redis_times(store, down_at - pd.Timedelta("5s"))
        host_times = _times(store, "system.memory.percent", down_at - pd.Timedelta("5s"))
    finally:
        store.close()
    window = (down_at, up_at)
    assert _largest_gap(redis_times, *window) <= 2 * REDIS_INTERVAL + SLACK_SECONDS, topology.logs()
    assert _largest_gap(host_times, *window) <= 2 * SYSTEM_INTERVAL + SLACK_SECONDS, topology.logs()
    during = redis_times[(redis_times >= down_at) & (redis_times <= up_at)]
    expected = STORE_OUTAGE_SECONDS / REDIS_INTERVAL
    assert 0.6 * expected <= len(during) <= expected + 2, (len(during), expected)  # none lost, none twice
    assert "Traceback" not in "".join(worker.log() for worker in topology.workers.values()), topology.logs()


def test_workers_and_beat_reconnect_after_a_broker_restart(topology: Topology) -> None:
    topology.broker.stop()
    time.sleep(5)
    topology.broker.start()
    restarted = _now()
    store = _store(topology)
    try:
        _wait(
            lambda: len(_redis_times(store, restarted)) >= 2,
            30,
            "cluster collections resumed after the broker restart",
            topology,
        )
    finally:
        store.close()
    assert all(worker.process.poll() is None for worker in topology.workers.values())
    assert topology.beat is not None and topology.beat.process.poll() is None


def test_a_down_target_is_reported_and_the_rest_keeps_collecting(topology: Topology) -> None:
    store = _store(topology)

    def cache_status() -> str:
        found = [result for result in latest_health(store.engine) if result.name == "redis:cache"]
        return found[0].status if found else ""

    try:
        _wait(lambda: cache_status() == "ok", 20, "the cache check passing", topology)
        topology.target.stop()
        stopped = _now()
        _wait(lambda: cache_status() == "fail", 30, "the cache check reporting the target down", topology)
        host = _times(store, "system.memory.percent", stopped)
        assert _largest_gap(host, stopped, _now()) <= 2 * SYSTEM_INTERVAL + SLACK_SECONDS
    finally:
        topology.target.start()
        store.close()
