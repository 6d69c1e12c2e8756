"""The Queue page in headless Chromium: seeded Celery metrics render as a worker table, charts and the
recent tasks with a failure's traceback."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from functools import partial

import pandas as pd

import storage
from storage import queue
from tests.browser.conftest import click_centered, has_points, login, trace_lengths, wait_until

BROKER = "127.0.0.1:6379/12"


def _seed_celery(store: storage.Store) -> None:
    """Ten minutes of what the Celery job writes, every 10 s: two workers, two queues, two tasks."""
    now = pd.Timestamp.now(tz="UTC").floor("s")
    stamps = pd.date_range(now - pd.Timedelta("10min"), now - pd.Timedelta("2s"), freq="10s")
    rows = []
    for i, ts in enumerate(stamps):

        def add(metric: str, value: float, ts: pd.Timestamp = ts, **labels: str) -> None:
            rows.append(
                {
                    "ts": ts,
                    "metric": metric,
                    "host": BROKER,
                    "labels": {"broker": BROKER, **labels},
                    "value": value,
                }
            )

        add("celery.broker.up", 1)
        add("celery.workers.online", 2)
        for worker, active in (("w1@alpha", 1 + i % 2), ("w2@beta", 0)):
            add("celery.worker.up", 1, worker=worker)
            add("celery.worker.active", active, worker=worker)
            add("celery.worker.reserved", 3, worker=worker)
            add("celery.worker.scheduled", 0, worker=worker)
            add("celery.worker.concurrency", 4, worker=worker, pool="prefork")
            add("celery.worker.uptime_seconds", 3_600 + 10 * i, worker=worker)
            add("celery.worker.processed_total", 100 + 5 * i, worker=worker)
        add("celery.queue.length", 10 + i % 5, queue="celery")
        add("celery.queue.length", i % 3, queue="collect")
        for task, done, failed in (("app.send_mail", 12 + i % 4, i % 2), ("app.resize", 3, 0)):
            add("celery.task.succeeded", done, task=task)
            add("celery.task.failed", failed, task=task)
            add("celery.task.retried", 0, task=task)
            add("celery.task.runtime_seconds", 0.2 + (i % 3) / 10, task=task)
            add("celery.task.runtime_max_seconds", 0.9, task=task)
    store.write(pd.DataFrame(rows))
    # Task events came only from w1@alpha: w2@beta runs tasks (its processed count grows) without -E.
    at = datetime.now(UTC).replace(tzinfo=None) - timedelta(minutes=2)
    queue.record_tasks(
        store.engine,
        BROKER,
        [
            {"task_id": f"ok{i}", "state": "SUCCESS", "updated_at": at + timedelta(seconds=i), "name": "app.send_mail",
             "worker": "w1@alpha", "args": f"({i},)", "kwargs": "{'password': '***'}", "runtime": 0.2}
            for i in range(3)
        ]
        + [
            {"task_id": "bad1", "state": "FAILURE", "updated_at": at + timedelta(seconds=10), "name": "app.resize",
             "worker": "w1@alpha", "args": "('cat.png',)", "exception": "OSError('disk full')",
             "traceback": "Traceback (most recent call last):\n  File \"resize.py\", line 3\nOSError: disk full"}
        ],
    )  # fmt: skip


def test_queue_page_shows_workers_and_charts(dash_duo, vitals_app):
    _seed_celery(vitals_app.server.extensions["vitals"].store)
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "vera")
    dash_duo.find_element("a.nav-link[href='/queue']").click()
    dash_duo.wait_for_text_to_equal("h1.page-title", "Queue", timeout=10)

    dash_duo.wait_for_contains_text("#queue-workers", "w1@alpha", timeout=10)
    table = dash_duo.find_element("#queue-workers").text
    assert "w2@beta" in table and "online" in table and "offline" not in table
    assert "Active" in table and "Reserved" in table and "Scheduled" in table
    assert f"{BROKER}: 2 workers online" in dash_duo.find_element("#queue-brokers").text
    for chart in ("queue-length", "queue-succeeded", "queue-failed", "queue-runtime"):
        wait_until(partial(has_points, dash_duo, chart, 10), 15, f"points in {chart}")
    assert len(trace_lengths(dash_duo, "queue-length")) == 2  # one line per queue
    assert "prefork, 4" in table and "1h 09m" in table and "395" in table  # pool, uptime, processed
    rows = {row.text.split()[1]: row.text for row in dash_duo.find_elements("#queue-workers tbody tr")}
    assert rows["w2@beta"].endswith("none: start it with -E") and rows["w1@alpha"].endswith("sent")
    assert dash_duo.get_logs() == []


def test_recent_tasks_show_a_failure_and_its_traceback(dash_duo, vitals_app):
    _seed_celery(vitals_app.server.extensions["vitals"].store)
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "vera")
    dash_duo.driver.get(dash_duo.server.url + "/queue")
    dash_duo.wait_for_contains_text("#queue-tasks", "app.resize", timeout=10)
    grid = dash_duo.find_element("#queue-tasks").text
    assert "FAILURE" in grid and "OSError('disk full')" in grid and "app.send_mail" in grid
    assert "password': '***'" in grid  # masked at collection, shown as stored

    click_centered(dash_duo, f"#queue-tasks .ag-row[row-id='{BROKER} bad1'] [col-id='name']")
    dash_duo.wait_for_contains_text("#queue-task-detail", "OSError: disk full", timeout=10)
    detail = dash_duo.find_element("#queue-task-detail").text
    assert "bad1" in detail and "('cat.png',)" in detail and 'File "resize.py"' in detail

    # A state filter keeps only the failures; a refresh tick keeps the selection and its detail.
    dropdown = dash_duo.find_element("#queue-tasks-state")
    dash_duo.driver.execute_script("arguments[0].scrollIntoView({block: 'center'})", dropdown)
    time.sleep(0.5)  # Bootstrap scrolls smoothly
    dash_duo.select_dcc_dropdown("#queue-tasks-state", "Failed or retried")
    wait_until(lambda: "app.send_mail" not in dash_duo.find_element("#queue-tasks").text, 10, "only failures")
    assert "OSError: disk full" in dash_duo.find_element("#queue-task-detail").text
    assert dash_duo.get_logs() == []


def test_queue_page_says_what_to_configure_when_nothing_was_collected(dash_duo, vitals_app):
    dash_duo.start_server(vitals_app, navigate=False)
    login(dash_duo, "vera")
    dash_duo.driver.get(dash_duo.server.url + "/queue")
    dash_duo.wait_for_contains_text("#queue-empty", "No Celery app is configured", timeout=10)
    text = dash_duo.find_element("#queue-empty").text
    assert "VITALS_CELERY_BROKER_URLS" in text and "VITALS_BROKER_URL" in text
    assert not dash_duo.find_element("#queue-charts").is_displayed()
    assert dash_duo.get_logs() == []
