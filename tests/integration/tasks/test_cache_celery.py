"""The production clear path: a clear by pattern dispatched to a real ``vitals worker`` over a real
Redis broker, running against a private redis-server and writing its job row, history and audit
into a SQLite store the test reads. Started the way tests/integration/tasks/test_celery_worker.py does."""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import storage
from storage.audit import audit_entries
from storage.users import Role
from tasks.actions import Actor
from tasks.actions import cache as actions
from tests.integration.tasks.test_celery_worker import (
    BOOT_TIMEOUT_SECONDS,
    Started,
    start,
    vitals_command,
)
from tests.support import PROJECT_ROOT, PrivateRedis, claim_redis_db

OTTO = Actor("otto", Role.OPERATOR)
MATCHING = 2_500
REDIS_DBS = range(9, 16)


@pytest.fixture
def broker_url() -> Iterator[str]:
    yield from claim_redis_db(REDIS_DBS, "the Celery clear test needs a real broker")


@pytest.fixture
def cache_server(private_redis: Callable[..., PrivateRedis]) -> PrivateRedis:
    return private_redis()


@pytest.fixture
def store_url(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'vitals.db'}"
    storage.connect(url).close()  # migrated before the worker opens it
    return url


@pytest.fixture
def worker(broker_url: str, store_url: str, cache_server: PrivateRedis, tmp_path: Path) -> Iterator[Started]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("VITALS_")}
    env.update(
        PYTHONPATH=str(PROJECT_ROOT),
        VITALS_BROKER_URL=broker_url,
        VITALS_DATABASE_URL=store_url,
        VITALS_DATA_DIR=str(tmp_path),
        VITALS_REDIS_URLS=f"{cache_server.url}?name=cache",
    )
    started = start(
        vitals_command("worker", "--concurrency", "1", "--loglevel", "INFO"), env, tmp_path / "w.log"
    )
    try:
        started.wait_for_log(" ready.", BOOT_TIMEOUT_SECONDS)
        yield started
    finally:
        started.stop()


def test_clear_runs_as_a_celery_task_on_a_real_worker(
    worker: Started, broker_url: str, store_url: str, cache_server: PrivateRedis, tmp_path: Path
) -> None:
    client = cache_server.client(db=3)
    pipe = client.pipeline(transaction=False)
    for n in range(MATCHING):
        pipe.set(f"page:{n}", "x" * 64)
    near_misses = ["page", "pages:1", "apage:1", "Page:1", "pag:1"]
    for key in near_misses:
        pipe.set(key, "keep")
    pipe.execute()

    settings = storage.load_settings(
        data_dir=tmp_path,
        broker_url=broker_url,
        database_url=store_url,
        redis_urls=[f"{cache_server.url}?name=cache"],
    )
    store = storage.connect(store_url, migrate=False)
    try:
        job = actions.start_clear(
            store, settings, OTTO, target="cache", db=3, pattern="page:*", expected=MATCHING
        )
        deadline = time.monotonic() + 30
        current = store.cache.job(job_id=job.id)
        while time.monotonic() < deadline and not (current and current.finished):
            time.sleep(0.2)
            current = store.cache.job(job_id=job.id)
        assert current is not None and current.finished, f"job not finished; worker log:\n{worker.log()}"
        assert current.status == "done" and current.result is not None, current.error
        assert current.result["removed"] == MATCHING
        assert current.result["batches"] >= 2  # batched SCAN + UNLINK, not one call
        assert sorted(client.scan_iter()) == sorted(near_misses)

        history = store.cache.history(target="cache", since="10m")
        assert history.iloc[-1]["action"] == "clear_pattern"
        assert int(history.iloc[-1]["keys_affected"]) == MATCHING
        audit = audit_entries(store.engine)
        audit = audit[audit["action"] == "cache.clear"]
        assert set(audit["username"]) == {"otto"}
        assert [a["removed"] for a in audit["after"] if a and "removed" in a] == [MATCHING]
        # It ran on the worker, not in a thread of this process.
        worker.wait_for_log("vitals.cache_job", 5)
        worker.wait_for_log("succeeded", 5)
    finally:
        store.close()
        client.close()
