"""The Redis collector's pure parts, with hand-made INFO and SLOWLOG data."""

from __future__ import annotations

from typing import Any

import pytest
import redis
from redis._parsers.helpers import parse_info

from collectors.catalog import METRIC_CATALOG
from collectors.redis_monitor import (
    REDIS_METRICS,
    describe_error,
    info_readings,
    parse_target,
    slowlog_entries,
    snapshot,
)
from storage.cache import slowlog_key
from tests.support import FIXTURES


def info(**overrides: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "run_id": "a" * 40,
        "redis_version": "7.0.15",
        "total_commands_processed": 1000,
        "keyspace_hits": 80,
        "keyspace_misses": 20,
        "evicted_keys": 5,
        "expired_keys": 7,
        "used_memory": 1_000_000,
        "maxmemory": 4_000_000,
        "maxmemory_policy": "allkeys-lru",
        "mem_fragmentation_ratio": 1.5,
        "connected_clients": 3,
        "blocked_clients": 1,
        "db0": {"keys": 10, "expires": 2, "avg_ttl": 0},
        "db10": {"keys": 4, "expires": 0, "avg_ttl": 0},
    }
    base.update(overrides)
    return base


def values(readings: list[Any]) -> dict[tuple[str, str], float]:
    return {(r.metric, r.labels.get("db", "")): r.value for r in readings}


@pytest.mark.parametrize(
    ("url", "name", "connect_url"),
    [
        ("redis://127.0.0.1:6379/0", "127.0.0.1:6379/0", "redis://127.0.0.1:6379/0"),
        ("redis://cache.internal", "cache.internal:6379/0", "redis://cache.internal"),
        ("redis://:secret@h:6380/3?name=sessions", "sessions", "redis://:secret@h:6380/3"),
        ("redis://h/2?socket_timeout=1&name=c", "c", "redis://h/2?socket_timeout=1"),
        ("unix:///run/redis.sock?db=4", "/run/redis.sock/4", "unix:///run/redis.sock?db=4"),
    ],
)
def test_parse_target_names_and_strips_name(url: str, name: str, connect_url: str) -> None:
    target = parse_target(url)
    assert (target.name, target.url) == (name, connect_url)
    assert "secret" not in target.name


def test_first_collection_has_gauges_but_no_rates() -> None:
    readings, counters = info_readings(info(), None, at=100.0, target="c")
    got = values(readings)
    assert got[("redis.memory.used_bytes", "")] == 1_000_000
    assert got[("redis.memory.max_bytes", "")] == 4_000_000
    assert got[("redis.memory.percent", "")] == 25.0
    assert got[("redis.memory.fragmentation_ratio", "")] == 1.5
    assert got[("redis.clients.connected", "")] == 3
    assert got[("redis.clients.blocked", "")] == 1
    assert got[("redis.keys", "0")] == 10 and got[("redis.expires", "0")] == 2
    assert got[("redis.keys", "10")] == 4
    assert not any(metric in {"redis.ops_per_second", "redis.hit_rate_percent"} for metric, _ in got)
    assert all(r.labels["target"] == "c" for r in readings)
    assert all(r.unit == REDIS_METRICS[r.metric][0] for r in readings)
    assert counters.commands == 1000


def test_rates_from_deltas() -> None:
    _, first = info_readings(info(), None, at=100.0, target="c")
    later = info(
        total_commands_processed=1500, keyspace_hits=110, keyspace_misses=30, evicted_keys=9, expired_keys=7
    )
    readings, _ = info_readings(later, first, at=110.0, target="c")
    got = values(readings)
    assert got[("redis.ops_per_second", "")] == pytest.approx(50.0)
    assert got[("redis.hit_rate_percent", "")] == pytest.approx(75.0)  # 30 hits of 40 lookups
    assert got[("redis.evicted_keys", "")] == 4
    assert got[("redis.expired_keys", "")] == 0


def test_no_hit_rate_without_lookups() -> None:
    _, first = info_readings(info(), None, at=100.0, target="c")
    readings, _ = info_readings(info(total_commands_processed=1010), first, at=110.0, target="c")
    got = values(readings)
    assert ("redis.hit_rate_percent", "") not in got
    assert got[("redis.ops_per_second", "")] == pytest.approx(1.0)


@pytest.mark.parametrize(
    "restarted",
    [
        info(total_commands_processed=10, keyspace_hits=1, keyspace_misses=1, evicted_keys=0, expired_keys=0),
        info(run_id="b" * 40, total_commands_processed=5000),  # new run, counters happen to be higher
        info(evicted_keys=1),  # only one counter went backwards
    ],
)
def test_restart_skips_the_interval(restarted: dict[str, Any]) -> None:
    _, first = info_readings(info(), None, at=100.0, target="c")
    readings, counters = info_readings(restarted, first, at=110.0, target="c")
    metrics = {r.metric for r in readings}
    assert metrics.isdisjoint(
        {"redis.ops_per_second", "redis.hit_rate_percent", "redis.evicted_keys", "redis.expired_keys"}
    )
    assert "redis.memory.used_bytes" in metrics  # the gauges still count
    # ...and the next interval is measured from the restarted server's counters
    readings, _ = info_readings(
        {**restarted, "total_commands_processed": restarted["total_commands_processed"] + 100},
        counters,
        at=120.0,
        target="c",
    )
    assert values(readings)[("redis.ops_per_second", "")] == pytest.approx(10.0)


def test_no_maxmemory_means_no_limit_metrics() -> None:
    readings, _ = info_readings(info(maxmemory=0), None, at=1.0, target="c")
    metrics = {r.metric for r in readings}
    assert "redis.memory.max_bytes" not in metrics and "redis.memory.percent" not in metrics


def test_snapshot_keeps_policy_keyspace_and_selected_info() -> None:
    snap = snapshot(info())
    assert snap.maxmemory_policy == "allkeys-lru"
    assert snap.keys_per_db == {
        "0": {"keys": 10, "expires": 2, "avg_ttl": 0},
        "10": {"keys": 4, "expires": 0, "avg_ttl": 0},
    }
    assert snap.info["redis_version"] == "7.0.15" and "db0" not in snap.info


def test_slowlog_entries_filter_and_order() -> None:
    raw = [
        {
            "id": 5,
            "start_time": 1_700_000_005,
            "duration": 30,
            "command": "GET k",
            "client_address": "1.2.3.4:5",
        },
        {"id": 4, "start_time": 1_700_000_004, "duration": 20, "command": b"SET k v", "client_name": ""},
        {
            "id": 3,
            "start_time": 1_700_000_003,
            "duration": 10,
            "command": "PING",
            "client_address": "a:1",
            "client_name": "web",
        },
    ]
    entries = slowlog_entries(raw, "r", after_id=3)
    assert [e.entry_id for e in entries] == [4, 5]
    assert entries[0].command == "SET k v" and entries[0].client is None
    assert entries[1].client == "1.2.3.4:5" and entries[1].ts.year == 2023
    assert slowlog_entries(raw, "r", after_id=-1)[0].client == "a:1 (web)"


def test_slowlog_key_separates_server_runs_and_fits_a_bigint() -> None:
    assert slowlog_key("run-a", 0) != slowlog_key("run-b", 0)
    assert slowlog_key("run-a", 7) == slowlog_key("run-a", 7)
    assert 0 <= slowlog_key("f" * 40, 2**32 - 1) < 2**63
    assert slowlog_key("run-a", 7) & 0xFFFFFFFF == 7


@pytest.mark.parametrize(
    ("error", "kind", "start"),
    [
        (
            redis.ConnectionError("Error 111 connecting to 127.0.0.1:1. Connection refused."),
            "unreachable",
            "unreachable:",
        ),
        (redis.TimeoutError("Timeout connecting to server"), "unreachable", "unreachable: timed out"),
        (
            redis.AuthenticationError("Authentication required."),
            "auth_failed",
            "authentication failed: the server requires a password",
        ),
        (
            redis.AuthenticationError("invalid username-password pair or user is disabled."),
            "auth_failed",
            "authentication failed: wrong user name or password",
        ),
        (redis.ResponseError("NOAUTH Authentication required."), "auth_failed", "authentication failed"),
        (
            redis.AuthenticationError(
                "HELLO must be called with the client already authenticated, otherwise..."
            ),
            "auth_failed",
            "authentication failed: the server requires a password",
        ),
        (
            redis.AuthenticationError(
                "AUTH <password> called without any password configured for the default user."
            ),
            "auth_failed",
            "authentication failed: a password was given but the server has none",
        ),
        (redis.ResponseError("ERR unknown command"), "other", "error: ResponseError"),
        (redis.ConnectionError("max number of clients reached"), "other", "error: too many clients"),
        (
            redis.exceptions.InvalidResponse("Protocol Error: b'HTTP/1.1 400'"),
            "other",
            "error: not a Redis server",
        ),
    ],
)
def test_describe_error(error: Exception, kind: str, start: str) -> None:
    got_kind, message = describe_error(error)
    assert got_kind == kind
    assert message.startswith(start)


def test_catalog_lists_every_redis_metric() -> None:
    assert set(REDIS_METRICS) <= set(METRIC_CATALOG)


def test_a_captured_info_dump_from_redis_7_gives_every_gauge() -> None:
    """Real ``INFO all`` text (tests/fixtures/redis/), parsed the way redis-py parses it."""
    raw = (FIXTURES / "redis" / "info-all-7.0.txt").read_text()
    parsed = parse_info(raw)
    readings, counters = info_readings(parsed, None, 0.0, "captured")
    metrics = {reading.metric for reading in readings}
    assert {
        "redis.memory.used_bytes",
        "redis.clients.connected",
        "redis.memory.fragmentation_ratio",
    } <= metrics
    assert all(reading.labels["target"] == "captured" for reading in readings)
    assert counters.run_id == parsed["run_id"]
    assert snapshot(parsed).maxmemory_policy == parsed["maxmemory_policy"]
