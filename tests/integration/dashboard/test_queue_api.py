"""The Queue section over HTTP: recent tasks under /api/queue, and task counts as Prometheus counters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
from prometheus_client.parser import text_string_to_metric_families

import storage
from app import create_app
from storage import queue
from storage.tokens import create_token
from storage.users import create_user

BROKER = "mq:5672//"


@pytest.fixture
def app(store: storage.Store, tmp_path: Path):
    create_user(store.engine, "vera", "correct-horse-battery", "viewer")
    settings = storage.load_settings(data_dir=tmp_path, secret_key="queue-api-test-secret-key-0123456789")
    return create_app(settings, store, run_scheduler=False)


@pytest.fixture
def client(app, store: storage.Store):
    token = create_token(store.engine, "ci", "vera", "viewer")[1]
    test_client = app.server.test_client()
    test_client.environ_base["HTTP_AUTHORIZATION"] = f"Bearer {token}"
    return test_client


def _seed_tasks(store: storage.Store) -> None:
    at = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=5)
    queue.record_tasks(
        store.engine,
        BROKER,
        [
            {"task_id": "ok1", "state": "SUCCESS", "updated_at": at, "name": "shop.pay", "runtime": 0.25,
             "worker": "w1@a", "args": "(1,)", "kwargs": "{}", "finished_at": at},
            {"task_id": "bad1", "state": "FAILURE", "updated_at": at + timedelta(seconds=1), "name": "shop.pay",
             "exception": "ValueError('no')", "traceback": "Traceback...\nValueError: no"},
        ],
    )  # fmt: skip


def test_recent_tasks_and_one_task(client, store: storage.Store) -> None:
    _seed_tasks(store)
    body = client.get("/api/queue/tasks").get_json()
    assert [task["task_id"] for task in body["tasks"]] == ["bad1", "ok1"]
    ok = body["tasks"][1]
    assert ok["runtime"] == 0.25 and ok["args"] == "(1,)" and ok["finished_at"].endswith("Z")
    assert ok["received_at"] is None and "traceback" not in ok
    failed = client.get("/api/queue/tasks?state=failed&broker=mq:5672//").get_json()["tasks"]
    assert [task["task_id"] for task in failed] == ["bad1"]
    one = client.get("/api/queue/task?broker=mq:5672//&task_id=bad1").get_json()
    assert one["traceback"].endswith("ValueError: no") and one["exception"] == "ValueError('no')"


# One app for every case (building an app per case cost a second each).
BAD_QUERIES = [
    ("/api/queue/tasks?state=exploded", "state", 400),
    ("/api/queue/tasks?since=yesterday-ish", "since", 400),
    ("/api/queue/tasks?limit=0", "limit", 400),
    ("/api/queue/tasks?colour=red", "colour", 400),
    ("/api/queue/task?broker=mq:5672//", "task_id", 400),
    ("/api/queue/task?broker=mq:5672//&task_id=nope", "task_id", 404),
]


def test_bad_queries_name_their_parameter(client) -> None:
    for query, parameter, status in BAD_QUERIES:
        response = client.get(query)
        assert response.status_code == status, (query, response.get_data(as_text=True))
        assert response.get_json()["parameter"] == parameter, query


def test_task_counts_are_prometheus_counters(client, store: storage.Store) -> None:
    now = pd.Timestamp.now(tz="UTC") - pd.Timedelta(seconds=2)
    labels = {"broker": BROKER, "task": "shop.pay"}
    store.write(
        pd.DataFrame(
            {
                "ts": now,
                "metric": ["celery.task.failed", "celery.task.failed_total", "celery.worker.processed_total"],
                "host": BROKER,
                "labels": [labels, labels, {"broker": BROKER, "worker": "w1@a"}],
                "value": [2.0, 17.0, 120.0],
            }
        )
    )
    text = client.get("/metrics").get_data(as_text=True)
    families = {
        family.name: family for family in text_string_to_metric_families(text)
    }  # parses: no duplicates
    failed = families["vitals_celery_task_failed"]
    assert failed.type == "counter"
    assert [(s.name, s.value) for s in failed.samples] == [("vitals_celery_task_failed_total", 17.0)]
    assert "# TYPE vitals_celery_task_failed gauge" not in text  # the per-interval twin is left out
    assert families["vitals_celery_worker_processed"].type == "counter"
    assert families["vitals_celery_worker_processed"].samples[0].value == 120.0
