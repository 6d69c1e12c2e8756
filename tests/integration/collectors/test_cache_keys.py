"""The key tools against a real redis-server of the test's own: browser, clears, tags, policy."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import redis

from collectors.redis_monitor import keys as rkeys
from tests.support import PrivateRedis


@pytest.fixture
def server(private_redis: Callable[..., PrivateRedis]) -> PrivateRedis:
    return private_redis()


def bytes_client(server: PrivateRedis, db: int = 0) -> redis.Redis:
    return rkeys.connect(server.url, db=db)


def near_misses(client: redis.Redis) -> None:
    """A keyspace where the pattern ``user:*:session`` has near-miss names around its matches."""
    pipe = client.pipeline(transaction=False)
    for i in range(2500):
        pipe.set(f"user:{i}:session", "x")
    for i in range(500):
        pipe.set(f"user:{i}:sessions", "x")  # one letter more
        pipe.set(f"users:{i}:session", "x")  # different prefix, still ends in :session?  no: "users:"
        pipe.set(f"xuser:{i}:session", "x")
        pipe.set(f"user:{i}:session:meta", "x")
    pipe.execute()


def test_clear_by_pattern_removes_exactly_the_matches_in_batches(server: PrivateRedis) -> None:
    client = bytes_client(server)
    near_misses(client)
    before = set(client.scan_iter(count=1000))
    matches = {key for key in before if key.startswith(b"user:") and key.endswith(b":session")}
    # "user:7:session" has 3 segments; "user:1:session:meta" ends differently and survives.
    preview = rkeys.dry_run(client, "user:*:session")
    assert preview.matches == len(matches) == 2500 + 0
    assert preview.complete and len(preview.sample) == 20 and preview.memory_bytes > 0
    seen: list[int] = []
    outcome = rkeys.clear_pattern(
        client, "user:*:session", batch=200, progress=lambda state: seen.append(state.removed)
    )
    assert outcome.stopped == "done" and outcome.removed == 2500
    assert outcome.batches > 5 and outcome.memory_freed_bytes > 0
    assert seen == sorted(seen) and len(seen) > 5  # reported batch by batch
    after = set(client.scan_iter(count=1000))
    assert after == before - matches


def test_clear_honours_the_cap_and_cancel(server: PrivateRedis) -> None:
    client = bytes_client(server)
    client.mset({f"c:{i}": i for i in range(3000)})
    capped = rkeys.clear_pattern(client, "c:*", max_keys=700, batch=100)
    assert capped.removed == 700 and capped.stopped == "cap"
    assert client.dbsize() == 2300
    calls = iter(range(100))
    cancelled = rkeys.clear_pattern(client, "c:*", batch=100, cancelled=lambda: next(calls) >= 3)
    assert cancelled.stopped == "cancelled"
    assert 0 < cancelled.removed < 2300 and client.dbsize() == 2300 - cancelled.removed


@pytest.mark.parametrize("pattern", ["", "*", "**", "a[bc", "trailing\\", "new\nline"])
def test_refused_clear_patterns(server: PrivateRedis, pattern: str) -> None:
    with pytest.raises(ValueError):
        rkeys.clear_pattern(bytes_client(server), pattern)


def test_pattern_matching_nothing(server: PrivateRedis) -> None:
    client = bytes_client(server)
    client.set("a", 1)
    assert rkeys.dry_run(client, "nothing:*").matches == 0
    outcome = rkeys.clear_pattern(client, "nothing:*")
    assert outcome.removed == 0 and outcome.stopped == "done" and client.exists("a")


def test_redis_going_away_mid_clear_says_how_far_it_got(server: PrivateRedis) -> None:
    client = bytes_client(server)
    client.mset({f"gone:{i}": i for i in range(5000)})

    def stop_after_two_batches(state: rkeys.ClearProgress) -> None:
        if state.batches == 2:
            server.stop()

    outcome = rkeys.clear_pattern(client, "gone:*", batch=500, progress=stop_after_two_batches)
    assert outcome.stopped == "error" and outcome.error and "unreachable" in outcome.error
    assert 0 < outcome.removed < 5000


def test_tag_clear_removes_the_tagged_keys_and_the_tag_set(server: PrivateRedis) -> None:
    client = bytes_client(server)
    client.mset({f"cache:post:{i}": "p" for i in range(50)})
    client.mset({f"cache:user:{i}": "u" for i in range(20)})
    tag_key = rkeys.tag_set_name("tag:{tag}:entries", "posts")
    client.zadd(tag_key, {f"post:{i}": 0 for i in range(50)})
    client.sadd("tag:users:entries", *[f"user:{i}" for i in range(20)])
    preview = rkeys.dry_run_tag(client, tag_key, prefix="cache:")
    assert preview.matches == 50
    outcome = rkeys.clear_tag(client, tag_key, prefix="cache:")
    assert outcome.removed == 50 and outcome.stopped == "done"
    assert not client.exists(tag_key)
    assert client.exists("tag:users:entries") and len(list(client.scan_iter("cache:user:*"))) == 20
    assert not list(client.scan_iter("cache:post:*"))
    with pytest.raises(rkeys.TagNotFound):
        rkeys.clear_tag(client, "tag:nope:entries")


def test_scan_page_pages_with_a_cursor_and_filters(server: PrivateRedis) -> None:
    client = bytes_client(server, db=3)
    client.mset({f"s:{i}": "v" * i for i in range(250)})
    client.hset("h:1", mapping={"a": 1, "b": 2})
    client.rpush("l:1", *range(7))
    client.set(b"bin:\xff\x00", b"\x01\x02", ex=100)
    seen: set[str] = set()
    cursor = 0
    pages = 0
    while True:
        page = rkeys.scan_page(client, pattern="s:*", cursor=cursor, page_size=100)
        seen.update(row.key for row in page.rows)
        pages += 1
        cursor = page.cursor
        if page.complete:
            break
    assert seen == {f"s:{i}" for i in range(250)} and pages >= 2
    hashes = rkeys.scan_page(client, type_filter="hash").rows
    assert [(row.key, row.type, row.size) for row in hashes] == [("h:1", "hash", 2)]
    lists = rkeys.scan_page(client, pattern="l:*").rows
    assert lists[0].size == 7 and lists[0].memory_bytes and lists[0].ttl_seconds is None
    binary = rkeys.scan_page(client, pattern="bin:*").rows[0]
    assert binary.key == "bin:\\xff\\x00" and 0 < (binary.ttl_seconds or 0) <= 100
    value = rkeys.read_value(client, bytes.fromhex(binary.key_hex))
    assert value.binary and value.items == [["01 02"]]
    capped = rkeys.scan_page(client, pattern="nomatch:*", max_examined=50, page_size=100)
    assert capped.stopped in ("cap", "end") and capped.rows == []


def test_read_value_truncates_and_a_deleted_key_is_gone(server: PrivateRedis) -> None:
    client = bytes_client(server)
    client.hset("h", mapping={f"f{i}": i for i in range(300)})
    client.set("long", "x" * 10_000)
    hashed = rkeys.read_value(client, b"h", max_items=10)
    assert hashed.size == 300 and len(hashed.items) <= 10 and hashed.truncated
    text = rkeys.read_value(client, b"long", max_bytes=100)
    assert text.truncated and text.items == [["x" * 100]]
    client.delete("long")
    with pytest.raises(rkeys.KeyGone):
        rkeys.read_value(client, b"long")


def test_policy_change_reaches_the_server(server: PrivateRedis) -> None:
    client = bytes_client(server)
    policy = rkeys.read_policy(client)
    assert "allkeys-lru" in policy.policies and policy.policy == "noeviction"
    changed = rkeys.set_policy(client, maxmemory="64mb", policy="allkeys-lfu")
    assert (changed.maxmemory_bytes, changed.policy) == (64 * 1024 * 1024, "allkeys-lfu")
    assert server.client().config_get("maxmemory-policy")["maxmemory-policy"] == "allkeys-lfu"
    for bad in ("-5", "lots", "12tb"):
        with pytest.raises(ValueError):
            rkeys.set_policy(client, maxmemory=bad, policy=None)
    with pytest.raises(ValueError, match="unknown policy"):
        rkeys.set_policy(client, maxmemory=None, policy="allkeys-mru")


def test_config_refused_is_said(private_redis: Callable[..., PrivateRedis]) -> None:
    server = private_redis("--rename-command", "CONFIG", "")
    with pytest.raises(rkeys.ConfigUnavailable, match="does not allow CONFIG"):
        rkeys.read_policy(bytes_client(server))


def test_keyspace_summary(server: PrivateRedis) -> None:
    client = bytes_client(server)
    client.mset({f"a:{i}": "v" for i in range(300)})
    client.mset({f"b:{i}": "w" * 100 for i in range(100)})
    for i in range(50):
        client.set(f"t:{i}", "x", ex=30)
    client.set("plain", "y" * 5000)
    progress: list[tuple[int, int]] = []
    summary = rkeys.keyspace_summary(client, progress=lambda n, total: progress.append((n, total)))
    assert summary.complete and summary.sampled == summary.total_keys == 451
    prefixes = {row["prefix"]: row["keys"] for row in summary.prefixes}
    assert prefixes == {"a:": 300, "b:": 100, "t:": 50, "(no prefix)": 1}
    assert summary.biggest[0]["key"] == "plain"
    assert summary.without_ttl == 401 and summary.ttl_distribution["< 1 min"] == 50
    assert progress[-1][0] == 451


def test_eviction_candidates_least_recently_used_first(server: PrivateRedis) -> None:
    client = bytes_client(server)
    client.mset({f"e:{i}": "v" for i in range(20)})
    for i in range(10):
        client.get(f"e:{i}")  # touched: idle 0
    rows = rkeys.idle_candidates(client, "e:*")
    assert len(rows) == 20
    assert rows[0].idle_seconds >= rows[-1].idle_seconds
