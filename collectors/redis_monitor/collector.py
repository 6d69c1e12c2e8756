"""Redis servers: INFO counters as rates and gauges, the keyspace, the maxmemory policy, SLOWLOG entries.

Read only: the key tools that write to Redis live in ``keys``.

A target is a redis URL; ``?name=cache`` names it (stripped before connecting), otherwise its name is
``host:port/db``. Passwords never appear in names or messages.

Counters in INFO (commands processed, keyspace hits and misses, evicted and expired keys) are
server-wide totals since the server started, so the collector keeps the previous reading and reports
what happened in the interval. A counter that went backwards, or a new ``run_id``, means the server
restarted: that interval is skipped rather than reported as a negative or a huge jump.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import parse_qsl, urlencode, urlsplit

import redis
from redis.backoff import NoBackoff
from redis.exceptions import InvalidResponse, NoPermissionError
from redis.retry import Retry

from collectors.base import Collection, Reading, guarded

__all__ = [
    "REDIS_METRICS",
    "CacheSnapshot",
    "Probe",
    "ProbeError",
    "RedisCollection",
    "RedisCollector",
    "RedisTarget",
    "SlowlogEntry",
    "describe_error",
    "info_readings",
    "parse_target",
    "probe",
]

log = logging.getLogger("vitals.collectors.redis")

# The catalog of what this collector emits: name -> (unit, description). Every series has {target}.
REDIS_METRICS: dict[str, tuple[str, str]] = {
    "redis.up": ("", "1 when the Redis {target} answered this collection, 0 when it did not"),
    "redis.ops_per_second": ("ops/s", "Commands processed per second"),
    "redis.hit_rate_percent": (
        "%",
        "Key lookups that found the key, over the interval (none without lookups)",
    ),
    "redis.memory.used_bytes": ("B", "Memory used by Redis (used_memory)"),
    "redis.memory.max_bytes": ("B", "The maxmemory limit (only when one is set)"),
    "redis.memory.percent": ("%", "Memory used as a share of maxmemory (only when one is set)"),
    "redis.memory.fragmentation_ratio": ("", "RSS / used memory (mem_fragmentation_ratio)"),
    "redis.evicted_keys": ("", "Keys evicted by the maxmemory policy since the previous collection"),
    "redis.expired_keys": ("", "Keys expired since the previous collection"),
    "redis.clients.connected": ("", "Client connections"),
    "redis.clients.blocked": ("", "Clients blocked in BLPOP, XREAD, WAIT and the like"),
    "redis.keys": ("", "Keys per {db}"),
    "redis.expires": ("", "Keys with a time to live per {db}"),
}

DEFAULT_TIMEOUT_SECONDS = 3.0
# Newest slowlog entries read per cycle; the server keeps slowlog-max-len (128 by default).
SLOWLOG_MAX_READ = 1024
# The INFO fields kept in each cache_stats row: enough to explain a chart, small enough to store often.
_INFO_KEPT = (
    "redis_version",
    "run_id",
    "role",
    "uptime_in_seconds",
    "used_memory",
    "used_memory_rss",
    "used_memory_peak",
    "maxmemory",
    "maxmemory_policy",
    "mem_fragmentation_ratio",
    "connected_clients",
    "blocked_clients",
    "total_commands_processed",
    "keyspace_hits",
    "keyspace_misses",
    "evicted_keys",
    "expired_keys",
)


# -- targets --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RedisTarget:
    """A monitored server: its display name and the URL to connect with (``name=`` removed)."""

    name: str
    url: str


def parse_target(url: str) -> RedisTarget:
    """Split ``?name=`` off a redis URL; without it the name is ``host:port/db`` (or ``socket/db``)."""
    url = url.strip()
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    names = [value for key, value in query if key == "name" and value]
    kept = [(key, value) for key, value in query if key != "name"]
    # Rebuild only the query: urlunsplit would turn "unix:///path" into "unix:/path".
    connect_url = url.split("?", 1)[0] + (f"?{urlencode(kept)}" if kept else "")
    name = names[-1] if names else _default_name(parts.scheme, parts, dict(kept))
    return RedisTarget(name=name, url=connect_url)


def _default_name(scheme: str, parts: Any, query: Mapping[str, str]) -> str:
    if scheme == "unix":
        return f"{parts.path}/{query.get('db', '0')}"
    db = parts.path.strip("/") or query.get("db", "0")
    return f"{parts.hostname or 'localhost'}:{parts.port or 6379}/{db}"


def _client(url: str, timeout: float, client_name: str | None = "vitals") -> redis.Redis:
    # One quick retry reconnects after a server restart dropped the pooled connection; redis-py's
    # default (10 retries with backoff) would stall a cycle for seconds on a target that is down.
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
        client_name=client_name,  # shows in CLIENT LIST and slowlog entries as "vitals"
        decode_responses=True,
    )


# -- probe ----------------------------------------------------------------------------------------

ProbeError = Literal["unreachable", "auth_failed", "other"]


@dataclass(frozen=True)
class Probe:
    """The answer of ``probe``. Stable: health checks are built on it.

    ``ok``: the server answered PING. ``message``: one line saying what is wrong, starting with
    ``unreachable:``, ``authentication failed:`` or ``error:`` (or ``ok:`` with the version).
    ``latency_ms``: how long connect + PING took, or how long it took to fail.
    ``error``: the kind of failure (``unreachable``, ``auth_failed``, ``other``), None when ok.
    """

    ok: bool
    message: str
    latency_ms: float
    error: ProbeError | None = None


def probe(url: str, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> Probe:
    """Connect to ``url`` afresh and PING it; never raises, says exactly what went wrong."""
    target = parse_target(url)
    started = time.perf_counter()
    # No CLIENT SETNAME here: an ACL that denies it must not make a live server look broken.
    client = _client(target.url, timeout, client_name=None)
    try:
        client.ping()
        version = client.info("server").get("redis_version", "?")
    except Exception as exc:  # any failure is an answer, not an exception
        kind, message = describe_error(exc)
        return Probe(False, f"{message} ({target.name})", _elapsed_ms(started), kind)
    finally:
        client.close()
    return Probe(True, f"ok: Redis {version} at {target.name}", _elapsed_ms(started))


def describe_error(exc: BaseException) -> tuple[ProbeError, str]:
    """Name a redis-py failure the way an operator would: unreachable, authentication failed, other."""
    text = str(exc).strip() or type(exc).__name__
    if isinstance(exc, redis.AuthenticationError):  # before ConnectionError: it is a subclass
        upper = text.upper()
        # NOAUTH comes as "Authentication required." or, when the connection starts with HELLO,
        # "HELLO must be called with the client already authenticated...".
        if any(sign in upper for sign in ("NOAUTH", "AUTHENTICATION REQUIRED", "ALREADY AUTHENTICATED")):
            return "auth_failed", f"authentication failed: the server requires a password (NOAUTH): {text}"
        if "WITHOUT ANY PASSWORD" in upper or "NO PASSWORD IS SET" in upper:
            return (
                "auth_failed",
                f"authentication failed: a password was given but the server has none: {text}",
            )
        return "auth_failed", f"authentication failed: wrong user name or password: {text}"
    if isinstance(exc, redis.ResponseError) and text.upper().startswith("NOAUTH"):
        return "auth_failed", f"authentication failed: the server requires a password (NOAUTH): {text}"
    if "max number of clients" in text.lower():  # reachable, but full: not the network's fault
        return "other", f"error: too many clients (maxclients reached): {text}"
    if isinstance(exc, redis.TimeoutError):
        return "unreachable", f"unreachable: timed out: {text}"
    if isinstance(exc, redis.ConnectionError | OSError):
        return "unreachable", f"unreachable: {text}"
    if isinstance(exc, InvalidResponse):
        return "other", f"error: not a Redis server (protocol error): {text}"
    if isinstance(exc, NoPermissionError):
        return "other", f"error: permission denied (ACL): {text}"
    return "other", f"error: {type(exc).__name__}: {text}"


def _elapsed_ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)


# -- records ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class SlowlogEntry:
    """One SLOWLOG entry. ``entry_id`` restarts at 0 when the server restarts; ``run_id`` tells runs apart."""

    entry_id: int
    run_id: str
    ts: datetime
    duration_us: int
    command: str
    client: str | None


@dataclass(frozen=True)
class CacheSnapshot:
    """What a cache_stats row holds: the maxmemory policy, keys per db and a few INFO fields."""

    maxmemory_policy: str | None
    keys_per_db: dict[str, dict[str, int]]
    info: dict[str, Any]


@dataclass
class RedisCollection(Collection):
    """One cycle of one target: readings, plus the cache_stats snapshot and new slowlog entries.
    When the target is down, ``errors`` says why and only ``redis.up`` 0 is read."""

    snapshot: CacheSnapshot | None = None
    slowlog: list[SlowlogEntry] = field(default_factory=list)

    @property
    def error(self) -> str | None:
        """Why the target could not be read (the first failure), or None."""
        return self.errors[0] if self.errors else None


# -- INFO -> readings (pure, so it is unit-tested with hand-made INFO dicts) ------------------------


@dataclass(frozen=True)
class Counters:
    """The cumulative INFO counters one interval's rates are computed from."""

    at: float  # monotonic seconds
    run_id: str
    commands: int
    hits: int
    misses: int
    evicted: int
    expired: int

    @classmethod
    def from_info(cls, info: Mapping[str, Any], at: float) -> Counters:
        return cls(
            at=at,
            run_id=str(info.get("run_id", "")),
            commands=int(info.get("total_commands_processed", 0)),
            hits=int(info.get("keyspace_hits", 0)),
            misses=int(info.get("keyspace_misses", 0)),
            evicted=int(info.get("evicted_keys", 0)),
            expired=int(info.get("expired_keys", 0)),
        )


def _reading(metric: str, value: float, target: str, **labels: str) -> Reading:
    return Reading(metric, float(value), {"target": target, **labels}, REDIS_METRICS[metric][0])


def gauge_readings(info: Mapping[str, Any], target: str) -> Iterator[Reading]:
    """Readings that need one INFO only: memory, clients, keys per db."""
    used = float(info.get("used_memory", 0))
    yield _reading("redis.memory.used_bytes", used, target)
    maxmemory = float(info.get("maxmemory", 0) or 0)
    if maxmemory > 0:  # 0 means "no limit": a percentage of nothing says nothing
        yield _reading("redis.memory.max_bytes", maxmemory, target)
        yield _reading("redis.memory.percent", 100.0 * used / maxmemory, target)
    if "mem_fragmentation_ratio" in info:
        yield _reading("redis.memory.fragmentation_ratio", float(info["mem_fragmentation_ratio"]), target)
    yield _reading("redis.clients.connected", float(info.get("connected_clients", 0)), target)
    yield _reading("redis.clients.blocked", float(info.get("blocked_clients", 0)), target)
    for db, stats in keyspace(info).items():
        yield _reading("redis.keys", stats.get("keys", 0), target, db=db)
        yield _reading("redis.expires", stats.get("expires", 0), target, db=db)


def keyspace(info: Mapping[str, Any]) -> dict[str, dict[str, int]]:
    """``{"0": {"keys": 12, "expires": 3, "avg_ttl": 0}, ...}`` from the ``dbN`` entries of INFO."""
    found: dict[str, dict[str, int]] = {}
    for key, value in info.items():
        if key.startswith("db") and key[2:].isdigit() and isinstance(value, Mapping):
            found[key[2:]] = {name: int(number) for name, number in value.items()}
    return dict(sorted(found.items(), key=lambda item: int(item[0])))


def rate_readings(previous: Counters | None, now: Counters, target: str) -> Iterator[Reading]:
    """What happened between two INFO readings; nothing on the first, or across a server restart."""
    if previous is None or previous.run_id != now.run_id:
        return
    elapsed = now.at - previous.at
    deltas = {
        "commands": now.commands - previous.commands,
        "hits": now.hits - previous.hits,
        "misses": now.misses - previous.misses,
        "evicted": now.evicted - previous.evicted,
        "expired": now.expired - previous.expired,
    }
    if elapsed <= 0 or min(deltas.values()) < 0:  # a counter went backwards: restarted, skip this interval
        return
    yield _reading("redis.ops_per_second", deltas["commands"] / elapsed, target)
    lookups = deltas["hits"] + deltas["misses"]
    if lookups > 0:
        yield _reading("redis.hit_rate_percent", 100.0 * deltas["hits"] / lookups, target)
    yield _reading("redis.evicted_keys", deltas["evicted"], target)
    yield _reading("redis.expired_keys", deltas["expired"], target)


def info_readings(
    info: Mapping[str, Any], previous: Counters | None, at: float, target: str
) -> tuple[list[Reading], Counters]:
    """All INFO readings of one collection, and the counters to keep for the next one."""
    now = Counters.from_info(info, at)
    readings = [*guarded("redis gauges", lambda: gauge_readings(info, target))]
    readings.extend(guarded("redis rates", lambda: rate_readings(previous, now, target)))
    return readings, now


def snapshot(info: Mapping[str, Any]) -> CacheSnapshot:
    """The cache_stats row of one collection."""
    policy = info.get("maxmemory_policy")
    kept = {key: info[key] for key in _INFO_KEPT if key in info}
    return CacheSnapshot(str(policy) if policy is not None else None, keyspace(info), kept)


def slowlog_entries(raw: Iterable[Mapping[str, Any]], run_id: str, after_id: int) -> list[SlowlogEntry]:
    """Parsed SLOWLOG GET entries newer than ``after_id`` (-1 for all), oldest first."""
    entries = []
    for item in raw:
        entry_id = int(item["id"])
        if entry_id <= after_id:
            continue
        command = item.get("command", "")
        if isinstance(command, bytes):
            command = command.decode("utf-8", "replace")
        # redis-py returns these two as bytes even with decode_responses=True.
        client = _decoded(item.get("client_address")) or None
        name = _decoded(item.get("client_name")) or ""
        entries.append(
            SlowlogEntry(
                entry_id=entry_id,
                run_id=run_id,
                ts=datetime.fromtimestamp(int(item["start_time"]), tz=UTC),
                duration_us=int(item["duration"]),
                command=str(command),
                client=f"{client} ({name})" if client and name else client,
            )
        )
    return sorted(entries, key=lambda entry: entry.entry_id)


def _decoded(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return "" if value is None else str(value)


# -- the collector ----------------------------------------------------------------------------------


class RedisCollector:
    """Reads one Redis target. Keep one per target (per process): it holds the previous counters."""

    def __init__(
        self,
        url: str,
        timeout: float = DEFAULT_TIMEOUT_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = parse_target(url)
        self._client = _client(self.target.url, timeout)
        self._clock = clock
        self._previous: Counters | None = None
        # (run_id, newest slowlog id stored): only newer entries are returned, so a cycle does not
        # re-send the whole slowlog; after a Vitals restart everything is re-sent and the store dedups.
        self._slowlog_seen: tuple[str, int] = ("", -1)

    @property
    def name(self) -> str:
        return self.target.name

    def close(self) -> None:
        self._client.close()

    def collect(self) -> RedisCollection:
        """One collection. A down target gives ``redis.up`` 0 and an ``error``, never an exception."""
        result = RedisCollection(target=self.name, at=datetime.now(UTC))
        try:
            info, raw_slowlog = self._read()
        except Exception as exc:  # the target is down or refuses us: report it, keep going
            result.errors.append(describe_error(exc)[1])
            result.readings.append(_reading("redis.up", 0, self.name))
            log.warning("redis %s: %s", self.name, result.error)
            return result
        result.readings.append(_reading("redis.up", 1, self.name))
        readings, self._previous = info_readings(info, self._previous, self._clock(), self.name)
        result.readings.extend(readings)
        result.snapshot = snapshot(info)
        result.slowlog = self._new_slowlog(raw_slowlog, str(info.get("run_id", "")))
        return result

    def _read(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        """INFO and SLOWLOG GET in one round trip on one connection.

        One connection means both answers come from the same server run, so slowlog ids are paired
        with the right ``run_id`` even if the server restarts around the collection. A failing
        SLOWLOG (denied by an ACL, say) costs only the slowlog; a failing INFO is raised.
        """
        pipe = self._client.pipeline(transaction=False)
        pipe.info("all")
        pipe.slowlog_get(SLOWLOG_MAX_READ)
        info, raw = pipe.execute(raise_on_error=False)
        if isinstance(info, Exception):
            raise info
        if isinstance(raw, Exception):
            log.warning("redis %s: slowlog not read: %s", self.name, raw)
            raw = []
        return info, raw

    def _new_slowlog(self, raw: list[dict[str, Any]], run_id: str) -> list[SlowlogEntry]:
        """The SLOWLOG entries not acknowledged yet, oldest first."""
        seen_run, seen_id = self._slowlog_seen
        # A new run_id means ids restarted at 0: everything in the log is new to us.
        return slowlog_entries(raw, run_id, seen_id if seen_run == run_id else -1)

    def acknowledge_slowlog(self, entries: Sequence[SlowlogEntry]) -> None:
        """Mark ``entries`` as stored, so later cycles do not return them again.

        Called by the job after the store took them: entries whose write failed are returned again
        by the next collection (Redis still has them), so an outage of the store loses none.
        """
        if entries:
            newest = max(entries, key=lambda entry: entry.entry_id)
            self._slowlog_seen = (newest.run_id, newest.entry_id)
