"""Faults in the production topology, with real processes: a MariaDB store (a private mariadbd, so it can
be stopped), a Redis broker (private, so it can be restarted), one ``vitals beat`` and two ``vitals worker``
processes, collecting this host every second, a monitored Redis every two seconds and a monitored
MariaDB (another private mariadbd) every four.

The tests run in order on one topology (a module fixture; the Makefile's ``--dist loadfile`` keeps them
in one process). Each fault is judged by what landed in the store: the series the cluster job writes
(``redis.*``, one collection per beat tick, by whichever worker gets it) and the one every worker's own
timer writes (``system.memory.percent``), checked for gaps over the fault's window once everything is
replayed. Rows cannot be duplicated (samples are unique per series and time, and a replay is an
``INSERT IGNORE``), so "none duplicated" is checked as "no more samples than ticks".

Throughout, the test itself writes a monitored application log (``SeqLog``: numbered lines, 100 a
second, 1,000 during the rotation fault) that both workers tail; every fault ends by counting each
number written during it in the store: stored once, never twice, none lost (but for the lines that
copytruncate itself loses, which the test bounds).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from sqlalchemy import select

import storage
from app import create_app
from storage.health import latest_health
from storage.schema import log_entries
from tests.integration.tasks.test_celery_worker import Started, start, vitals_command
from tests.support import PrivateMariaDB, PrivateRedis, small_disk, unavailable, wait_until

SYSTEM_INTERVAL, REDIS_INTERVAL, MYSQL_INTERVAL = 1.0, 2.0, 4.0
BOOT_SECONDS = 40
STORE_OUTAGE_SECONDS = 60
# A collection is "on time" when the next one follows within two intervals, plus the time a worker
# needs to pick the task up and read the target.
SLACK_SECONDS = 1.5

LOG_RATE, ROTATION_LOG_RATE = 100, 1000  # lines a second
_SEQ = re.compile(r"seq=(\d+)")

pytestmark = pytest.mark.faults


class SeqLog:
    """An application log the test writes from its own thread: numbered lines at ``rate`` a second,
    appended (``O_APPEND``, a write per line) the way a logging library does, so a rotation by
    another actor meets a writer that keeps going."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.rate = LOG_RATE
        self.written = 0  # the last number written
        self._reopen = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="seq-log", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        handle = self.path.open("a", buffering=1, encoding="utf-8")
        due = time.monotonic()
        while not self._stop.is_set():
            if self._reopen.is_set():  # what an application does on SIGHUP after a rename rotation
                handle.close()
                handle = self.path.open("a", buffering=1, encoding="utf-8")
                self._reopen.clear()
            burst = max(1, self.rate // 100)
            stamp = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3]
            for seq in range(self.written + 1, self.written + burst + 1):
                handle.write(f"{stamp}Z INFO app: request done seq={seq:09d} status=200\n")
            self.written += burst
            due += burst / self.rate
            time.sleep(max(0.0, due - time.monotonic()))
        handle.close()

    def rotate_by_rename(self) -> None:
        """logrotate's default: rename, the application writes on to the old file a moment, then reopens."""
        os.rename(self.path, self.path.with_name(self.path.name + ".1"))
        time.sleep(0.3)
        self._reopen.set()
        wait_until(lambda: not self._reopen.is_set(), 5, "the writer reopening its log")

    def copytruncate(self) -> tuple[int, int]:
        """logrotate's ``copytruncate``: copy, then truncate in place. Returns the numbers written
        between the copy's start and the truncate: lines that went to neither file can only be those."""
        before = self.written
        shutil.copyfile(self.path, self.path.with_name(self.path.name + "-copy"))
        os.truncate(self.path, 0)
        return before, self.written + max(1, self.rate // 100)  # and the burst being written

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)


@dataclass
class LogCount:
    """What was written between two numbers against what the store holds of them."""

    written: int
    stored: int
    twice: list[int]
    lost: list[int]


@dataclass
class Topology:
    store_server: PrivateMariaDB
    broker: PrivateRedis
    target: PrivateRedis
    mysql_target: PrivateMariaDB
    root: Path
    env: dict[str, str]
    app_log: SeqLog
    workers: dict[str, Started] = field(default_factory=dict)
    beat: Started | None = None

    def start_worker(self, name: str) -> Started:
        data_dir = self.root / name
        data_dir.mkdir(exist_ok=True)
        env = {**self.env, "VITALS_DATA_DIR": str(data_dir)}
        # The process log stays off the data directory, so a full data disk cannot swallow it.
        (self.root / "logs").mkdir(exist_ok=True)
        worker = start(
            vitals_command("worker", "--concurrency", "2", "--loglevel", "INFO", "--hostname", f"{name}@%h"),
            env,
            self.root / "logs" / f"{name}-{int(time.time())}.log",
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

    def stored_lines(self, first: int, last: int) -> Counter[int]:
        """How often each number in [first, last] of the application log is in the store."""
        store = _store(self)
        try:
            with store.engine.connect() as conn:
                rows = conn.execute(
                    select(log_entries.c.message).where(log_entries.c.source == str(self.app_log.path))
                )
                found = Counter(int(seq) for (message,) in rows for seq in _SEQ.findall(message))
        finally:
            store.close()
        return Counter({seq: found[seq] for seq in range(first, last + 1)})

    def count_lines(self, first: int, may_lose: range = range(0)) -> LogCount:
        """Wait until every line numbered from ``first`` to what is written now is stored (but those in
        ``may_lose``), then count: the store must hold each once."""
        last = self.app_log.written

        def complete() -> Counter[int] | None:
            counts = self.stored_lines(first, last)
            missing = [seq for seq, n in counts.items() if n == 0 and seq not in may_lose]
            return counts if not missing else None

        counts = wait_until(
            complete,
            60,
            f"log lines {first}..{last} stored",
            every=1.0,
            detail=self.logs,
            not_yet=(Exception,),
        )
        result = LogCount(
            written=last - first + 1,
            stored=sum(1 for n in counts.values() if n),
            twice=[seq for seq, n in counts.items() if n > 1],
            lost=[seq for seq, n in counts.items() if n == 0],
        )
        print(
            f"log lines {first}..{last}: {result.written} written, {result.stored} stored, "
            f"{len(result.twice)} twice, {len(result.lost)} lost"
        )
        assert not result.twice, result.twice[:20]
        return result


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
    mysql_target = PrivateMariaDB(root / "mysql-target")  # monitored, never stopped
    mysql_target.install()
    mysql_target.start()
    import pymysql

    with pymysql.connect(host="127.0.0.1", port=store_server.port, user="root") as conn:
        conn.cursor().execute("CREATE DATABASE vitals")
    storage.connect(store_server.url()).close()  # migrated before any process uses it
    app_log_path = root / "app" / "app.log"
    app_log_path.parent.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("VITALS_")}
    env |= {
        "PYTHONPATH": str(Path(__file__).resolve().parents[3]),
        "VITALS_BROKER_URL": broker.url,
        "VITALS_DATABASE_URL": store_server.url(),
        "VITALS_DATA_DIR": str(root / "beat"),
        "VITALS_REDIS_URLS": f"{target.url}?name=cache",
        "VITALS_MYSQL_URLS": f"{mysql_target.url('mysql')}?name=db",
        "VITALS_MYSQL_INTERVAL_SECONDS": str(MYSQL_INTERVAL),
        "VITALS_SYSTEM_INTERVAL_SECONDS": str(SYSTEM_INTERVAL),
        "VITALS_REDIS_INTERVAL_SECONDS": str(REDIS_INTERVAL),
        # Not faster: each health check holds a pool slot for about a second (Celery's broadcast ping
        # waits out its timeout) and the Celery job holds one for its event window, so with checks
        # every 2 s a CI host busy with browser tests let the 2-second Redis ticks expire unrun.
        "VITALS_HEALTH_INTERVAL_SECONDS": "5",
        "VITALS_CELERY_INTERVAL_SECONDS": "30",
        "VITALS_LOG_PATHS": str(app_log_path),
        "VITALS_LOGS_INTERVAL_SECONDS": "1",
    }
    (root / "beat").mkdir()
    found = Topology(store_server, broker, target, mysql_target, root, env, SeqLog(app_log_path))
    try:
        found.start_worker("w1")
        found.start_worker("w2")
        found.beat = start(vitals_command("beat", "--loglevel", "INFO"), env, root / "beat" / "beat.log")
        found.beat.wait_for_log("Sending due task", BOOT_SECONDS)
        yield found
    finally:
        found.app_log.stop()
        for worker in found.workers.values():
            worker.stop()
        if found.beat is not None:
            found.beat.stop()
        broker.stop()
        target.stop()
        mysql_target.stop()
        store_server.stop()


def _store(topology: Topology) -> storage.Store:
    return storage.connect(topology.store_server.url(), migrate=False)


def _times(store: storage.Store, metric: str, since: pd.Timestamp) -> pd.Series:
    """Distinct sample times of ``metric`` (any series) since ``since``."""
    frame = store.metrics(metric, since=since.to_pydatetime(), every="1ms", agg="count")
    return frame["ts"].drop_duplicates().sort_values().reset_index(drop=True)


def _redis_times(store: storage.Store, since: pd.Timestamp) -> pd.Series:
    return _times(store, "redis.up", since)


def _mysql_times(store: storage.Store, since: pd.Timestamp) -> pd.Series:
    return _times(store, "mysql.threads_connected", since)


def _largest_gap(times: pd.Series, start: pd.Timestamp, end: pd.Timestamp) -> float:
    """The longest stretch without a sample between ``start`` and ``end`` (seconds)."""
    inside = times[(times >= start) & (times <= end)]
    edges = pd.concat([pd.Series([start]), inside, pd.Series([end])], ignore_index=True)
    return float(edges.diff().dropna().dt.total_seconds().max())


def _wait(condition: Callable[[], object], timeout: float, what: str, topology: Topology) -> None:
    # An exception means "not yet": the store may still be coming back.
    wait_until(condition, timeout, what, every=0.5, detail=topology.logs, not_yet=(Exception,))


def _now() -> pd.Timestamp:
    return pd.Timestamp.now(tz="UTC")


def test_the_topology_collects(topology: Topology) -> None:
    start_at = _now()
    time.sleep(1)
    assert not topology.count_lines(1).lost  # every line since the writer started
    store = _store(topology)
    try:
        _wait(lambda: len(_redis_times(store, start_at)) >= 3, 30, "three cluster collections", topology)
        _wait(lambda: len(_mysql_times(store, start_at)) >= 2, 30, "two MySQL collections", topology)
        _wait(
            lambda: len(_times(store, "system.memory.percent", start_at)) >= 3, 30, "host samples", topology
        )
    finally:
        store.close()


def test_sigkill_of_a_worker_leaves_no_gap(topology: Topology) -> None:
    """One worker killed outright (no warm shutdown): the other takes every following beat tick."""
    time.sleep(REDIS_INTERVAL * 2)
    first_line = topology.app_log.written + 1
    killed_at = _now()
    victim = topology.workers["w1"]
    os.killpg(victim.process.pid, signal.SIGKILL)
    victim.process.wait(timeout=10)
    time.sleep(12)  # six beat ticks
    end = _now()
    store = _store(topology)
    try:
        gap = _largest_gap(_redis_times(store, killed_at - pd.Timedelta("5s")), killed_at, end)
        mysql_gap = _largest_gap(_mysql_times(store, killed_at - pd.Timedelta("10s")), killed_at, end)
        host_gap = _largest_gap(_times(store, "system.memory.percent", killed_at), killed_at, end)
    finally:
        store.close()
    print(f"SIGKILL: largest gaps redis {gap:.2f} s, mysql {mysql_gap:.2f} s, host {host_gap:.2f} s")
    assert gap <= 2 * REDIS_INTERVAL + SLACK_SECONDS, (gap, topology.logs())
    assert mysql_gap <= 2 * MYSQL_INTERVAL + SLACK_SECONDS, (mysql_gap, topology.logs())
    assert host_gap <= 2 * SYSTEM_INTERVAL + SLACK_SECONDS, (host_gap, topology.logs())
    topology.start_worker("w1")  # back to two for the next faults
    assert not topology.count_lines(first_line).lost


def test_a_store_outage_is_spooled_and_replayed_in_full(topology: Topology) -> None:
    """The store stopped for a minute: every worker spools, and after the restart replays it all."""
    time.sleep(REDIS_INTERVAL * 2)
    first_line = topology.app_log.written + 1
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
        mysql_times = _mysql_times(store, down_at - pd.Timedelta("10s"))
        host_times = _times(store, "system.memory.percent", down_at - pd.Timedelta("5s"))
    finally:
        store.close()
    window = (down_at, up_at)
    redis_gap, host_gap = _largest_gap(redis_times, *window), _largest_gap(host_times, *window)
    mysql_gap = _largest_gap(mysql_times, *window)
    during = redis_times[(redis_times >= down_at) & (redis_times <= up_at)]
    print(
        f"store outage: largest gaps redis {redis_gap:.2f} s, mysql {mysql_gap:.2f} s, host {host_gap:.2f} s; "
        f"{len(during)} redis collections of {STORE_OUTAGE_SECONDS / REDIS_INTERVAL:.0f} ticks"
    )
    assert redis_gap <= 2 * REDIS_INTERVAL + SLACK_SECONDS, (redis_gap, topology.logs())
    assert mysql_gap <= 2 * MYSQL_INTERVAL + SLACK_SECONDS, (mysql_gap, topology.logs())
    assert host_gap <= 2 * SYSTEM_INTERVAL + SLACK_SECONDS, (host_gap, topology.logs())
    expected = STORE_OUTAGE_SECONDS / REDIS_INTERVAL
    assert 0.6 * expected <= len(during) <= expected + 2, (len(during), expected)  # none lost, none twice
    assert "Traceback" not in "".join(worker.log() for worker in topology.workers.values()), topology.logs()
    assert not topology.count_lines(first_line).lost  # tailing resumed from the stored checkpoints


def test_workers_and_beat_reconnect_after_a_broker_restart(topology: Topology) -> None:
    first_line = topology.app_log.written + 1
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
    assert not topology.count_lines(first_line).lost  # host jobs never needed the broker


def test_a_down_target_is_reported_and_the_rest_keeps_collecting(topology: Topology) -> None:
    store = _store(topology)

    def cache_status() -> str:
        found = [result for result in latest_health(store.engine) if result.name == "redis:cache"]
        return found[0].status if found else ""

    first_line = topology.app_log.written + 1
    try:
        _wait(lambda: cache_status() == "ok", 20, "the cache check passing", topology)
        topology.target.stop()
        stopped = _now()
        _wait(lambda: cache_status() == "fail", 30, "the cache check reporting the target down", topology)
        # What a load balancer or a status page asks: /api/health of a web process on this store.
        settings = storage.load_settings(
            data_dir=topology.root / "web",
            database_url=topology.store_server.url(),
            broker_url=topology.broker.url,
            redis_urls=[f"{topology.target.url}?name=cache"],
            secret_key="fault-suite-secret-key-0123456789",
        )
        response = create_app(settings, store, run_scheduler=False).server.test_client().get("/api/health")
        checks = {check["name"]: check for check in response.get_json()["checks"]}
        assert checks["redis:cache"]["status"] == "fail", checks
        assert response.status_code == (503 if checks["redis:cache"]["critical"] else 200)
        assert checks["database"]["status"] == "ok" and checks["cache"]["status"] == "ok"
        host = _times(store, "system.memory.percent", stopped)
        assert _largest_gap(host, stopped, _now()) <= 2 * SYSTEM_INTERVAL + SLACK_SECONDS
    finally:
        topology.target.start()
        store.close()
    assert not topology.count_lines(first_line).lost


def test_a_log_rotated_under_1000_lines_a_second_is_stored_once(topology: Topology) -> None:
    """Rename rotation, then copytruncate, while the application writes 1,000 lines a second."""
    log = topology.app_log
    log.rate = ROTATION_LOG_RATE
    first_line = log.written + 1
    try:
        time.sleep(4)
        log.rotate_by_rename()
        time.sleep(4)
        copy_started, truncated = log.copytruncate()
        time.sleep(4)
    finally:
        log.rate = LOG_RATE
    # Lines written after the copy was taken and before the truncate are in neither file: lost by
    # every copytruncate reader (logrotate's manual says so); no other line may be.
    window = range(copy_started + 1, truncated + 1)
    count = topology.count_lines(first_line, may_lose=window)
    assert count.written >= 0.8 * 12 * ROTATION_LOG_RATE, count.written  # the writer kept its rate
    assert set(count.lost) <= set(window), count.lost[:20]
    print(f"copytruncate window: {len(window)} lines, {len(count.lost)} of them lost")


def test_a_full_data_disk_is_reported_and_corrupts_nothing(topology: Topology) -> None:
    """A third worker whose data directory is a small tmpfs, filled up, while the store is down."""
    first_line = topology.app_log.written + 1
    with small_disk(topology.root / "w3", "2m") as disk:
        worker = topology.start_worker("w3")
        try:
            time.sleep(3)
            with (disk / "filler").open("wb") as filler, contextlib.suppress(OSError):
                filler.write(bytes(4 * 1024 * 1024))  # the disk is full from here on
            topology.store_server.stop()
            time.sleep(15)
            assert worker.process.poll() is None, worker.log()[-3000:]
            said = worker.log()
            dropped = said.count("cannot take new data")
            assert dropped >= 1 and "No space left on device" in said, said[-3000:]
            assert "Traceback" not in said, said[-3000:]
            spool_dir = disk / "spool"
            assert not [path for path in spool_dir.rglob(".tmp-*")]  # no half-written file
            for path in spool_dir.glob("*.parquet"):
                pq.read_table(path)  # every spooled file whole
            print(f"full disk: 'cannot take new data' said {dropped} times in 15 s")
        finally:
            topology.store_server.start()
        _wait(lambda: topology.spooled_files() == 0, 60, "the spools drained after the restart", topology)
        assert worker.process.poll() is None
        worker.stop()
        del topology.workers["w3"]
    assert not topology.count_lines(first_line).lost  # the other workers tailed on
