"""Job bodies and the embedded scheduler against a real store (SQLite and MariaDB)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest
from sqlalchemy.exc import OperationalError

from collectors.base import Collection, Reading
from collectors.system import SystemCollector
from storage import Store, load_settings
from tasks.jobs import collect_system, readings_frame
from tasks.schedule import JobContext, JobSpec, job_specs
from tasks.scheduler import EmbeddedScheduler
from tests.support import wait_until

SCHEDULER_RUN_SECONDS = 2.5
INTERVAL_SECONDS = 0.5


@pytest.fixture
def sqlite_store(make_store: Callable[..., Store]) -> Store:
    """For scheduler logic whose job bodies never touch the store: one dialect is enough."""
    return make_store("sqlite")


def distinct_times(store: Store, metric: str) -> pd.Series:
    """The distinct sample times of a metric, at millisecond resolution (no bucketing merges them)."""
    frame = store.metrics(metric, since="5m", every="1ms", agg="count")
    return frame["ts"].drop_duplicates().sort_values().reset_index(drop=True)


def wait_for(predicate: Callable[[], object], what: str) -> None:
    wait_until(predicate, 5.0, what, every=0.02)


# -- readings_frame --------------------------------------------------------------------------------


def test_readings_frame_shape_and_values() -> None:
    at = datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC)
    readings = [
        Reading("system.memory.percent", 41.5, {}, "%"),
        Reading("system.load", 0.25, {"period": "1m"}, ""),
        Reading("system.disk.percent", 70.0, {"mount": "/"}, "%"),
    ]
    frame = readings_frame(readings, at, host="db-1")
    assert list(frame.columns) == ["ts", "metric", "host", "labels", "unit", "value"]
    assert len(frame) == 3
    assert frame["metric"].tolist() == ["system.memory.percent", "system.load", "system.disk.percent"]
    assert frame["value"].tolist() == [41.5, 0.25, 70.0]
    assert frame["labels"].tolist() == [{}, {"period": "1m"}, {"mount": "/"}]
    assert frame["unit"].tolist() == ["%", "", "%"]
    assert (frame["host"] == "db-1").all()
    assert (frame["ts"] == pd.Timestamp(at)).all()  # one time for the whole batch
    assert str(frame["ts"].dt.tz) == "UTC"


def test_readings_frame_defaults_to_this_host() -> None:
    frame = readings_frame([Reading("system.process.count", 10.0)], datetime.now(UTC))
    assert frame["host"].tolist() == [socket.gethostname()]


# -- collect_system --------------------------------------------------------------------------------


def test_collect_system_writes_rows_readable_as_utc(store: Store) -> None:
    before = datetime.now(UTC)
    written = collect_system(store, SystemCollector())
    after = datetime.now(UTC)
    assert written > 0
    frame = store.metrics("system.memory.percent", since="5m", agg=("mean", "count"))
    assert len(frame) == 1
    row = frame.iloc[0]
    assert row["host"] == socket.gethostname()
    assert row["labels"] == {}
    assert row["count"] == 1
    assert 0.0 < row["mean"] <= 100.0
    assert frame["ts"].dt.tz is not None and str(frame["ts"].dt.tz) == "UTC"
    # The bucket start is at or before the sample, and the sample was taken inside the call.
    assert before - timedelta(seconds=1) <= row["ts"].to_pydatetime() <= after
    latest = store.latest("system.memory.percent")
    assert len(latest) == 1
    assert before - timedelta(milliseconds=1) <= latest["ts"].iloc[0].to_pydatetime() <= after
    assert str(latest["ts"].dt.tz) == "UTC"
    # Every reading of that call is one sample, and they share one timestamp.
    series = store.list_series()
    assert "system.load" in set(series["metric"])
    assert (series["host"] == socket.gethostname()).all()
    assert written == len(series)  # one sample per series: first call, fresh store


def test_collect_system_twice_adds_cpu_and_rates(store: Store) -> None:
    collector = SystemCollector()
    first = collect_system(store, collector)
    time.sleep(0.6)
    second = collect_system(store, collector)
    assert second > first  # CPU (overall + per core) and the four I/O rates join on the second call
    names = set(store.metric_names())
    assert {"system.cpu.percent", "system.net.bytes_per_second", "system.disk.io_bytes_per_second"} <= names
    net = store.metrics("system.net.bytes_per_second", since="5m", agg="last")
    assert sorted(label["direction"] for label in net["labels"]) == ["recv", "sent"]
    assert (net["last"] >= 0).all()
    assert len(distinct_times(store, "system.memory.percent")) == 2


def test_collect_system_with_nothing_collected_writes_nothing(sqlite_store: Store) -> None:
    class Silent(SystemCollector):
        def collect(self) -> Collection:
            return Collection("silent")

    assert collect_system(sqlite_store, Silent()) == 0
    assert sqlite_store.list_series().empty


# -- the embedded scheduler ------------------------------------------------------------------------


def test_scheduler_collects_on_its_interval_and_stops_promptly(store: Store) -> None:
    settings = load_settings(system_interval_seconds=INTERVAL_SECONDS)
    scheduler = EmbeddedScheduler(job_specs(settings), JobContext(store=store))
    scheduler.start()
    assert scheduler.running
    scheduler.start()  # a second start is a no-op, not a second thread
    assert [t.name for t in threading.enumerate()].count("vitals-scheduler") == 1
    try:
        time.sleep(SCHEDULER_RUN_SECONDS)
    finally:
        started = time.monotonic()
        scheduler.stop()
        stop_seconds = time.monotonic() - started
    assert stop_seconds < 2.0
    assert not scheduler.running
    assert "vitals-scheduler" not in [t.name for t in threading.enumerate()]

    runs = scheduler.runs["vitals.collect_system"]
    # Every scheduled job (rollups and retention run once at start too) worked on this dialect.
    assert scheduler.failures == dict.fromkeys(scheduler.failures, 0)
    # 2.5 s at 0.5 s: about 6 runs (one at start); allow for a slow MariaDB commit or a loaded host.
    assert 3 <= runs <= 7, runs
    times = distinct_times(store, "system.memory.percent")
    assert len(times) == runs
    # The schedule is a fixed grid: a late run (a slow commit, a busy host) is not made up by running
    # the next one early, so the k-th run never starts before its slot k intervals after the first.
    elapsed = (times - times.iloc[0]).dt.total_seconds().tolist()
    assert all(seconds >= k * INTERVAL_SECONDS - 0.05 for k, seconds in enumerate(elapsed)), elapsed
    # CPU is a difference between two readings: from the second run on, never missing after that.
    assert runs - 1 <= len(distinct_times(store, "system.cpu.percent")) <= runs

    # Nothing more lands once stopped.
    time.sleep(INTERVAL_SECONDS * 1.2)
    assert len(distinct_times(store, "system.memory.percent")) == runs


def counting_spec(name: str, interval: float, counter: list[float]) -> JobSpec:
    return JobSpec(
        name=name, interval_seconds=interval, body=lambda _context: counter.append(time.monotonic())
    )


def failing_spec(name: str, interval: float) -> JobSpec:
    def body(_context: JobContext) -> None:
        raise RuntimeError("target unreachable")

    return JobSpec(name=name, interval_seconds=interval, body=body)


def test_a_failing_job_is_counted_and_the_others_keep_running(
    sqlite_store: Store, caplog: pytest.LogCaptureFixture
) -> None:
    calls: list[float] = []
    scheduler = EmbeddedScheduler(
        [failing_spec("test.fails", 0.1), counting_spec("test.counts", 0.1, calls)],
        JobContext(store=sqlite_store),
    )
    with caplog.at_level("ERROR", logger="vitals.scheduler"):
        scheduler.start()
        wait_for(lambda: scheduler.failures["test.fails"] >= 3 and len(calls) >= 3, "three passes")
        assert scheduler.running  # failures never end the loop
        scheduler.stop()
    assert not scheduler.running
    assert scheduler.runs["test.fails"] == 0
    assert scheduler.failures["test.counts"] == 0
    assert scheduler.runs["test.counts"] == len(calls)
    assert abs(scheduler.failures["test.fails"] - len(calls)) <= 1  # both ran on every loop pass
    failures = [r for r in caplog.records if r.name == "vitals.scheduler"]
    assert len(failures) == scheduler.failures["test.fails"]
    assert "test.fails" in failures[0].getMessage()
    assert failures[0].exc_info is not None and "target unreachable" in str(failures[0].exc_info[1])


def test_a_job_waiting_for_a_down_store_says_so_once_per_outage(
    tmp_path, caplog: pytest.LogCaptureFixture
) -> None:
    """A store that refuses connections fails every run of a job that reads it; that is one warning
    (no traceback) when it starts and one line when the store answers again, not one per tick."""
    import storage

    store = storage.connect(f"sqlite:///{tmp_path / 'v.db'}")
    down = {"now": True}

    def body(context: JobContext) -> None:
        if down["now"]:
            store.engine.dispose()
            raise OperationalError("SELECT 1", {}, ConnectionRefusedError(111, "Connection refused"))

    scheduler = EmbeddedScheduler([JobSpec("test.reads_store", 0.05, body)], JobContext(store=store))
    with caplog.at_level("INFO", logger="vitals.scheduler"):
        scheduler.start()
        wait_for(lambda: scheduler.failures["test.reads_store"] >= 5, "five failed runs")
        down["now"] = False
        wait_for(lambda: scheduler.runs["test.reads_store"] >= 2, "two runs once the store is back")
        scheduler.stop()
    lines = [
        r for r in caplog.records if r.name == "vitals.scheduler" and "test.reads_store" in r.getMessage()
    ]
    assert [r.levelname for r in lines] == ["WARNING", "INFO"], [r.getMessage() for r in lines]
    assert "waits for the store" in lines[0].getMessage() and lines[0].exc_info is None
    assert "runs again" in lines[1].getMessage()


def test_stop_is_prompt_with_a_long_interval(sqlite_store: Store) -> None:
    calls: list[float] = []
    scheduler = EmbeddedScheduler([counting_spec("test.hourly", 3600, calls)], JobContext(store=sqlite_store))
    scheduler.start()
    wait_for(lambda: len(calls) == 1, "the first run")  # due at once on start, then not for an hour
    started = time.monotonic()
    scheduler.stop()
    assert time.monotonic() - started < 1.0
    assert not scheduler.running
    assert len(calls) == 1


def test_run_now_runs_in_the_caller_thread_and_counts(sqlite_store: Store) -> None:
    ran_in: list[str] = []
    spec = JobSpec("test.now", 3600, lambda _context: ran_in.append(threading.current_thread().name))
    scheduler = EmbeddedScheduler([spec, failing_spec("test.fails", 3600)], JobContext(store=sqlite_store))
    scheduler.run_now("test.now")
    assert ran_in == [threading.current_thread().name]
    assert scheduler.runs == {"test.now": 1, "test.fails": 0}
    with pytest.raises(RuntimeError):  # whoever asked to run it now hears that it failed
        scheduler.run_now("test.fails")
    assert scheduler.failures == {"test.now": 0, "test.fails": 1}  # and it is still counted
    assert not scheduler.running  # run_now does not start the loop


def test_run_now_unknown_name_raises_key_error(sqlite_store: Store) -> None:
    scheduler = EmbeddedScheduler(job_specs(load_settings()), JobContext(store=sqlite_store))
    with pytest.raises(KeyError, match=r"vitals\.nope"):
        scheduler.run_now("vitals.nope")
    assert "vitals.collect_system" in scheduler.runs
    assert set(scheduler.runs.values()) == {0}  # nothing ran instead
    assert set(scheduler.failures.values()) == {0}


def test_job_specs_follow_the_settings() -> None:
    specs = job_specs(load_settings(system_interval_seconds=2.5))
    names = [spec.name for spec in specs]
    assert len(names) == len(set(names))  # the name is also the Celery task name: unique
    assert all(name.startswith("vitals.") for name in names)
    assert all(spec.interval_seconds > 0 for spec in specs)
    collect = next(spec for spec in specs if spec.name == "vitals.collect_system")
    assert collect.interval_seconds == 2.5
