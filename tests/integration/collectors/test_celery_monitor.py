"""The Celery collector against real brokers and a real worker, and its job writing to a real store.

Redis databases 12 (worker + events) and 13 (a backlog without workers) are claimed with the same
key ``test_celery_worker.py`` uses, so concurrent runs never share them. RabbitMQ gets queues named
``vitals_test_*`` on the default vhost, deleted afterwards.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import amqp
import pandas as pd
import pytest
from celery import Celery
from kombu import Connection, Exchange, Producer, Queue
from kombu.exceptions import ChannelError

import storage
from collectors.celery_monitor import (
    CeleryMonitor,
    CelerySnapshot,
    TaskStats,
    _is_task_queue,
    _listed_queues,
    _management_url,
    broker_name,
)
from tasks.celery_jobs import (
    TaskTotals,
    _monitors,
    beat_age_seconds,
    beat_heartbeat,
    collect_celery,
    event_queue_name,
    job_specs,
    monitored_brokers,
)
from tasks.context import JobContext
from tests.support import PROJECT_ROOT, claim_redis_db, free_port, unavailable

REDIS_HOST, REDIS_PORT = "127.0.0.1", 6379
WORKER_DB, BACKLOG_DB = 12, 13
RABBIT_URL = os.environ.get("VITALS_TEST_AMQP_URL", "amqp://guest:guest@127.0.0.1:5672//")
BOOT_TIMEOUT_SECONDS = 20

# The monitored app: one task that succeeds, one that fails, one that retries once, then succeeds.
MONITORED_APP = textwrap.dedent(
    """
    import time
    from celery import Celery

    app = Celery("vt", broker="{broker}")
    app.conf.update(worker_send_task_events=True, task_send_sent_event=True, broker_connection_retry_on_startup=True)

    @app.task(name="vt.add")
    def add(x, y):
        time.sleep(0.05)
        return x + y

    @app.task(name="vt.fail")
    def fail():
        raise ValueError("this task fails on purpose")

    @app.task(name="vt.login")
    def login(user, password=None):
        raise ConnectionError(f"cannot reach redis://:{{password}}@cache:6379/0 as {{user}}")

    @app.task(name="vt.flaky", bind=True, max_retries=3)
    def flaky(self):
        if self.request.retries < 1:
            raise self.retry(countdown=0.1)
        return "ok"
    """
)


@pytest.fixture(scope="module")
def worker_broker() -> Iterator[str]:
    yield from claim_redis_db([WORKER_DB], "the Celery monitor tests need a real broker")


@pytest.fixture
def backlog_broker() -> Iterator[str]:
    yield from claim_redis_db([BACKLOG_DB], "the Celery monitor tests need a real broker")


@pytest.fixture(scope="module")
def monitored_worker(worker_broker: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A real Celery worker (solo pool, events on) of the small app above; yields its broker URL."""
    directory = tmp_path_factory.mktemp("monitored")
    (directory / "vt_app.py").write_text(MONITORED_APP.format(broker=worker_broker))
    log_path = directory / "worker.log"
    env = {key: value for key, value in os.environ.items() if not key.startswith("VITALS_")}
    command = [sys.executable, "-m", "celery", "-A", "vt_app", "worker", "-E", "--pool", "solo"]
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [*command, "--loglevel", "INFO", "--hostname", "vt@%h"],
            cwd=directory,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + BOOT_TIMEOUT_SECONDS
        while " ready." not in log_path.read_text(errors="replace"):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"monitored worker did not start:\n{log_path.read_text(errors='replace')}")
            time.sleep(0.2)
        yield worker_broker
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)


def _send_mixed_tasks(broker: str, delay: float) -> threading.Thread:
    """After ``delay`` s (the listener is subscribed by then): 3 adds, 1 failure, 1 retry-then-success."""

    def send() -> None:
        time.sleep(delay)
        client = Celery(broker=broker, set_as_current=False)
        try:
            for i in range(3):
                client.send_task("vt.add", args=(i, 1))
            client.send_task("vt.fail")
            client.send_task("vt.flaky")
        finally:
            client.close()

    thread = threading.Thread(target=send, daemon=True)
    thread.start()
    return thread


def _total(store: storage.Store, metric: str, task: str) -> float:
    frame = store.metrics(metric, since="10m", every="1h", agg="sum", labels={"task": task})
    return float(frame["sum"].sum())


def _value(snapshot: CelerySnapshot, metric: str, **labels: str) -> float | None:
    for reading in snapshot.readings:
        if reading.metric == metric and all(reading.labels.get(k) == v for k, v in labels.items()):
            return reading.value
    return None


def test_worker_events_become_task_counts_and_runtimes(
    monitored_worker: str, store: storage.Store, tmp_path: Path
) -> None:
    monitor = CeleryMonitor(monitored_worker, capture_seconds=4.0, timeout=0.5)
    try:
        sender = _send_mixed_tasks(monitored_worker, delay=0.8)
        written = collect_celery(store, [monitor], tmp_path / "spool")
        sender.join()
    finally:
        monitor.close()
    assert written > 0
    assert _total(store, "celery.task.succeeded", "vt.add") == 3
    assert _total(store, "celery.task.failed", "vt.fail") == 1
    assert _total(store, "celery.task.retried", "vt.flaky") == 1
    assert _total(store, "celery.task.succeeded", "vt.flaky") == 1
    assert _total(store, "celery.task.failed", "vt.add") == 0  # a real zero, not a gap
    runtime = store.latest("celery.task.runtime_seconds", max_age="5m")
    add = runtime[runtime["labels"].map(lambda labels: labels.get("task") == "vt.add")]
    assert 0.05 <= add["value"].iloc[0] < 2
    longest = store.latest("celery.task.runtime_max_seconds", max_age="5m")
    assert longest["value"].max() >= add["value"].iloc[0]
    online = store.latest("celery.workers.online", max_age="5m")
    assert online["value"].tolist() == [1.0]
    assert online["labels"].iloc[0] == {"broker": broker_name(monitored_worker)}
    up = store.latest("celery.worker.up", max_age="5m")
    assert up["labels"].iloc[0]["worker"].startswith("vt@")
    assert not store.latest("celery.worker.active", max_age="5m").empty


def test_recent_tasks_worker_stats_and_running_totals(
    monitored_worker: str, store: storage.Store, tmp_path: Path
) -> None:
    """One collection of real events: a row per task (failure with its traceback, secrets masked), the
    worker's pool and processed total, and running totals that a second process continues."""
    broker = broker_name(monitored_worker)
    monitor = CeleryMonitor(monitored_worker, capture_seconds=4.0, timeout=0.5)
    try:

        def send() -> None:
            time.sleep(0.8)
            client = Celery(broker=monitored_worker, set_as_current=False)
            client.send_task("vt.add", args=(40, 2))
            client.send_task("vt.login", args=("alice",), kwargs={"password": "hunter2"})
            client.close()

        sender = threading.Thread(target=send, daemon=True)
        sender.start()
        collect_celery(store, [monitor], tmp_path / "spool", TaskTotals())
        sender.join()
        first = _latest_total(store, "celery.task.succeeded_total", "vt.add")
        _send_mixed_tasks(monitored_worker, delay=0.8)  # three more adds
        collect_celery(store, [monitor], tmp_path / "spool", TaskTotals())  # a new process: no memory
    finally:
        monitor.close()
    tasks = store.queue.tasks(broker=broker)
    login = tasks[tasks["name"] == "vt.login"].iloc[0]
    assert login["state"] == "FAILURE" and login["worker"].startswith("vt@")
    assert login["args"] == "('alice',)" and login["kwargs"] == "{'password': '***'}"
    assert "hunter2" not in login["exception"] and "ConnectionError" in login["exception"]
    detail = store.queue.task(broker=broker, task_id=login["task_id"])
    assert detail is not None and "raise ConnectionError" in detail["traceback"]
    assert "hunter2" not in detail["traceback"]
    add = tasks[(tasks["name"] == "vt.add") & (tasks["args"] == "(40, 2)")].iloc[0]
    assert add["state"] == "SUCCESS" and 0.05 <= add["runtime"] < 2
    assert add["received_at"] <= add["started_at"] <= add["finished_at"]
    assert first == 1 and _latest_total(store, "celery.task.succeeded_total", "vt.add") == 4
    assert _latest_total(store, "celery.task.failed_total", "vt.login") == 1
    pool = store.latest("celery.worker.concurrency", max_age="5m")
    assert pool["labels"].iloc[0]["pool"] == "solo" and pool["value"].iloc[0] == 1
    assert store.latest("celery.worker.uptime_seconds", max_age="5m")["value"].iloc[0] > 0
    assert store.latest("celery.worker.processed_total", max_age="5m")["value"].iloc[0] >= 2


def _latest_total(store: storage.Store, metric: str, task: str) -> float:
    frame = store.latest(metric, max_age="5m")
    return float(frame[frame["labels"].map(lambda labels: labels.get("task") == task)]["value"].iloc[0])


def test_continuous_listener_counts_between_collections(monitored_worker: str) -> None:
    monitor = CeleryMonitor(monitored_worker, capture_seconds=1.0, timeout=0.5)
    try:
        monitor.listen()
        time.sleep(0.5)  # subscribed
        _send_mixed_tasks(monitored_worker, delay=0).join()
        deadline, total = time.monotonic() + 10, 0.0
        succeeded: dict[str, float] = {}
        while time.monotonic() < deadline and succeeded.get("vt.add", 0) < 3:
            snapshot = monitor.collect()
            for reading in snapshot.readings:
                if reading.metric == "celery.task.succeeded":
                    task = reading.labels["task"]
                    succeeded[task] = succeeded.get(task, 0) + reading.value
                    total += reading.value
    finally:
        monitor.close()
    assert succeeded.get("vt.add") == 3


def test_redis_queue_length_without_workers(
    backlog_broker: str, store: storage.Store, tmp_path: Path
) -> None:
    queue = f"vitals_test_backlog_{uuid.uuid4().hex[:6]}"
    client = Celery(broker=backlog_broker, set_as_current=False)
    try:
        for i in range(7):
            client.send_task("vt.add", args=(i, i), queue=queue)
    finally:
        client.close()
    monitor = CeleryMonitor(backlog_broker, capture_seconds=0.2, timeout=0.5)  # finds the queue itself
    try:
        collect_celery(store, [monitor], tmp_path / "spool")
    finally:
        monitor.close()
    lengths = store.latest("celery.queue.length", max_age="5m")
    by_queue = {
        labels["queue"]: value for labels, value in zip(lengths["labels"], lengths["value"], strict=True)
    }
    assert by_queue[queue] == 7
    assert by_queue["celery"] == 0
    assert store.latest("celery.workers.online", max_age="5m")["value"].tolist() == [0.0]
    assert store.latest("celery.broker.up", max_age="5m")["value"].tolist() == [1.0]


@pytest.fixture
def rabbit_url() -> str:
    try:
        with Connection(RABBIT_URL, connect_timeout=3) as conn:
            conn.ensure_connection(max_retries=1)
    except Exception as exc:
        unavailable(f"RabbitMQ not reachable at {broker_name(RABBIT_URL)}: {exc}")
    return RABBIT_URL


def test_rabbitmq_queue_length(rabbit_url: str) -> None:
    name = f"vitals_test_{uuid.uuid4().hex[:8]}"
    queue = Queue(name, Exchange(name, type="direct"), routing_key=name, durable=False)
    with Connection(rabbit_url) as conn:
        channel = conn.channel()
        try:
            producer = Producer(channel, exchange=queue.exchange, routing_key=name)
            queue(channel).declare()
            for i in range(5):
                producer.publish({"n": i}, declare=[queue])
            monitor = CeleryMonitor(
                rabbit_url, capture_seconds=0.5, timeout=0.5, queues=[name], event_queue=f"{name}.events"
            )
            try:
                snapshot = monitor.collect()
            finally:
                monitor.close()
        finally:
            channel.queue_delete(name)
            channel.queue_delete(f"{name}.events")
            channel.exchange_delete(name)
            channel.close()
    assert snapshot.problems == []
    assert _value(snapshot, "celery.queue.length", queue=name) == 5
    assert _value(snapshot, "celery.broker.up") == 1
    assert _value(snapshot, "celery.queue.length", queue="no-such-queue") is None


@pytest.mark.parametrize("url", ["redis://127.0.0.1:1/0", "amqp://guest:guest@127.0.0.1:1//"])
def test_down_broker_is_an_error_record_not_an_exception(
    url: str, store: storage.Store, tmp_path: Path
) -> None:
    monitor = CeleryMonitor(url, capture_seconds=0.2, timeout=0.5)
    started = time.monotonic()
    try:
        snapshot = monitor.collect()
        collect_celery(store, [monitor], tmp_path / "spool")
    finally:
        monitor.close()
    assert time.monotonic() - started < 10
    assert [error.stage for error in snapshot.problems] == ["connect"]
    assert str(snapshot.problems[0]).startswith("celery broker 127.0.0.1:1/")
    assert "cannot reach" in snapshot.problems[0].message
    assert "guest" not in str(snapshot.problems[0])  # never the credentials
    assert [reading.metric for reading in snapshot.readings] == ["celery.broker.up"]
    assert store.latest("celery.broker.up", max_age="5m")["value"].tolist() == [0.0]


def test_beat_heartbeat_age(store: storage.Store, tmp_path: Path) -> None:
    assert beat_age_seconds(store) is None  # never beaten: no age, not "fresh"
    beat_heartbeat(store, tmp_path / "spool")
    age = beat_age_seconds(store)
    assert age is not None and 0 <= age < 10
    older = pd.Timestamp.now(tz="UTC") - pd.Timedelta("2h")
    store.write(
        pd.DataFrame({"ts": [older], "metric": ["vitals.beat.heartbeat"], "value": [1.0], "host": ["b"]})
    )
    assert beat_age_seconds(store) == pytest.approx(age, abs=5)  # the newest of any host counts


def test_task_stats_names_failures_from_earlier_events() -> None:
    stats = TaskStats()
    stats.handle({"type": "task-received", "uuid": "a", "name": "x.slow"})
    later = TaskStats(stats.names)  # the next window, same memory of names
    later.handle({"type": "task-failed", "uuid": "a"})
    later.handle({"type": "task-retried", "uuid": "b"})
    later.handle({"type": "task-succeeded", "uuid": "c", "runtime": 0.5})
    assert later.failed == {"x.slow": 1}
    assert later.retried == {"unknown": 1}
    values = {(r.metric, r.labels["task"]): r.value for r in later.readings("b", known=["x.quiet"])}
    assert values[("celery.task.succeeded", "x.quiet")] == 0
    assert values[("celery.task.runtime_seconds", "unknown")] == 0.5


def test_job_specs_follow_the_settings() -> None:
    nothing = storage.load_settings(broker_url=None, celery_broker_urls=[])
    assert monitored_brokers(nothing) == []
    assert [spec.name for spec in job_specs(nothing)] == ["vitals.beat_heartbeat"]
    own = storage.load_settings(broker_url="redis://127.0.0.1:6379/0")
    assert monitored_brokers(own) == ["redis://127.0.0.1:6379/0"]
    assert "vitals.collect_celery" in [spec.name for spec in job_specs(own)]
    others = storage.load_settings(broker_url="redis://a/0", celery_broker_urls="amqp://b//,redis://c/1")
    assert monitored_brokers(others) == ["amqp://b//", "redis://c/1"]
    assert broker_name("amqp://user:secret@rabbit.internal:5672/prod") == "rabbit.internal:5672/prod"


def test_vitals_celery_app_is_configured_for_robustness() -> None:
    from tasks.celery_app import celery_app, queue_for, time_limits

    conf = celery_app.conf
    assert conf.worker_send_task_events is True and conf.task_send_sent_event is True
    assert conf.task_acks_late is True and conf.task_reject_on_worker_lost is True
    assert {queue.name for queue in conf.task_queues} == {"celery", "collect", "maintenance"}
    assert queue_for("vitals.collect_system") == "collect"
    assert queue_for("vitals.enforce_retention") == "maintenance"
    task = celery_app.tasks["vitals.collect_system"]
    assert task.acks_late and task.max_retries == 3 and task.retry_backoff and task.retry_jitter
    assert task.soft_time_limit < task.time_limit
    soft, hard = time_limits(3600)
    assert soft <= 1800 < hard
    schedule = conf.beat_schedule["vitals.maintain_rollups"]
    assert schedule["options"]["queue"] == "maintenance"


def test_overlapping_windows_on_redis_never_count_twice(monitored_worker: str) -> None:
    first = CeleryMonitor(monitored_worker, capture_seconds=2.0, timeout=0.5)
    second = CeleryMonitor(monitored_worker, capture_seconds=2.0, timeout=0.5)
    try:
        earlier = threading.Thread(target=first.collect, daemon=True)
        earlier.start()
        time.sleep(0.2)  # the first window holds the capture lock now
        snapshot = second.collect()
        earlier.join()
    finally:
        first.close()
        second.close()
    overlaps = [error for error in snapshot.problems if error.stage == "events"]
    assert len(overlaps) == 1 and "counted twice" in overlaps[0].message
    assert not [reading for reading in snapshot.readings if reading.metric.startswith("celery.task.")]


def test_embedded_job_listens_between_runs(monitored_worker: str, make_store, tmp_path: Path) -> None:
    """Without a broker of its own (embedded mode) the job keeps a listener; each run stays short."""
    store = make_store("sqlite")
    settings = storage.load_settings(
        data_dir=tmp_path, broker_url=None, celery_broker_urls=[monitored_worker]
    )
    spec = next(spec for spec in job_specs(settings) if spec.name == "vitals.collect_celery")
    context = JobContext(store=store)
    try:
        spec.body(context)  # starts the listener
        _send_mixed_tasks(monitored_worker, delay=0.3).join()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and _count(store, "vt.add") < 3:
            started = time.monotonic()
            spec.body(context)
            assert time.monotonic() - started < 3  # ping + inspect, no event window
            time.sleep(0.3)
    finally:
        for kept in context.state.values():
            if isinstance(kept, CeleryMonitor):  # the job also keeps its task totals there
                kept.close()
    assert _count(store, "vt.add") == 3


def _count(store: storage.Store, task: str) -> float:
    if store.list_series(metric="celery.task.succeeded").empty:
        return 0.0
    return _total(store, "celery.task.succeeded", task)


def test_vitals_worker_collects_its_own_celery_app(backlog_broker: str, tmp_path: Path) -> None:
    """A real `vitals worker` (events on, routed queues) runs the Celery job against its own broker."""
    from tests.integration.tasks.test_celery_worker import start, vitals_command

    store_url = f"sqlite:///{tmp_path / 'vitals.db'}"
    storage.connect(store_url).close()
    env = {key: value for key, value in os.environ.items() if not key.startswith("VITALS_")}
    env |= {
        "PYTHONPATH": str(PROJECT_ROOT),
        "VITALS_BROKER_URL": backlog_broker,
        "VITALS_DATABASE_URL": store_url,
        "VITALS_DATA_DIR": str(tmp_path),
        "VITALS_CELERY_INTERVAL_SECONDS": "4",  # a 2.5 s event window
    }
    worker = start(vitals_command("worker", "--concurrency", "2"), env, tmp_path / "worker.log")
    client = Celery(broker=backlog_broker, set_as_current=False)
    store = storage.connect(store_url, migrate=False)
    try:
        worker.wait_for_log(" ready.", BOOT_TIMEOUT_SECONDS)
        client.send_task("vitals.collect_celery", queue="collect")
        time.sleep(1.0)  # the job is listening by now; these two run on the other pool process
        for _ in range(2):
            client.send_task("vitals.collect_system", queue="collect")
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline and store.list_series(metric="celery.task.succeeded").empty:
            time.sleep(0.3)
        assert store.latest("celery.workers.online", max_age="5m")["value"].tolist() == [1.0], worker.log()
        queues = {labels["queue"] for labels in store.latest("celery.queue.length", max_age="5m")["labels"]}
        assert {"celery", "collect", "maintenance"} <= queues
        assert _total(store, "celery.task.succeeded", "vitals.collect_system") == 2, worker.log()
    finally:
        client.close()
        store.close()
        worker.stop()
    assert "Traceback" not in worker.log()


def test_ten_collections_open_one_amqp_connection(rabbit_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Counted at py-amqp's connect (the real one still runs): reads, control pings and the event drain
    all share the monitor's one connection."""
    opened: list[str] = []
    real_connect = amqp.Connection.connect

    def counting_connect(self: amqp.Connection, *args: object, **kwargs: object) -> object:
        opened.append(str(self.host))
        return real_connect(self, *args, **kwargs)

    monkeypatch.setattr(amqp.Connection, "connect", counting_connect)
    name = f"vitals_test_{uuid.uuid4().hex[:8]}"
    monitor = CeleryMonitor(rabbit_url, capture_seconds=0.3, timeout=0.3, event_queue=f"{name}.events")
    try:
        snapshots = [monitor.collect() for _ in range(10)]
    finally:
        monitor.close(forget=True)
    assert all(snapshot.problems == [] for snapshot in snapshots), snapshots[-1].problems
    assert len(opened) == 1, opened


def _management_api(rabbit_url: str) -> None:
    """Switch RabbitMQ's management plugin on (a no-op when it is) and wait until its API answers."""
    if shutil.which("rabbitmq-plugins") is None:
        unavailable("rabbitmq-plugins is not installed: the management API test needs it")
    subprocess.run(["rabbitmq-plugins", "enable", "rabbitmq_management"], check=True, capture_output=True)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            _listed_queues(_management_url(rabbit_url), 1.0)
            return
        except OSError:
            time.sleep(0.5)
    pytest.fail("RabbitMQ's management API did not answer on port 15672")


def test_rabbitmq_queues_no_one_named_are_listed_by_the_management_api(rabbit_url: str) -> None:
    """A queue no worker consumes and no setting names shows with its backlog, from the API's list."""
    _management_api(rabbit_url)
    queue = f"vitals_test_{uuid.uuid4().hex[:8]}"
    with Connection(rabbit_url) as conn:
        bound = Queue(queue, Exchange(queue), routing_key=queue, durable=False)
        producer = Producer(conn.default_channel, exchange=bound.exchange, routing_key=queue)
        bound(conn.default_channel).declare()
        for i in range(5):
            producer.publish({"n": i})
    monitor = CeleryMonitor(rabbit_url, capture_seconds=0.3, timeout=1.0, event_queue=f"{queue}.events")
    try:
        deadline, length = time.monotonic() + 15, None
        while time.monotonic() < deadline and length != 5:  # the API's list lags a few seconds
            length = _value(monitor.collect(), "celery.queue.length", queue=queue)
            time.sleep(0.5)
        assert length == 5
        assert _is_task_queue("celery") and not _is_task_queue("celeryev.vitals-1")
        assert not _is_task_queue("celery@web1.celery.pidbox") and not _is_task_queue("amq.gen-xyz")
    finally:
        monitor.close(forget=True)
        with Connection(rabbit_url) as conn:
            conn.default_channel.queue_delete(queue)
    # A management API that does not answer leaves the passive declares; nothing fails.
    closed = CeleryMonitor(
        rabbit_url,
        timeout=0.5,
        capture_seconds=0.3,
        management_url=f"http://guest:guest@127.0.0.1:{free_port()}/api/queues/%2F",
    )
    try:
        snapshot = closed.collect()
    finally:
        closed.close()
    assert _value(snapshot, "celery.broker.up") == 1 and not any("management" in e for e in snapshot.errors)


def test_a_backlog_stays_visible_after_its_workers_are_gone(rabbit_url: str, tmp_path: Path) -> None:
    """The queue is learned from a live worker; once the worker stops, messages sent to it still show."""
    queue = f"vitals_test_{uuid.uuid4().hex[:8]}"
    (tmp_path / "vt_app.py").write_text(MONITORED_APP.format(broker=rabbit_url))
    env = {key: value for key, value in os.environ.items() if not key.startswith("VITALS_")}
    log_path = tmp_path / "worker.log"
    command = [sys.executable, "-m", "celery", "-A", "vt_app", "worker", "--pool", "solo", "-Q", queue]
    with log_path.open("wb") as log:
        worker = subprocess.Popen(
            [
                *command,
                "--loglevel",
                "INFO",
                "--hostname",
                f"{queue}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            cwd=tmp_path,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    monitor = CeleryMonitor(rabbit_url, capture_seconds=0.3, timeout=1.0, event_queue=f"{queue}.events")
    client = Celery(broker=rabbit_url, set_as_current=False)
    try:
        deadline = time.monotonic() + BOOT_TIMEOUT_SECONDS
        while " ready." not in log_path.read_text(errors="replace"):
            assert worker.poll() is None and time.monotonic() < deadline, log_path.read_text(errors="replace")
            time.sleep(0.2)
        seen = monitor.collect()
        assert _value(seen, "celery.queue.length", queue=queue) == 0
        os.killpg(worker.pid, signal.SIGTERM)
        worker.wait(timeout=15)
        for i in range(7):
            client.send_task("vt.add", args=(i, 1), queue=queue)
        after = monitor.collect()
        assert _value(after, "celery.workers.online") == 0
        assert _value(after, "celery.queue.length", queue=queue) == 7
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(timeout=10)
        client.close()
        monitor.close(forget=True)
        with Connection(rabbit_url) as conn:
            conn.default_channel.queue_delete(queue)


def test_the_event_queue_is_per_deployment_and_removed_when_no_longer_watched(
    rabbit_url: str, make_store: Callable[[str], storage.Store], tmp_path: Path
) -> None:
    one = storage.load_settings(
        data_dir=tmp_path / "one", celery_broker_urls=rabbit_url, broker_url="amqp://x//"
    )
    other = storage.load_settings(data_dir=tmp_path / "other", broker_url="amqp://x//")
    assert event_queue_name(one) != event_queue_name(other)  # two stores: two deployments
    assert event_queue_name(one) == event_queue_name(storage.load_settings(data_dir=tmp_path / "one"))
    context = JobContext(store=make_store("sqlite"))
    (spec,) = [s for s in job_specs(one) if s.name == "vitals.collect_celery"]
    spec.body(context)
    with Connection(rabbit_url) as conn:
        conn.default_channel.queue_declare(queue=event_queue_name(one), passive=True)  # declared, kept
    # The broker is no longer watched: the next run closes its monitor and removes the queue.
    watching_nothing = storage.load_settings(data_dir=tmp_path / "one", broker_url="", celery_broker_urls="")
    assert job_specs(watching_nothing)[1:] == []
    assert _monitors(context, watching_nothing) == []
    assert not [key for key in context.state if key.startswith("celery:")]
    with Connection(rabbit_url) as conn, pytest.raises(ChannelError, match="NOT_FOUND"):
        conn.default_channel.queue_declare(queue=event_queue_name(one), passive=True)
