"""The key tools: SCAN browser, value viewer, keyspace summary, clears, flush and CONFIG.

This is the one module of Vitals that writes to a monitored Redis. Every function takes a redis-py
client (``connect``) and returns plain dataclasses; roles, audit and history are the caller's
(``tasks.actions.cache``).

Why it is built this way:

- never ``KEYS``: a SCAN page stops at a page size, a cap on the keys examined and a time budget,
  so a keyspace of millions of keys costs a handful of bounded round trips;
- keys are bytes (``decode_responses=False``): binary keys are real, and a key shown in the page
  must round-trip to the server exactly, so rows carry the key's hex as well as its text;
- clears use SCAN + UNLINK in batches on one connection: UNLINK frees memory in a background
  thread of Redis, so each batch costs Redis microseconds and other clients' latency stays flat;
  memory freed is estimated from ``MEMORY USAGE`` of a few keys per batch, pipelined with the UNLINK.
"""

from __future__ import annotations

import re
import time
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, cast
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from collectors.redis_monitor.collector import describe_error

__all__ = [
    "KEY_TYPES",
    "ClearOutcome",
    "ClearProgress",
    "ConfigUnavailable",
    "DryRun",
    "EvictionCandidate",
    "KeyGone",
    "KeyPage",
    "KeyRow",
    "KeyValue",
    "KeyspaceSummary",
    "MemoryPolicy",
    "TagNotFound",
    "clear_pattern",
    "clear_tag",
    "connect",
    "dry_run",
    "dry_run_tag",
    "evict_idle",
    "flush_db",
    "idle_candidates",
    "key_bytes",
    "key_text",
    "keyspace_summary",
    "memory_percent",
    "parse_memory_size",
    "read_policy",
    "read_value",
    "scan_page",
    "server_policies",
    "set_policy",
    "tag_set_name",
    "validate_clear_pattern",
    "validate_pattern",
]

KEY_TYPES = ("string", "hash", "list", "set", "zset", "stream")
# Policies of Redis 4..7, used when a server does not list its own (older error messages).
KNOWN_POLICIES = (
    "volatile-lru",
    "volatile-lfu",
    "volatile-random",
    "volatile-ttl",
    "allkeys-lru",
    "allkeys-lfu",
    "allkeys-random",
    "noeviction",
)
DEFAULT_TIMEOUT_SECONDS = 5.0
MAX_PATTERN_LENGTH = 512
# MEMORY USAGE ... SAMPLES n: nested values are estimated from n elements (Redis' own default is 5).
MEMORY_SAMPLES = 5
# Keys per clear batch: one SCAN COUNT and one UNLINK of at most this many keys.
CLEAR_BATCH = 1000
# Keys per batch whose MEMORY USAGE is read to estimate the memory a clear freed.
MEMORY_PROBES_PER_BATCH = 8
PROBE_EVERY_BATCHES = 10

_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_BINARY_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")  # not tab, newline, CR
Progress = Callable[["ClearProgress"], None]
Cancelled = Callable[[], bool]


class KeyGone(LookupError):
    """The key was deleted (or expired) between listing and opening."""


class TagNotFound(LookupError):
    """No tag set of that name exists."""


class ConfigUnavailable(RuntimeError):
    """The server refuses CONFIG (a managed Redis, a renamed command, an ACL)."""


# -- clients and keys --------------------------------------------------------------------------------


def connect(url: str, db: int | None = None, timeout: float = DEFAULT_TIMEOUT_SECONDS) -> redis.Redis:
    """A bytes client for ``url``; ``db`` replaces the URL's database (redis-py lets the URL win)."""
    if db is not None:
        url = with_db(url, db)
    return redis.Redis.from_url(
        url,
        socket_timeout=timeout,
        socket_connect_timeout=timeout,
        retry=Retry(NoBackoff(), 1),
        client_name="vitals-keys",
        decode_responses=False,
    )


def with_db(url: str, db: int) -> str:
    """``url`` pointing at database ``db`` (the path for redis://, the ``db`` query for unix://)."""
    parts = urlsplit(url)
    query = [(key, value) for key, value in parse_qsl(parts.query, keep_blank_values=True) if key != "db"]
    if parts.scheme == "unix":
        query.append(("db", str(db)))
        return url.split("?", 1)[0] + "?" + urlencode(query)
    return urlunsplit(parts._replace(path=f"/{db}", query=urlencode(query)))


def key_text(raw: bytes) -> str:
    """A key as shown to people: UTF-8 when it is, else ``\\xNN`` escapes for the odd bytes."""
    text = raw.decode("utf-8", "backslashreplace")
    # Control characters (NUL, newline, ESC) would be invisible or break a table row: escape them too.
    return _CONTROL.sub(lambda found: f"\\x{ord(found.group()):02x}", text)


def key_bytes(hex_or_text: str, *, is_hex: bool) -> bytes:
    """The key's exact bytes, from the hex a browser row carries or from text typed by a person."""
    return bytes.fromhex(hex_or_text) if is_hex else hex_or_text.encode("utf-8")


def validate_pattern(pattern: str) -> str:
    """A usable SCAN MATCH glob, or ValueError saying what is wrong with it."""
    if not pattern:
        raise ValueError("the pattern is empty")
    if len(pattern) > MAX_PATTERN_LENGTH:
        raise ValueError(f"the pattern is longer than {MAX_PATTERN_LENGTH} characters")
    if any(ord(char) < 32 for char in pattern):
        raise ValueError("the pattern contains a control character (a newline or tab?)")
    escaped = False
    in_class = False
    for char in pattern:
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
    if escaped:
        raise ValueError("the pattern ends with a lone backslash")
    if in_class:
        raise ValueError("the pattern has a '[' without its closing ']'")
    return pattern


def validate_clear_pattern(pattern: str) -> str:
    """``validate_pattern``, and refuse patterns that match every key: that is a flush, not a clear."""
    validate_pattern(pattern.strip() if pattern else pattern)
    if set(pattern) <= {"*"}:
        raise ValueError("this pattern matches every key: use Flush database for that")
    return pattern


# -- the browser ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class KeyRow:
    key: str  # for people (see key_text)
    key_hex: str  # the exact bytes, to open or delete this key
    type: str
    ttl_seconds: float | None  # None: no expiry
    size: int | None  # length / cardinality / bytes of a string
    memory_bytes: int | None


@dataclass(frozen=True)
class KeyPage:
    rows: list[KeyRow]
    cursor: int  # next cursor; 0 when the scan went all the way round
    examined: int  # slots SCAN was asked to look at (the sum of COUNTs)
    elapsed_ms: float
    stopped: Literal["page", "cap", "time", "end"]

    @property
    def complete(self) -> bool:
        return self.cursor == 0


def scan_page(
    client: redis.Redis,
    *,
    pattern: str = "*",
    cursor: int = 0,
    type_filter: str | None = None,
    page_size: int = 100,
    max_examined: int = 20_000,
    time_budget_s: float = 0.5,
    with_memory: bool = True,
) -> KeyPage:
    """One page of the key browser, from ``cursor``: at most about ``page_size`` keys.

    Stops at ``page_size`` keys, after ``max_examined`` slots, or when ``time_budget_s`` has passed,
    whichever comes first; the returned cursor continues where this page stopped.
    """
    validate_pattern(pattern)
    if type_filter is not None and type_filter not in KEY_TYPES:
        raise ValueError(f"unknown type {type_filter!r}; one of {', '.join(KEY_TYPES)}")
    started = time.perf_counter()
    count = max(10, min(page_size, 1000))
    found: list[bytes] = []
    examined = 0
    stopped: Literal["page", "cap", "time", "end"] = "end"
    while True:
        cursor, batch = _scan(client, cursor, pattern, count, type_filter)
        examined += count
        found.extend(batch)
        if cursor == 0:
            stopped = "end"
            break
        if len(found) >= page_size:
            stopped = "page"
            break
        if examined >= max_examined:
            stopped = "cap"
            break
        if time.perf_counter() - started > time_budget_s:
            stopped = "time"
            break
    rows = describe_keys(client, found, with_memory=with_memory)
    return KeyPage(rows, int(cursor), examined, _ms(started), stopped)


_SIZE_COMMAND = {
    "string": "STRLEN",
    "hash": "HLEN",
    "list": "LLEN",
    "set": "SCARD",
    "zset": "ZCARD",
    "stream": "XLEN",
}


def describe_keys(client: redis.Redis, keys: Sequence[bytes], *, with_memory: bool = True) -> list[KeyRow]:
    """Type, TTL, size and memory of each key, in two pipelined round trips; vanished keys are left out."""
    if not keys:
        return []
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.type(key)
        pipe.pttl(key)
        if with_memory:
            pipe.execute_command("MEMORY USAGE", key, "SAMPLES", MEMORY_SAMPLES)
    answers = pipe.execute(raise_on_error=False)
    step = 3 if with_memory else 2
    typed = []
    for index, key in enumerate(keys):
        kind = _text(answers[index * step])
        if kind == "none" or isinstance(answers[index * step], Exception):
            continue  # expired or deleted since SCAN returned it
        pttl = answers[index * step + 1]
        memory = answers[index * step + 2] if with_memory else None
        typed.append((key, kind, pttl, memory))
    pipe = client.pipeline(transaction=False)
    for key, kind, _pttl, _memory in typed:
        pipe.execute_command(_SIZE_COMMAND.get(kind, "EXISTS"), key)
    sizes = pipe.execute(raise_on_error=False)
    rows = []
    for (key, kind, pttl, memory), size in zip(typed, sizes, strict=True):
        rows.append(
            KeyRow(
                key=key_text(key),
                key_hex=key.hex(),
                type=kind,
                ttl_seconds=pttl / 1000.0 if isinstance(pttl, int) and pttl >= 0 else None,
                size=size if isinstance(size, int) else None,
                memory_bytes=memory if isinstance(memory, int) else None,
            )
        )
    return rows


@dataclass(frozen=True)
class KeyValue:
    key: str
    type: str
    ttl_seconds: float | None
    size: int | None
    # Strings: one item (text or hex). Hash: [field, value]; zset: [member, score]; list/set: [member].
    items: list[list[str]]
    truncated: bool
    binary: bool  # some bytes were not UTF-8 and are shown as hex


def read_value(client: redis.Redis, key: bytes, *, max_items: int = 100, max_bytes: int = 4096) -> KeyValue:
    """The first ``max_items`` members (strings: the first ``max_bytes``) of a key; KeyGone if absent."""
    api: Any = client  # redis-py's unions (sync or async, str or bytes) say nothing useful here
    kind = _text(api.type(key))
    if kind == "none":
        raise KeyGone(f"the key {key_text(key)!r} no longer exists (deleted or expired)")
    pttl = api.pttl(key)
    ttl = pttl / 1000.0 if isinstance(pttl, int) and pttl >= 0 else None
    binary = False

    def show(raw: Any) -> str:
        nonlocal binary
        if isinstance(raw, bytes):
            try:
                text = raw.decode("utf-8")
            except UnicodeDecodeError:
                text = None
            # Valid UTF-8 full of control bytes is binary data too (serialized objects, compressed).
            if text is None or _BINARY_CONTROL.search(text):
                binary = True
                return raw.hex(" ")
            return text
        return str(raw)

    items: list[list[str]]
    truncated = False
    size: int | None
    if kind == "string":
        size = int(api.strlen(key))
        raw = api.getrange(key, 0, max_bytes - 1)
        truncated = size > max_bytes
        items = [[show(raw)]]
    elif kind == "hash":
        size = int(api.hlen(key))
        _, found = api.hscan(key, 0, count=max_items)
        items = [[show(name), show(value)] for name, value in list(found.items())[:max_items]]
    elif kind == "list":
        size = int(api.llen(key))
        items = [[show(member)] for member in api.lrange(key, 0, max_items - 1)]
    elif kind == "set":
        size = int(api.scard(key))
        _, members = api.sscan(key, 0, count=max_items)
        items = [[show(member)] for member in members[:max_items]]
    elif kind == "zset":
        size = int(api.zcard(key))
        items = [[show(m), repr(s)] for m, s in api.zrange(key, 0, max_items - 1, withscores=True)]
    elif kind == "stream":
        size = int(api.xlen(key))
        items = [
            [show(entry_id), ", ".join(f"{show(k)}={show(v)}" for k, v in fields.items())]
            for entry_id, fields in api.xrange(key, count=max_items)
        ]
    else:
        size, items = None, []
    if size is not None and kind != "string":
        truncated = size > len(items)
    return KeyValue(key_text(key), kind, ttl, size, items, truncated, binary)


# -- keyspace summary -----------------------------------------------------------------------------

TTL_BUCKETS = (
    ("no TTL", None),
    ("< 1 min", 60.0),
    ("< 1 h", 3600.0),
    ("< 1 day", 86_400.0),
    ("< 7 days", 604_800.0),
    (">= 7 days", float("inf")),
)


@dataclass
class KeyspaceSummary:
    """What a sampled scan saw: prefixes, biggest keys, TTLs. ``sampled`` of ``total_keys`` keys."""

    total_keys: int
    sampled: int = 0
    complete: bool = False
    prefixes: list[dict[str, Any]] = field(default_factory=list)  # prefix, keys, memory_bytes
    biggest: list[dict[str, Any]] = field(default_factory=list)  # key, type, memory_bytes
    without_ttl: int = 0
    ttl_distribution: dict[str, int] = field(default_factory=dict)
    types: dict[str, int] = field(default_factory=dict)


def keyspace_summary(
    client: redis.Redis,
    *,
    max_keys: int = 50_000,
    delimiter: str = ":",
    top: int = 20,
    progress: Callable[[int, int], None] | None = None,
    cancelled: Cancelled | None = None,
) -> KeyspaceSummary:
    """Scan up to ``max_keys`` keys in pages and summarise them (progress: sampled, total)."""
    total = int(client.dbsize())
    summary = KeyspaceSummary(total_keys=total)
    counts: Counter[str] = Counter()
    memory: Counter[str] = Counter()
    types: Counter[str] = Counter()
    ttls: Counter[str] = Counter({name: 0 for name, _ in TTL_BUCKETS})
    biggest: list[tuple[int, str, str]] = []
    cursor = 0
    while True:
        page = scan_page(client, cursor=cursor, page_size=500, max_examined=500, time_budget_s=5.0)
        for row in page.rows:
            prefix = row.key.split(delimiter, 1)[0] + delimiter if delimiter in row.key else "(no prefix)"
            counts[prefix] += 1
            memory[prefix] += row.memory_bytes or 0
            types[row.type] += 1
            ttls[_ttl_bucket(row.ttl_seconds)] += 1
            biggest.append((row.memory_bytes or 0, row.key, row.type))
        biggest = sorted(biggest, reverse=True)[:top]
        summary.sampled += len(page.rows)
        cursor = page.cursor
        if progress is not None:
            progress(summary.sampled, min(total, max_keys))
        if cursor == 0:
            summary.complete = True
            break
        if summary.sampled >= max_keys or (cancelled is not None and cancelled()):
            break
    summary.prefixes = [
        {"prefix": prefix, "keys": keys, "memory_bytes": memory[prefix]}
        for prefix, keys in counts.most_common(top)
    ]
    summary.biggest = [{"key": key, "type": kind, "memory_bytes": size} for size, key, kind in biggest]
    summary.without_ttl = ttls["no TTL"]
    summary.ttl_distribution = dict(ttls)
    summary.types = dict(types)
    return summary


def _ttl_bucket(ttl: float | None) -> str:
    if ttl is None:
        return "no TTL"
    for name, limit in TTL_BUCKETS[1:]:
        if limit is not None and ttl < limit:
            return name
    return TTL_BUCKETS[-1][0]


# -- dry runs and clears --------------------------------------------------------------------------


@dataclass(frozen=True)
class DryRun:
    """What a clear would touch: matches found by a (possibly capped) scan, a sample, their memory."""

    matches: int
    sample: list[str]
    memory_bytes: int  # estimated from up to ``memory_sampled`` keys
    memory_sampled: int
    scanned: int  # keys SCAN walked over (the db's key count when complete)
    complete: bool  # False: the scan stopped at its cap, matches is a lower bound


def dry_run(
    client: redis.Redis, pattern: str, *, max_examined: int = 1_000_000, sample_size: int = 20
) -> DryRun:
    """Count the keys ``pattern`` matches without touching them."""
    validate_clear_pattern(pattern)
    cursor, examined, matches = 0, 0, 0
    sample: list[bytes] = []
    probes: list[bytes] = []
    while True:
        cursor, batch = _scan(client, cursor, pattern, CLEAR_BATCH)
        examined += CLEAR_BATCH
        matches += len(batch)
        if len(sample) < sample_size:
            sample.extend(batch[: sample_size - len(sample)])
        if len(probes) < 200:
            probes.extend(batch[: MEMORY_PROBES_PER_BATCH * 5])
        if cursor == 0 or examined >= max_examined:
            break
    complete = cursor == 0
    memory, probed = _memory_of(client, probes[:200])
    estimate = int(memory / probed * matches) if probed else 0
    scanned = int(client.dbsize()) if complete else examined
    return DryRun(matches, [key_text(k) for k in sample], estimate, probed, scanned, complete)


def _memory_of(client: redis.Redis, keys: Sequence[bytes]) -> tuple[int, int]:
    """(bytes, keys that answered) of MEMORY USAGE over ``keys``."""
    if not keys:
        return 0, 0
    pipe = client.pipeline(transaction=False)
    for key in keys:
        pipe.execute_command("MEMORY USAGE", key, "SAMPLES", MEMORY_SAMPLES)
    answers = [value for value in pipe.execute(raise_on_error=False) if isinstance(value, int)]
    return sum(answers), len(answers)


@dataclass
class ClearProgress:
    """A running clear, reported after every batch (and the final outcome's body)."""

    scanned: int = 0  # SCAN slots walked (approximately keys examined)
    removed: int = 0
    memory_freed_bytes: int = 0  # estimated (MEMORY USAGE of a few keys every few batches)
    batches: int = 0
    probed_bytes: int = 0  # what the sampled keys held...
    probed_keys: int = 0  # ...and how many were sampled


@dataclass
class ClearOutcome(ClearProgress):
    # done: nothing left to match; cap: stopped at the key cap; cancelled; error: Redis failed mid-way
    stopped: Literal["done", "cap", "cancelled", "error"] = "done"
    error: str | None = None


def clear_pattern(
    client: redis.Redis,
    pattern: str,
    *,
    max_keys: int = 1_000_000,
    batch: int = CLEAR_BATCH,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
) -> ClearOutcome:
    """Remove the keys matching ``pattern`` with SCAN + UNLINK in batches, at most ``max_keys``.

    Never raises for a Redis failure mid-way: the outcome says how far it got (``stopped="error"``).
    """
    validate_clear_pattern(pattern)
    outcome = ClearOutcome()
    cursor = 0
    try:
        while True:
            if cancelled is not None and cancelled():
                outcome.stopped = "cancelled"
                break
            cursor, keys = _scan(client, cursor, pattern, batch)
            outcome.scanned += batch
            if keys:
                room = max_keys - outcome.removed
                _unlink_batch(client, keys[:room], outcome)
                if len(keys) >= room:
                    outcome.stopped = "cap" if (cursor != 0 or len(keys) > room) else "done"
                    break
            if progress is not None:
                progress(outcome)
            if cursor == 0:
                break
    except redis.RedisError as exc:
        outcome.stopped = "error"
        outcome.error = _describe(exc)
    if progress is not None:
        progress(outcome)
    return outcome


def _unlink_batch(client: redis.Redis, keys: Sequence[bytes], outcome: ClearProgress) -> None:
    """UNLINK ``keys`` in one round trip; every PROBE_EVERY_BATCHES batches, MEMORY USAGE of a few
    of them rides in the same pipeline, so the memory freed is an estimate that costs no round trip
    (and no Python pipeline overhead on the other batches: a clear runs as fast as a bare loop)."""
    if not keys:
        return
    if outcome.batches % PROBE_EVERY_BATCHES == 0:
        probes = keys[:: max(1, len(keys) // MEMORY_PROBES_PER_BATCH)][:MEMORY_PROBES_PER_BATCH]
        pipe = client.pipeline(transaction=False)
        for key in probes:
            pipe.execute_command("MEMORY USAGE", key, "SAMPLES", MEMORY_SAMPLES)
        pipe.unlink(*keys)
        answers = pipe.execute()
        removed = int(answers[-1])
        sizes = [value for value in answers[:-1] if isinstance(value, int)]
        outcome.probed_bytes += sum(sizes)
        outcome.probed_keys += len(sizes)
    else:
        removed = int(client.unlink(*keys))
    outcome.removed += removed
    outcome.batches += 1
    if outcome.probed_keys:
        outcome.memory_freed_bytes = int(outcome.probed_bytes / outcome.probed_keys * outcome.removed)


# -- tags -----------------------------------------------------------------------------------------


def tag_set_name(template: str, tag: str) -> str:
    """The tag set's key from the configured template (``{tag}`` is replaced by the tag's name)."""
    if not tag or any(ord(char) < 32 for char in tag):
        raise ValueError("the tag is empty or contains a control character")
    if "{tag}" not in template:
        raise ValueError("the tag set template has no {tag} placeholder")
    return template.replace("{tag}", tag)


def _tag_members(client: redis.Redis, tag_key: str, batch: int) -> Iterable[list[bytes]]:
    api: Any = client  # members are bytes: this module's clients never decode
    kind = _text(api.type(tag_key))
    if kind == "none":
        raise TagNotFound(f"no tag set {tag_key!r}")
    if kind == "set":
        cursor = 0
        while True:
            cursor, members = api.sscan(tag_key, cursor, count=batch)
            if members:
                yield list(members)
            if cursor == 0:
                return
    elif kind == "zset":
        cursor = 0
        while True:
            cursor, pairs = api.zscan(tag_key, cursor, count=batch)
            if pairs:
                yield [member for member, _score in pairs]
            if cursor == 0:
                return
    else:
        raise TagNotFound(f"{tag_key!r} is a {kind}, not a set or sorted set of keys")


def dry_run_tag(client: redis.Redis, tag_key: str, *, prefix: str = "", sample_size: int = 20) -> DryRun:
    """What clearing a tag would remove: the existing keys its set lists (plus the set itself)."""
    listed: list[bytes] = []
    for members in _tag_members(client, tag_key, CLEAR_BATCH):
        listed.extend(prefix.encode() + member for member in members)
    pipe = client.pipeline(transaction=False)
    for key in listed:
        pipe.exists(key)
    present = [key for key, there in zip(listed, pipe.execute(), strict=True) if there] if listed else []
    memory, probed = _memory_of(client, present[:200])
    estimate = int(memory / probed * len(present)) if probed else 0
    return DryRun(
        len(present), [key_text(k) for k in present[:sample_size]], estimate, probed, len(listed), True
    )


def clear_tag(
    client: redis.Redis,
    tag_key: str,
    *,
    prefix: str = "",
    max_keys: int = 1_000_000,
    progress: Progress | None = None,
    cancelled: Cancelled | None = None,
) -> ClearOutcome:
    """UNLINK the keys a tag set lists (``prefix`` + member), then the set itself once all are gone."""
    outcome = ClearOutcome()
    try:
        for members in _tag_members(client, tag_key, CLEAR_BATCH):
            if cancelled is not None and cancelled():
                outcome.stopped = "cancelled"
                break
            room = max_keys - outcome.removed
            outcome.scanned += len(members)
            _unlink_batch(client, [prefix.encode() + member for member in members[:room]], outcome)
            if progress is not None:
                progress(outcome)
            if len(members) >= room:
                outcome.stopped = "cap"
                break
        if outcome.stopped == "done":
            client.unlink(tag_key)
    except redis.RedisError as exc:
        outcome.stopped = "error"
        outcome.error = _describe(exc)
    if progress is not None:
        progress(outcome)
    return outcome


def flush_db(client: redis.Redis) -> int:
    """FLUSHDB ASYNC; returns how many keys the database held."""
    keys = int(client.dbsize())
    client.flushdb(asynchronous=True)
    return keys


# -- memory policy --------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemoryPolicy:
    maxmemory_bytes: int  # 0: no limit
    policy: str
    policies: tuple[str, ...]  # what this server accepts
    used_memory_bytes: int


_SIZE = re.compile(r"^\s*(\d+)\s*(b|k|kb|m|mb|g|gb)?\s*$", re.IGNORECASE)
_UNITS = {
    None: 1,
    "b": 1,
    "k": 1000,
    "kb": 1024,
    "m": 1000**2,
    "mb": 1024**2,
    "g": 1000**3,
    "gb": 1024**3,
}


def parse_memory_size(text: str) -> int:
    """Bytes from Redis' own size syntax (``512mb``, ``1gb``, ``100000``; ``0`` is no limit)."""
    found = _SIZE.match(str(text))
    if not found:
        if str(text).strip().startswith("-"):
            raise ValueError("maxmemory cannot be negative")
        raise ValueError(f"{text!r} is not a size: use a number of bytes or e.g. 512mb, 2gb")
    unit = found.group(2).lower() if found.group(2) else None
    return int(found.group(1)) * _UNITS[unit]


def _config(client: redis.Redis, call: Callable[[], Any]) -> Any:
    try:
        return call()
    except (redis.exceptions.NoPermissionError, redis.exceptions.ResponseError) as exc:
        text = str(exc)
        if isinstance(exc, redis.exceptions.NoPermissionError) or "unknown command" in text.lower():
            raise ConfigUnavailable(
                f"this server does not allow CONFIG (a managed Redis or a renamed command): {text}"
            ) from exc
        raise


def server_policies(client: redis.Redis) -> tuple[str, ...]:
    """The policies this server accepts, as it lists them itself.

    Redis 7 answers an invalid ``CONFIG SET maxmemory-policy`` with the list of valid values; that
    is the server's own list (a fork or a future version may add some). Older servers do not list
    them: the policies of Redis 4..7 are assumed then.
    """
    try:
        _config(client, lambda: client.config_set("maxmemory-policy", "vitals-probe-not-a-policy"))
    except redis.exceptions.ResponseError as exc:
        text = str(exc)
        marker = "must be one of the following:"
        if marker in text:
            names = tuple(name.strip() for name in text.split(marker, 1)[1].split(",") if name.strip())
            if names:
                return names
        return KNOWN_POLICIES
    return KNOWN_POLICIES  # pragma: no cover - no server accepts that name


def read_policy(client: redis.Redis) -> MemoryPolicy:
    """maxmemory and maxmemory-policy (CONFIG GET); ConfigUnavailable when CONFIG is refused."""
    found = _config(client, lambda: client.config_get("maxmemory*"))
    values = {_text(k): _text(v) for k, v in found.items()}
    used = int(client.info("memory").get("used_memory", 0))
    return MemoryPolicy(
        maxmemory_bytes=int(values.get("maxmemory", "0") or 0),
        policy=values.get("maxmemory-policy", "?"),
        policies=server_policies(client),
        used_memory_bytes=used,
    )


def set_policy(client: redis.Redis, *, maxmemory: str | int | None, policy: str | None) -> MemoryPolicy:
    """CONFIG SET the given values after validating them; the policy as the server now has it."""
    if maxmemory is not None:
        size = maxmemory if isinstance(maxmemory, int) else parse_memory_size(maxmemory)
        if size < 0:
            raise ValueError("maxmemory cannot be negative")
    if policy is not None:
        allowed = server_policies(client)
        if policy not in allowed:
            raise ValueError(f"unknown policy {policy!r}; this server accepts {', '.join(allowed)}")
    if maxmemory is not None:
        _config(client, lambda: client.config_set("maxmemory", size))
    if policy is not None:
        _config(client, lambda: client.config_set("maxmemory-policy", policy))
    return read_policy(client)


# -- eviction rules -------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvictionCandidate:
    key: str
    key_hex: str
    idle_seconds: int
    memory_bytes: int


def memory_percent(client: redis.Redis) -> float | None:
    """used_memory as % of maxmemory; None without a limit."""
    info = client.info("memory")
    limit = int(info.get("maxmemory", 0) or 0)
    return 100.0 * int(info.get("used_memory", 0)) / limit if limit else None


def idle_candidates(
    client: redis.Redis, pattern: str, *, sample: int = 5000, max_examined: int = 200_000
) -> list[EvictionCandidate]:
    """Up to ``sample`` keys matching ``pattern``, least recently used first (OBJECT IDLETIME)."""
    validate_clear_pattern(pattern)
    found: list[bytes] = []
    cursor, examined = 0, 0
    while len(found) < sample:
        cursor, batch = _scan(client, cursor, pattern, CLEAR_BATCH)
        examined += CLEAR_BATCH
        found.extend(batch)
        if cursor == 0 or examined >= max_examined:
            break
    found = found[:sample]
    if not found:
        return []
    pipe = client.pipeline(transaction=False)
    for key in found:
        pipe.object("idletime", key)
        pipe.execute_command("MEMORY USAGE", key, "SAMPLES", MEMORY_SAMPLES)
    answers = pipe.execute(raise_on_error=False)
    rows = []
    for index, key in enumerate(found):
        idle, memory = answers[2 * index], answers[2 * index + 1]
        if isinstance(idle, int):
            rows.append(
                EvictionCandidate(key_text(key), key.hex(), idle, memory if isinstance(memory, int) else 0)
            )
    return sorted(rows, key=lambda row: row.idle_seconds, reverse=True)


def evict_idle(
    client: redis.Redis, candidates: Sequence[EvictionCandidate], *, target_percent: float, batch: int = 100
) -> ClearOutcome:
    """UNLINK ``candidates`` in order, a batch at a time, until memory use is at most ``target_percent``."""
    outcome = ClearOutcome()
    try:
        for start in range(0, len(candidates), batch):
            current = memory_percent(client)
            if current is None or current <= target_percent:
                break
            keys = [bytes.fromhex(row.key_hex) for row in candidates[start : start + batch]]
            outcome.scanned += len(keys)
            _unlink_batch(client, keys, outcome)
    except redis.RedisError as exc:
        outcome.stopped = "error"
        outcome.error = _describe(exc)
    return outcome


# -- helpers --------------------------------------------------------------------------------------


def _scan(
    client: redis.Redis, cursor: int, pattern: str, count: int, type_filter: str | None = None
) -> tuple[int, list[bytes]]:
    """SCAN once (typed: this module's clients return bytes)."""
    found, batch = client.scan(cursor=cursor, match=pattern, count=count, _type=type_filter)
    return int(found), cast(list[bytes], batch)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000.0, 3)


def _describe(exc: BaseException) -> str:
    return describe_error(exc)[1]
