"""A real ``vitals worker`` (and ``vitals beat``) on a real Redis broker, writing to a real store.

The worker is started once for the module (it takes a few seconds to boot). It gets its whole
configuration from VITALS_* variables, as in production; tasks/celery_app.py reads them at import.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd
import pytest
from celery import Celery

import storage
from tests.support import PROJECT_ROOT, claim_redis_db, wait_until

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
# Redis databases this test may claim (one per concurrent run, so two runs never share a queue).
REDIS_DBS = range(9, 16)
INTERVAL_SECONDS = 1
BOOT_TIMEOUT_SECONDS = 30
ROWS_TIMEOUT_SECONDS = 30


def vitals_command(*args: str) -> list[str]:
    return [sys.executable, "-c", f"import app,sys; sys.exit(app.main({list(args)!r}))"]


@dataclass
class Started:
    """A process we started in its own session, so its prefork children stop with it."""

    process: subprocess.Popen[bytes]
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, needle: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if needle in self.log():
                return
            if self.process.poll() is not None:
                pytest.fail(f"process exited with {self.process.returncode} before {needle!r}:\n{self.log()}")
            time.sleep(0.2)
        pytest.fail(f"no {needle!r} after {timeout} s:\n{self.log()}")

    def stop(self) -> int | None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # warm shutdown of the process and its children
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)
        return self.process.returncode


def start(args: list[str], env: dict[str, str], log_path: Path) -> Started:
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            args,
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    return Started(process, log_path)


@pytest.fixture(scope="module")
def broker_url() -> Iterator[str]:
    """A Redis database of our own on the local server, emptied before and after."""
    yield from claim_redis_db(REDIS_DBS, "the Celery worker tests need a real broker")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("celery")


@pytest.fixture(scope="module")
def store_url(data_dir: Path) -> str:
    url = f"sqlite:///{data_dir / 'vitals.db'}"
    storage.connect(url).close()  # migrated before any process uses it
    return url


@pytest.fixture(scope="module")
def vitals_env(broker_url: str, store_url: str, data_dir: Path) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("VITALS_")}
    return {
        **env,
        "PYTHONPATH": str(PROJECT_ROOT),
        "VITALS_BROKER_URL": broker_url,
        "VITALS_DATABASE_URL": store_url,
        "VITALS_DATA_DIR": str(data_dir),
        "VITALS_SYSTEM_INTERVAL_SECONDS": str(INTERVAL_SECONDS),
    }


@pytest.fixture(scope="module")
def worker(vitals_env: dict[str, str], data_dir: Path) -> Iterator[Started]:
    started = start(
        vitals_command("worker", "--concurrency", "1", "--loglevel", "INFO"),
        vitals_env,
        data_dir / "worker.log",
    )
    try:
        started.wait_for_log(" ready.", BOOT_TIMEOUT_SECONDS)
        yield started
    finally:
        started.stop()


@pytest.fixture
def worker_store(store_url: str) -> Iterator[storage.Store]:
    opened = storage.connect(store_url, migrate=False)
    yield opened
    opened.close()


def memory_times(store: storage.Store) -> pd.Series:
    """Distinct times at which system.memory.percent landed (empty until the first one)."""
    if store.list_series(metric="system.memory.percent").empty:
        return pd.Series([], dtype="datetime64[ns, UTC]")
    frame = store.metrics("system.memory.percent", since="10m", every="1ms", agg="count")
    return frame["ts"].drop_duplicates().sort_values().reset_index(drop=True)


def test_worker_registers_the_collection_task(worker: Started) -> None:
    log = worker.log()
    assert "vitals.collect_system" in log  # listed under [tasks] at start-up
    assert worker.process.poll() is None


def test_worker_runs_a_task_sent_by_name(
    worker: Started, broker_url: str, worker_store: storage.Store
) -> None:
    before = len(memory_times(worker_store))
    client = Celery(broker=broker_url)
    try:
        client.send_task("vitals.collect_system")
    finally:
        client.close()
    wait_until(
        lambda: len(memory_times(worker_store)) > before,
        ROWS_TIMEOUT_SECONDS,
        "system.memory.percent rows",
        detail=worker.log,
    )
    latest = worker_store.latest("system.memory.percent", max_age="1m")
    assert len(latest) == 1
    assert 0 < latest["value"].iloc[0] <= 100
    assert str(latest["ts"].dt.tz) == "UTC"
    assert pd.Timestamp.now(tz="UTC") - latest["ts"].iloc[0] < pd.Timedelta(seconds=ROWS_TIMEOUT_SECONDS)
    worker.wait_for_log("succeeded", 5)  # the task ended cleanly, not just wrote and crashed
    assert "Traceback" not in worker.log()


def test_beat_schedules_cluster_jobs_and_each_worker_collects_its_own_host(
    worker: Started, vitals_env: dict[str, str], data_dir: Path, worker_store: storage.Store
) -> None:
    before = len(memory_times(worker_store))
    beat = start(vitals_command("beat", "--loglevel", "INFO"), vitals_env, data_dir / "beat.log")
    try:
        beat.wait_for_log("Sending due task", BOOT_TIMEOUT_SECONDS)
        # Host samples come from the worker's own timer, one run per second here.
        wait_until(
            lambda: len(memory_times(worker_store)) >= before + 2,
            ROWS_TIMEOUT_SECONDS,
            "the worker's own host collections",
            detail=lambda: f"{worker.log()}\n--- beat log:\n{beat.log()}",
        )
        # Beat sends due tasks one by one (notifications first): wait for a cluster-wide collection
        # rather than expect it already sent when the worker's own samples land.
        wait_until(
            lambda: "vitals.maintain_rollups" in beat.log() or "vitals.collect_celery" in beat.log(),
            ROWS_TIMEOUT_SECONDS,
            "beat sending a cluster-wide job",
            detail=beat.log,
        )
        assert beat.process.poll() is None
    finally:
        beat.stop()
    # Beat sends only cluster-wide jobs; a host job sent by beat would reach one random worker.
    assert "vitals.collect_system" not in beat.log()
    assert list(data_dir.glob("celerybeat-schedule*")), "beat keeps its schedule file in VITALS_DATA_DIR"
    assert not list(PROJECT_ROOT.glob("celerybeat-schedule*")), (
        "no schedule file left in the working directory"
    )
    times = memory_times(worker_store)
    gaps = times.iloc[before:].diff().dropna().dt.total_seconds()
    assert (gaps >= INTERVAL_SECONDS * 0.3).all(), gaps.tolist()  # on schedule, not a burst
    assert "Traceback" not in worker.log() + beat.log()
