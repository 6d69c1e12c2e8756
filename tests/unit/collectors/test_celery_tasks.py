"""Recent-task records from Celery task events: folding, masking, truncation and the per-window bound."""

from __future__ import annotations

from collections import OrderedDict

from collectors.celery_monitor import TaskStats, _worker_stats, pool_name
from collectors.celery_tasks import TaskRecords

T0 = 1_764_000_000.0


def _event(kind: str, uuid: str, at: float, **fields: object) -> dict[str, object]:
    return {"type": kind, "uuid": uuid, "timestamp": at, "hostname": "w1@alpha", **fields}


def test_events_of_one_task_fold_into_one_record() -> None:
    records = TaskRecords()
    records.handle(_event("task-received", "a", T0, name="shop.pay", args="(1, 2)", kwargs="{}", retries=0))
    records.handle(_event("task-started", "a", T0 + 1))
    records.handle(_event("task-succeeded", "a", T0 + 3, runtime=2.0), name="shop.pay")
    (record,) = records.take()
    assert (record.task_id, record.name, record.state, record.worker) == (
        "a",
        "shop.pay",
        "SUCCESS",
        "w1@alpha",
    )
    assert record.args == "(1, 2)" and record.retries == 0 and record.runtime == 2.0
    assert record.received_at is not None and record.started_at is not None and record.finished_at is not None
    assert (record.finished_at - record.received_at).total_seconds() == 3
    assert record.updated_at == record.finished_at
    assert records.take() == []  # taken: the next window starts empty


def test_a_failure_keeps_its_exception_and_the_end_of_a_long_traceback() -> None:
    records = TaskRecords()
    traceback = "Traceback (most recent call last):\n" + "  frame\n" * 5_000 + "ValueError: boom\n"
    records.handle(_event("task-failed", "b", T0, exception="ValueError('boom')", traceback=traceback))
    (record,) = records.take()
    assert record.state == "FAILURE" and record.exception == "ValueError('boom')"
    assert record.name is None  # this window never saw its name: the store keeps the earlier one
    assert record.traceback is not None and len(record.traceback) <= 20_000
    assert record.traceback.startswith("…") and record.traceback.endswith("ValueError: boom\n")


def test_secrets_in_arguments_and_tracebacks_are_masked() -> None:
    records = TaskRecords()
    records.handle(
        _event(
            "task-received", "c", T0, name="x", args="('alice',)", kwargs="{'password': 'hunter2', 'n': 3}"
        )
    )
    records.handle(
        _event(
            "task-failed",
            "c",
            T0 + 1,
            exception="OperationalError('mysql://app:s3cret@db1/shop')",
            traceback="File x\nconnect('redis://:topsecret@cache:6379/0')\n",
        )
    )
    (record,) = records.take()
    assert record.kwargs == "{'password': '***', 'n': 3}"
    assert "s3cret" not in (record.exception or "") and "topsecret" not in (record.traceback or "")
    assert "mysql://app:***@db1/shop" in (record.exception or "")


def test_long_arguments_are_truncated() -> None:
    records = TaskRecords()
    records.handle(_event("task-received", "d", T0, name="x", args="(" + "7" * 5_000 + ",)"))
    (record,) = records.take()
    assert record.args is not None and len(record.args) == 1_000 and record.args.endswith("…")


def test_a_busy_window_keeps_failures_first_and_the_newest_rest() -> None:
    records = TaskRecords(limit=3)
    records.handle(_event("task-failed", "f", T0))
    for i in range(5):
        records.handle(_event("task-succeeded", f"s{i}", T0 + i))
    kept = {record.task_id for record in records.take()}
    assert kept == {"f", "s3", "s4"}


def test_unknown_events_and_events_without_an_id_are_ignored() -> None:
    records = TaskRecords()
    records.handle({"type": "worker-heartbeat", "hostname": "w1"})
    records.handle({"type": "task-succeeded"})
    assert records.take() == []


def test_task_stats_hand_their_events_to_the_records_with_remembered_names() -> None:
    names: OrderedDict[str, str] = OrderedDict()
    first = TaskStats(names)
    first.handle(_event("task-received", "e", T0, name="shop.mail"))
    second = TaskStats(names)  # the next window: the name is remembered
    second.handle(_event("task-failed", "e", T0 + 1, exception="E()"))
    (record,) = second.tasks.take()
    assert record.name == "shop.mail" and record.state == "FAILURE"
    assert second.failed["shop.mail"] == 1


def test_worker_stats_become_pool_uptime_and_processed_readings() -> None:
    stats = {
        "pool": {"implementation": "celery.concurrency.prefork:TaskPool", "max-concurrency": 4},
        "uptime": 125,
        "total": {"shop.mail": 10, "shop.pay": 3},
    }
    readings = {r.metric: r for r in _worker_stats("b", "w1@alpha", stats)}
    assert readings["celery.worker.concurrency"].value == 4
    assert readings["celery.worker.concurrency"].labels == {
        "broker": "b",
        "worker": "w1@alpha",
        "pool": "prefork",
    }
    assert readings["celery.worker.uptime_seconds"].value == 125
    assert readings["celery.worker.processed_total"].value == 13
    assert _worker_stats("b", "w", {}) == []  # an old worker's reply without these fields
    assert pool_name("celery.concurrency.solo:TaskPool") == "solo"
    assert pool_name("celery.concurrency.thread:TaskPool") == "thread"
