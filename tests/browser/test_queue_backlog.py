"""The Queue page sees a backlog with no worker running, on a real RabbitMQ and a real Redis broker: the
embedded scheduler reads queue depths from the broker itself, so messages nobody consumes show."""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from celery import Celery
from kombu import Connection

import storage
from app import create_app
from storage.users import create_user
from tests.browser.conftest import PASSWORD, USERS, login, pattern_id, wait_until
from tests.support import claim_redis_db, unavailable

RABBIT_URL = os.environ.get("VITALS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
WAITING = 12


@pytest.fixture(params=["rabbitmq", "redis"])
def broker(request: pytest.FixtureRequest) -> Iterator[str]:
    if request.param == "redis":
        yield from claim_redis_db([14, 15], "the Queue backlog test needs a Redis broker")
        return
    try:
        with Connection(RABBIT_URL, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        unavailable(f"RabbitMQ not reachable at {RABBIT_URL}: {exc}")
    yield RABBIT_URL


def _queue_values(dash_duo: object, queue: str) -> list[float]:
    """The values of the queue-length chart's trace for ``queue``, as drawn in the page."""
    values: list[float] = dash_duo.driver.execute_script(  # type: ignore[attr-defined]
        "const el = document.getElementById(arguments[0]);"
        "const plot = el && el.querySelector('.js-plotly-plot');"
        "const trace = plot && plot.data ? plot.data.find(t => (t.name || '').endsWith(arguments[1])) : null;"
        "return trace ? Array.from(trace.y).filter(v => v !== null) : [];",
        pattern_id(chart="queue-length", type="live-chart"),
        queue,
    )
    return values


def test_a_backlog_with_no_worker_shows_on_the_queue_page(
    dash_duo, broker: str, tmp_path: Path, make_store: Callable[..., storage.Store]
) -> None:
    queue = f"vitals_backlog_{uuid.uuid4().hex[:8]}"
    client = Celery(broker=broker, set_as_current=False)
    try:
        for i in range(WAITING):  # declared by the first publish; nobody consumes it
            client.send_task("shop.send_invoice", args=(i,), queue=queue)
        store = make_store("sqlite")
        for username, role in USERS.items():
            create_user(store.engine, username, PASSWORD, role)
        settings = storage.load_settings(
            data_dir=tmp_path,
            secret_key="browser-test-secret-key-0123456789",
            celery_broker_urls=[broker],
            celery_queues=[queue],
            celery_interval_seconds=2,
        )
        app = create_app(settings, store, run_scheduler=True)
        try:
            dash_duo.start_server(app, navigate=False)
            login(dash_duo, "vera")
            dash_duo.driver.get(dash_duo.server.url + "/queue")
            dash_duo.wait_for_contains_text("#queue-brokers", "0 workers online", timeout=30)
            wait_until(lambda: WAITING in _queue_values(dash_duo, queue), 30, f"{WAITING} waiting in {queue}")
            assert dash_duo.get_logs() == []
        finally:
            app.server.extensions["vitals"].scheduler.stop()
    finally:
        client.close()
        if broker.startswith("amqp"):
            with Connection(broker) as conn:
                conn.default_channel.queue_delete(queue)
