"""The Queue page in headless Chromium: seeded Celery metrics render as a worker table and charts."""

from __future__ import annotations

from functools import partial

import pandas as pd

import storage
from tests.browser.conftest import has_points, login, trace_lengths, wait_until

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
        add("celery.queue.length", 10 + i % 5, queue="celery")
        add("celery.queue.length", i % 3, queue="collect")
        for task, done, failed in (("app.send_mail", 12 + i % 4, i % 2), ("app.resize", 3, 0)):
            add("celery.task.succeeded", done, task=task)
            add("celery.task.failed", failed, task=task)
            add("celery.task.retried", 0, task=task)
            add("celery.task.runtime_seconds", 0.2 + (i % 3) / 10, task=task)
            add("celery.task.runtime_max_seconds", 0.9, task=task)
    store.write(pd.DataFrame(rows))


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
