"""store.queue on SQLite and MariaDB: task records merged across windows, ordered states, bounded rows."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

import storage
from storage import queue
from storage.engine import write_transaction
from storage.schema import celery_tasks

BROKER = "mq:5672//"
# Every test's times are ten minutes before it starts (set per test: a module-level time goes stale in
# a long run), so they fall in the default windows.
NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0)


@pytest.fixture(autouse=True)
def _fresh_now() -> None:
    global NOW
    NOW = datetime.now(UTC).replace(tzinfo=None, microsecond=0) - timedelta(minutes=10)


def _record(task_id: str, state: str, seconds: float, **fields: Any) -> dict[str, Any]:
    return {"task_id": task_id, "state": state, "updated_at": NOW + timedelta(seconds=seconds), **fields}


def test_windows_of_one_task_merge_into_one_row(store: storage.Store) -> None:
    engine = store.engine
    received = _record("t1", "RECEIVED", 0, name="shop.pay", args="(1,)", kwargs="{}", worker="w1",
                       received_at=NOW)  # fmt: skip
    assert queue.record_tasks(engine, BROKER, [received]) == 1
    failed = _record("t1", "FAILURE", 2, exception="ValueError('x')", traceback="Traceback...\nValueError: x",
                     finished_at=NOW + timedelta(seconds=2))  # fmt: skip
    assert queue.record_tasks(engine, BROKER, [failed]) == 0  # not new: merged
    task = store.queue.task(broker=BROKER, task_id="t1")
    assert task is not None
    assert (task["name"], task["state"], task["args"], task["worker"]) == (
        "shop.pay",
        "FAILURE",
        "(1,)",
        "w1",
    )
    assert task["exception"] == "ValueError('x')" and task["traceback"].endswith("ValueError: x")
    assert task["received_at"] == NOW.replace(tzinfo=UTC)
    assert task["finished_at"] - task["received_at"] == timedelta(seconds=2)
    assert task["updated_at"].tzinfo is UTC


def test_the_state_only_moves_forward_but_a_retry_gives_way(store: storage.Store) -> None:
    engine = store.engine
    queue.record_tasks(engine, BROKER, [_record("t2", "SUCCESS", 5, runtime=0.4)])
    queue.record_tasks(engine, BROKER, [_record("t2", "STARTED", 3, started_at=NOW)])  # a late window
    task = store.queue.task(broker=BROKER, task_id="t2")
    assert task is not None and task["state"] == "SUCCESS" and task["runtime"] == 0.4
    assert task["started_at"] is not None  # its fields still count
    assert task["updated_at"] == (NOW + timedelta(seconds=5)).replace(tzinfo=UTC)
    queue.record_tasks(engine, BROKER, [_record("t3", "RETRY", 1, exception="Retry in 1s")])
    queue.record_tasks(engine, BROKER, [_record("t3", "RECEIVED", 2)])  # received again, same id
    retried = store.queue.task(broker=BROKER, task_id="t3")
    assert retried is not None and retried["state"] == "RECEIVED" and retried["exception"] == "Retry in 1s"


def test_writing_the_same_records_twice_changes_nothing(store: storage.Store) -> None:
    batch = [_record("t4", "RECEIVED", 0, name="a"), _record("t4", "SUCCESS", 1, runtime=1.0)]
    assert queue.record_tasks(store.engine, BROKER, batch) == 1
    before = store.queue.task(broker=BROKER, task_id="t4")
    assert queue.record_tasks(store.engine, BROKER, batch) == 0  # a spool replay
    assert store.queue.task(broker=BROKER, task_id="t4") == before
    assert before is not None and before["state"] == "SUCCESS" and before["name"] == "a"


def test_filters_and_newest_first(store: storage.Store) -> None:
    queue.record_tasks(
        store.engine,
        BROKER,
        [
            _record("a", "SUCCESS", 1, name="shop.pay", worker="w1"),
            _record("b", "FAILURE", 2, name="shop.pay", worker="w2"),
            _record("c", "RETRY", 3, name="shop.mail", worker="w1"),
        ],
    )
    queue.record_tasks(store.engine, "other:6379/0", [_record("d", "SUCCESS", 4, name="x")])
    assert store.queue.tasks(broker=BROKER)["task_id"].tolist() == ["c", "b", "a"]
    assert store.queue.tasks(broker=BROKER, state="failed")["task_id"].tolist() == ["c", "b"]
    assert store.queue.tasks(state="success")["task_id"].tolist() == ["d", "a"]
    assert store.queue.tasks(worker="w1")["task_id"].tolist() == ["c", "a"]
    assert store.queue.tasks(name="shop.pay", limit=1)["task_id"].tolist() == ["b"]
    frame = store.queue.tasks(since="1h")
    assert str(frame["updated_at"].dt.tz) == "UTC" and "traceback" not in frame.columns
    assert store.queue.task(broker=BROKER, task_id="nope") is None
    assert queue.tasks_per_worker(store.engine, since="1h") == {(BROKER, "w1"): 2, (BROKER, "w2"): 1}


def test_only_the_newest_rows_per_broker_are_kept(store: storage.Store) -> None:
    queue.record_tasks(store.engine, BROKER, [_record(f"old{i}", "SUCCESS", i) for i in range(30)])
    queue.record_tasks(store.engine, "other:6379/0", [_record("keep", "SUCCESS", -100)])
    with write_transaction(store.engine) as conn:
        assert queue.prune_tasks(conn, BROKER, keep=10) == 20
    kept = store.queue.tasks(broker=BROKER, limit=100)["task_id"].tolist()
    assert kept == [f"old{i}" for i in range(29, 19, -1)]
    assert store.queue.tasks(broker="other:6379/0")["task_id"].tolist() == [
        "keep"
    ]  # another broker's rows stay


def test_a_large_batch_is_written_in_one_go(store: storage.Store) -> None:
    batch = [_record(f"bulk{i}", "SUCCESS", i / 1000, name="bulk", runtime=0.01) for i in range(2_000)]
    assert queue.record_tasks(store.engine, BROKER, batch) == 2_000
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(celery_tasks)).scalar() == 2_000
    assert queue.record_tasks(store.engine, BROKER, batch) == 0
