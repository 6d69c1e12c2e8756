"""A real ``vitals worker`` follows the stored configuration without a restart: its host-job timer
takes a changed interval, and a task sent by name uses a target added after the worker started."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery import Celery

import storage
from tests import support
from tests.integration.tasks.test_celery_worker import (
    Started,
    memory_times,
    start,
    vitals_command,
)
from tests.support import PROJECT_ROOT, claim_redis_db

REDIS_DBS = range(9, 16)
SECRET_KEY = "celery-config-test-secret-key-0123456789"
BOOT_TIMEOUT_SECONDS = 30
TIMEOUT_SECONDS = 30


def wait_until(condition: Callable[[], object], what: str, log: Callable[[], str]) -> None:
    support.wait_until(condition, TIMEOUT_SECONDS, what, detail=lambda: f"worker log:\n{log()}")


@pytest.fixture(scope="module")
def broker_url() -> Iterator[str]:
    yield from claim_redis_db(REDIS_DBS, "the Celery configuration tests need a real broker")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("celery-config")


@pytest.fixture(scope="module")
def shared_store(data_dir: Path) -> Iterator[storage.Store]:
    """The store the worker writes to, opened by the test too (same secret key as the worker)."""
    opened = storage.connect(f"sqlite:///{data_dir / 'vitals.db'}")
    opened.config.use_secret_key(key=SECRET_KEY)
    # Before the worker starts: host collection once an hour, so any later run comes from a change.
    opened.config.set(key="system.collection_interval_seconds", value=3600, by="ada")
    yield opened
    opened.close()


@pytest.fixture(scope="module")
def worker(broker_url: str, shared_store: storage.Store, data_dir: Path) -> Iterator[Started]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("VITALS_")}
    env |= {
        "PYTHONPATH": str(PROJECT_ROOT),
        "VITALS_BROKER_URL": broker_url,
        "VITALS_DATABASE_URL": str(shared_store.engine.url),
        "VITALS_DATA_DIR": str(data_dir),
        "VITALS_SECRET_KEY": SECRET_KEY,
    }
    started = start(
        vitals_command("worker", "--concurrency", "1", "--loglevel", "INFO"), env, data_dir / "w.log"
    )
    try:
        started.wait_for_log(" ready.", BOOT_TIMEOUT_SECONDS)
        yield started
    finally:
        started.stop()


def test_worker_host_jobs_take_a_changed_interval(worker: Started, shared_store: storage.Store) -> None:
    wait_until(lambda: len(memory_times(shared_store)) >= 1, "the first host collection", worker.log)
    time.sleep(3)
    assert len(memory_times(shared_store)) == 1  # the stored hour-long interval is in force

    shared_store.config.set(key="system.collection_interval_seconds", value=1, by="ada")
    wait_until(
        lambda: len(memory_times(shared_store)) >= 3, "collections at the new 1 s interval", worker.log
    )
    assert "schedule reloaded" in worker.log()
    assert "Traceback" not in worker.log()


def test_a_task_sent_by_name_uses_a_target_added_after_start(
    worker: Started, broker_url: str, shared_store: storage.Store
) -> None:
    shared_store.config.add_target(kind="redis", name="added-later", url="redis://127.0.0.1:6379/0", by="ada")
    client = Celery(broker=broker_url)
    try:
        client.send_task("vitals.collect_redis")
    finally:
        client.close()
    wait_until(
        lambda: not shared_store.list_series(host="added-later").empty,
        "samples of the Redis target added after the worker started",
        worker.log,
    )
    assert not shared_store.list_series(metric="redis.memory.used_bytes", host="added-later").empty
