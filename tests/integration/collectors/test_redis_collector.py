"""The Redis collector, its storage and its job against real Redis servers.

INFO stats are server-wide, and other tests use the shared Redis (127.0.0.1:6379) at the same time,
so exact assertions run against a private ``redis-server`` each test starts on a free port (also
the only place CONFIG SET is allowed). On the shared server only db 10 is touched.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pytest
import redis
from sqlalchemy import text

from collectors.redis_monitor import RedisCollector, probe
from storage import Store, load_settings
from storage import cache as cachestore
from storage.engine import create_store_engine
from tasks.collect import TargetReport, store_collection
from tasks.context import JobContext
from tasks.redis_jobs import events_of, job_specs
from tests.support import PrivateRedis, free_port, unavailable

SHARED_URL = "redis://127.0.0.1:6379/10"


@pytest.fixture
def shared_db10() -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(SHARED_URL, decode_responses=True, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        unavailable(f"Redis not reachable at {SHARED_URL}: {exc}")
    yield client
    for key in client.scan_iter("vitals-test-redis:*"):
        client.delete(key)
    client.close()


def by_metric(collection: object) -> dict[str, float]:
    readings = collection.readings  # type: ignore[attr-defined]
    return {r.metric: r.value for r in readings if "db" not in r.labels}


# -- hit rate -----------------------------------------------------------------------------------------


def test_hit_rate_exact_on_a_private_server(private_redis: Callable[..., PrivateRedis]) -> None:
    server = private_redis()
    client = server.client()
    client.set("present", "1")
    collector = RedisCollector(server.url)
    first = collector.collect()
    assert first.error is None and "redis.hit_rate_percent" not in by_metric(first)
    for _ in range(3):
        client.get("present")
    client.get("absent")
    second = by_metric(collector.collect())
    assert second["redis.hit_rate_percent"] == pytest.approx(75.0)
    assert second["redis.ops_per_second"] > 0
    assert "redis.memory.percent" not in second  # no maxmemory set
    third = by_metric(collector.collect())  # no lookups since: no hit rate at all, not 0 %
    assert "redis.hit_rate_percent" not in third


def test_hit_rate_moves_on_the_shared_server(shared_db10: redis.Redis) -> None:
    shared_db10.set("vitals-test-redis:hit", "1")
    collector = RedisCollector(SHARED_URL)
    collector.collect()
    pipe = shared_db10.pipeline(transaction=False)
    for _ in range(2000):
        pipe.get("vitals-test-redis:hit")
    pipe.execute()
    after_hits = by_metric(collector.collect())
    for _ in range(2000):
        pipe.get("vitals-test-redis:miss")
    pipe.execute()
    after_misses = by_metric(collector.collect())
    # Other tests share the server-wide counters, so only the direction is certain.
    assert after_hits["redis.hit_rate_percent"] > after_misses["redis.hit_rate_percent"]
    assert 0 <= after_misses["redis.hit_rate_percent"] <= 100
    keys = [r for r in collector.collect().readings if r.metric == "redis.keys" and r.labels["db"] == "10"]
    assert keys and keys[0].value >= 1 and keys[0].labels["target"] == "127.0.0.1:6379/10"


# -- memory and evictions -------------------------------------------------------------------------------


def test_evicted_keys_with_maxmemory_and_allkeys_lru(private_redis: Callable[..., PrivateRedis]) -> None:
    server = private_redis("--maxmemory", "4mb", "--maxmemory-policy", "allkeys-lru")
    client = server.client()
    collector = RedisCollector(server.url + "?name=lru")
    collector.collect()
    before = int(client.info("stats")["evicted_keys"])
    pipe = client.pipeline(transaction=False)
    for i in range(1000):
        pipe.set(f"k{i}", "x" * 10_000)
    pipe.execute()
    evicted = int(client.info("stats")["evicted_keys"]) - before
    collection = collector.collect()
    got = by_metric(collection)
    assert evicted > 0
    assert got["redis.evicted_keys"] == evicted
    assert got["redis.memory.max_bytes"] == 4 * 1024 * 1024
    assert 0 < got["redis.memory.percent"] <= 100
    assert collection.snapshot is not None and collection.snapshot.maxmemory_policy == "allkeys-lru"
    assert collection.target == "lru"


# -- slowlog ------------------------------------------------------------------------------------------


def test_slowlog_captured_once_and_after_reset_and_restart(
    private_redis: Callable[..., PrivateRedis], store: Store
) -> None:
    server = private_redis("--slowlog-log-slower-than", "0")
    collector = RedisCollector(server.url + "?name=slow")

    def cycle() -> int:
        collection = collector.collect()
        assert collection.error is None, collection.error
        new = cachestore.record_slowlog(store.engine, "slow", collection.slowlog)
        collector.acknowledge_slowlog(collection.slowlog)
        return new

    def commands() -> list[str]:
        return cachestore.slowlog(store.engine, "slow", since="1h")["command"].tolist()

    client = server.client()
    client.set("marker-1", "v")
    assert cycle() > 0
    assert commands().count("SET marker-1 v") == 1
    assert cycle() >= 0 and commands().count("SET marker-1 v") == 1  # re-read: no duplicate

    # A Vitals restart forgets what it acknowledged: the store still stores each entry once.
    collector = RedisCollector(server.url + "?name=slow")
    cycle()
    assert commands().count("SET marker-1 v") == 1

    client.slowlog_reset()
    client.set("marker-2", "v")
    cycle()
    assert commands().count("SET marker-2 v") == 1

    # Restart: Redis's ids start again at 0 and must not be mistaken for the entries already stored.
    stored_ids = set(cachestore.slowlog(store.engine, "slow", since="1h")["entry_id"])
    server.stop()
    server.start()
    client = server.client()
    client.config_set("slowlog-log-slower-than", "0")
    client.set("marker-3", "v")
    new_ids = {int(entry["id"]) for entry in client.slowlog_get(128)}
    assert new_ids & stored_ids, "the restarted server reuses old ids (the case under test)"
    assert cycle() > 0
    assert commands().count("SET marker-3 v") == 1
    assert commands().count("SET marker-1 v") == 1
    events = cachestore.slowlog(store.engine, "slow", since="1h")
    assert events["ts"].dt.tz is not None and (events["duration_us"] >= 0).all()


# -- probe --------------------------------------------------------------------------------------------


def test_probe_says_authentication_failed(private_redis: Callable[..., PrivateRedis]) -> None:
    server = private_redis("--requirepass", "s3cret")
    no_password = probe(server.url)
    assert not no_password.ok and no_password.error == "auth_failed"
    assert no_password.message.startswith("authentication failed: the server requires a password")
    wrong = probe(f"redis://:wrong@127.0.0.1:{server.port}/0")
    assert not wrong.ok and wrong.error == "auth_failed"
    assert wrong.message.startswith("authentication failed: wrong user name or password")
    assert "wrong@" not in wrong.message and "s3cret" not in wrong.message
    right = probe(f"redis://:s3cret@127.0.0.1:{server.port}/0?name=auth")
    assert right.ok and right.error is None and right.message.startswith("ok: Redis ")
    assert right.latency_ms > 0
    collection = RedisCollector(server.url).collect()  # the collector says the same, without raising
    assert collection.error is not None and collection.error.startswith("authentication failed")


def test_probe_says_unreachable_quickly() -> None:
    started = time.monotonic()
    result = probe(f"redis://127.0.0.1:{free_port()}/0", timeout=1.0)
    assert not result.ok and result.error == "unreachable"
    assert result.message.startswith("unreachable:") and "Connection refused" in result.message
    assert time.monotonic() - started < 2.0


def test_collector_reports_a_down_target_and_recovers(private_redis: Callable[..., PrivateRedis]) -> None:
    server = private_redis()
    collector = RedisCollector(server.url)
    assert collector.collect().error is None
    server.stop()
    down = collector.collect()
    assert down.error is not None and down.error.startswith("unreachable:")
    assert by_metric(down) == {"redis.up": 0.0}
    server.start()
    back = collector.collect()  # the pooled connection is dead: the one retry reconnects
    assert back.error is None and by_metric(back)["redis.up"] == 1.0
    assert "redis.ops_per_second" not in by_metric(back)  # new run_id: that interval is skipped


# -- the job end to end -----------------------------------------------------------------------------


def test_job_writes_metrics_and_events(
    private_redis: Callable[..., PrivateRedis], store: Store, tmp_path: Path
) -> None:
    server = private_redis("--slowlog-log-slower-than", "0", "--maxmemory", "64mb")
    down_url = f"redis://127.0.0.1:{free_port()}/0?name=down"
    settings = load_settings(
        redis_urls=f"{server.url}?name=cache,{down_url}", redis_interval_seconds=1, data_dir=tmp_path
    )
    (spec,) = job_specs(settings)
    assert spec.name == "vitals.collect_redis" and spec.interval_seconds == 1
    context = JobContext(store=store)
    client = server.client()
    client.set("a", "1")
    first = spec.body(context)
    client.get("a")
    client.get("nope")
    second = spec.body(context)

    assert isinstance(first, dict) and isinstance(second, dict)
    assert first["cache"]["errors"] == [] and first["cache"]["events"]["redis.slowlog"] > 0
    assert second["down"]["errors"][0].startswith("unreachable:") and second["down"]["samples"] == 1
    hit_rate = store.latest("redis.hit_rate_percent", host="cache")
    assert len(hit_rate) == 1 and hit_rate["labels"][0] == {"target": "cache"}
    assert 0 < hit_rate["value"][0] < 100
    assert store.latest("redis.memory.percent", host="cache")["value"][0] > 0
    assert store.latest("redis.up", host="down")["value"][0] == 0
    units = store.list_series(metric="redis.memory.used_bytes")["unit"].tolist()
    assert units == ["B"]
    stats = cachestore.latest_cache_stats(store.engine, "cache")
    assert stats is not None and stats.maxmemory_policy == "noeviction"
    assert stats.keys_per_db["0"]["keys"] == 1 and stats.info["redis_version"]
    assert stats.ts.tzinfo is not None and abs((datetime.now(UTC) - stats.ts).total_seconds()) < 60
    assert cachestore.latest_cache_stats(store.engine, "down") is None
    events = cachestore.slowlog(store.engine, "cache", since="1h")
    assert events["command"].tolist().count("SET a 1") == 1
    assert job_specs(load_settings(redis_urls="", data_dir=tmp_path)) == []


def test_events_wait_in_redis_while_the_store_is_down(
    private_redis: Callable[..., PrivateRedis], store: Store, tmp_path: Path
) -> None:
    """Samples and events (cache stats, slowlog entries) wait in the spool and are stored, once, on the
    next cycle after the store is back."""
    server = private_redis("--slowlog-log-slower-than", "0")
    collector = RedisCollector(server.url + "?name=outage")
    server.client().set("during-outage", "v")
    down_store = Store(create_store_engine(f"mysql+pymysql://root@127.0.0.1:{free_port()}/none"))
    try:
        report = _cycle(down_store, collector, tmp_path)
    finally:
        down_store.close()
    assert report.errors == [] and report.samples == 0 and report.events == {}
    assert report.spooled == ["samples", "redis.stats", "redis.slowlog"]
    assert list((tmp_path / "spool" / "events").glob("*.jsonl")), "the events wait in the spool"
    report = _cycle(store, collector, tmp_path)
    assert report.spooled == [] and report.events["redis.slowlog"] > 0
    assert list((tmp_path / "spool" / "events").glob("*.jsonl")) == []
    with store.engine.connect() as conn:
        stats_rows = conn.execute(text("SELECT COUNT(*) FROM cache_stats WHERE target = 'outage'")).scalar()
    assert stats_rows == 2  # the spooled row and this cycle's
    assert (
        cachestore.slowlog(store.engine, "outage", since="1h")["command"]
        .tolist()
        .count("SET during-outage v")
        == 1
    )
    assert not store.latest("redis.up", host="outage").empty


def _cycle(store: Store, collector: RedisCollector, tmp_path: Path) -> TargetReport:
    collection = collector.collect()
    report = store_collection(store, collection, tmp_path / "spool", events_of(collection))
    collector.acknowledge_slowlog(collection.slowlog)
    return report


# -- storage/cachemon on its own ------------------------------------------------------------------------


@dataclass(frozen=True)
class Entry:
    entry_id: int
    run_id: str
    ts: datetime
    duration_us: int
    command: str
    client: str | None = None


def test_cachemon_slowlog_dedup_runs_and_filters(store: Store) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    old_run = [Entry(i, "run-1", now - timedelta(hours=2, seconds=-i), 10 + i, f"GET k{i}") for i in range(3)]
    assert cachestore.record_slowlog(store.engine, "a", old_run) == 3
    assert cachestore.record_slowlog(store.engine, "a", old_run) == 0  # re-read
    new_run = [Entry(0, "run-2", now, 99, "SET x y", "10.0.0.1:5000 (web)")]
    assert cachestore.record_slowlog(store.engine, "a", new_run) == 1  # id 0 again, new server run
    assert cachestore.record_slowlog(store.engine, "b", old_run) == 3  # other target, same ids
    assert cachestore.record_slowlog(store.engine, "a", []) == 0

    recent = cachestore.slowlog(store.engine, "a", since="1h")
    assert recent[["entry_id", "command", "duration_us", "client"]].to_dict("records") == [
        {"entry_id": 0, "command": "SET x y", "duration_us": 99, "client": "10.0.0.1:5000 (web)"}
    ]
    assert recent["ts"][0] == pd.Timestamp(now)
    everything = cachestore.slowlog(store.engine, "a", since="1d")
    assert everything["entry_id"].tolist() == [0, 2, 1, 0]  # newest first
    assert everything["client"].tolist()[1:] == [None, None, None]
    assert len(cachestore.slowlog(store.engine, since="1d")) == 7
    assert cachestore.slowlog(store.engine, "nobody", since="1d").empty
    with pytest.raises(ValueError, match="limit"):
        cachestore.slowlog(store.engine, "a", limit=0)


def test_cachemon_latest_cache_stats(store: Store) -> None:
    assert cachestore.latest_cache_stats(store.engine, "c") is None
    earlier = datetime.now(UTC) - timedelta(minutes=5)
    cachestore.record_cache_stats(
        store.engine, "c", earlier, "noeviction", {"0": {"keys": 1}}, {"run_id": "x"}
    )
    cachestore.record_cache_stats(store.engine, "c", datetime.now(UTC), "allkeys-lru", {"0": {"keys": 2}})
    cachestore.record_cache_stats(store.engine, "other", earlier, None, {})
    stats = cachestore.latest_cache_stats(store.engine, "c")
    assert stats is not None
    assert (stats.maxmemory_policy, stats.keys_per_db, stats.info) == ("allkeys-lru", {"0": {"keys": 2}}, {})
    assert stats.ts.tzinfo is not None
    other = cachestore.latest_cache_stats(store.engine, "other")
    assert other is not None and other.maxmemory_policy is None and other.keys_per_db == {}
