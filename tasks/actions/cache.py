"""Cache actions: every read of keys and every change to a monitored Redis, role-checked and audited.

The Cache page and the REST routes call these and nothing else; the role check is here, on the
server, so a hand-posted callback gets the same refusal as the disabled button explains.

Roles: viewers may browse key names, read the memory policy and the history; operators open values,
run dry runs, summaries and clears (by pattern or tag) and cancel them; admins flush a database and
change maxmemory / maxmemory-policy. Errors for people: ValueError (bad input, said per field),
LookupError (unknown target, key gone, no such tag set), ``TargetDown`` (Redis did not answer),
``ConfigUnavailable``, ``JobConflict`` and ``PermissionDenied``.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from typing import Any

import redis

from collectors.redis_monitor import describe_error
from collectors.redis_monitor import keys as rkeys
from storage import Settings, Store
from storage import cache as cachestore
from storage.settings import CacheEvictionRule
from storage.users import Role
from tasks import cache_jobs
from tasks.actions.gate import Actor, audited, require

__all__ = [
    "TargetDown",
    "browse_keys",
    "cancel_job",
    "change_policy",
    "flush_database",
    "open_key",
    "preview_clear",
    "preview_eviction_rule",
    "preview_tag_clear",
    "read_policy",
    "start_clear",
    "start_summary",
    "start_tag_clear",
]

MAX_DB = 1023
MAX_PAGE_SIZE = 1000


class TargetDown(RuntimeError):
    """The Redis target did not answer (or failed) while the action ran."""


def _db(db: int) -> int:
    if not isinstance(db, int) or db < 0 or db > MAX_DB:
        raise ValueError(f"db: a database number from 0 to {MAX_DB}")
    return db


@contextmanager
def _client(settings: Settings, target: str, db: int) -> Iterator[redis.Redis]:
    """A bytes client of ``target``/``db``; Redis failures become TargetDown with a readable message."""
    client = rkeys.connect(cache_jobs.target_url(settings, target), db=_db(db))
    try:
        yield client
    except redis.RedisError as exc:
        raise TargetDown(describe_error(exc)[1]) from exc
    finally:
        client.close()


# -- reads ----------------------------------------------------------------------------------------


def browse_keys(
    store: Store,
    settings: Settings,
    actor: Actor | None,
    *,
    target: str,
    db: int = 0,
    pattern: str = "*",
    cursor: int = 0,
    type_filter: str | None = None,
    page_size: int = 100,
    max_examined: int = 20_000,
    time_budget_s: float = 0.5,
) -> rkeys.KeyPage:
    """One page of key names with type, TTL, size and memory (any signed-in user)."""
    require(store, actor, Role.VIEWER, "cache.browse", target)
    if not 1 <= page_size <= MAX_PAGE_SIZE:
        raise ValueError(f"page_size: from 1 to {MAX_PAGE_SIZE}")
    if cursor < 0:
        raise ValueError("cursor: must not be negative")
    rkeys.validate_pattern(pattern)
    with _client(settings, target, db) as client:
        return rkeys.scan_page(
            client,
            pattern=pattern,
            cursor=cursor,
            type_filter=type_filter or None,
            page_size=page_size,
            max_examined=max_examined,
            time_budget_s=time_budget_s,
        )


def open_key(
    store: Store,
    settings: Settings,
    actor: Actor | None,
    *,
    target: str,
    db: int,
    key: str,
    is_hex: bool = True,
    max_items: int = 100,
) -> rkeys.KeyValue:
    """A key's value, truncated (operator; audited, since values may hold personal data)."""
    raw = rkeys.key_bytes(key, is_hex=is_hex)
    with audited(
        store, actor, Role.OPERATOR, "cache.open_key", target, before={"db": db, "key": rkeys.key_text(raw)}
    ) as after:
        with _client(settings, target, db) as client:
            value = rkeys.read_value(client, raw, max_items=max_items)
        after.update(type=value.type, size=value.size)
    return value


def read_policy(store: Store, settings: Settings, actor: Actor | None, *, target: str) -> rkeys.MemoryPolicy:
    """maxmemory, maxmemory-policy and the server's list of policies (any signed-in user)."""
    require(store, actor, Role.VIEWER, "cache.policy", target)
    with _client(settings, target, 0) as client:
        return rkeys.read_policy(client)


def preview_clear(
    store: Store, settings: Settings, actor: Actor | None, *, target: str, db: int, pattern: str
) -> rkeys.DryRun:
    """The dry run of a clear: matches, a sample, their memory, keys scanned (operator)."""
    require(store, actor, Role.OPERATOR, "cache.clear_preview", target)
    rkeys.validate_clear_pattern(pattern)
    with _client(settings, target, db) as client:
        return rkeys.dry_run(client, pattern, max_examined=settings.cache_clear_max_keys * 10)


def preview_tag_clear(
    store: Store, settings: Settings, actor: Actor | None, *, target: str, db: int, tag: str
) -> tuple[str, rkeys.DryRun]:
    """(tag set key, dry run) of clearing a tag (operator); LookupError when the tag set is absent."""
    require(store, actor, Role.OPERATOR, "cache.clear_tag_preview", target)
    tag_key = rkeys.tag_set_name(settings.cache_tag_set_template, tag)
    with _client(settings, target, db) as client:
        return tag_key, rkeys.dry_run_tag(client, tag_key, prefix=settings.cache_tag_key_prefix)


def preview_eviction_rule(
    store: Store, settings: Settings, actor: Actor | None, *, index: int
) -> dict[str, Any]:
    """What eviction rule ``index`` would do now, without removing anything (any signed-in user)."""
    rules = settings.cache_eviction_rules
    if not 0 <= index < len(rules):
        raise LookupError(f"rule: no eviction rule #{index}")
    rule: CacheEvictionRule = rules[index]
    require(store, actor, Role.VIEWER, "cache.eviction_preview", rule.target)
    with _client(settings, rule.target, rule.db) as client:
        return cache_jobs.evaluate_rule(client, rule, apply=False)


# -- changes --------------------------------------------------------------------------------------


def _start(
    store: Store,
    settings: Settings,
    actor: Actor | None,
    *,
    action: str,
    target: str,
    kind: str,
    params: dict[str, Any],
    exclusive: str | None,
) -> cachestore.CacheJob:
    cache_jobs.target_url(settings, target)  # unknown target: LookupError before anything is queued
    with audited(store, actor, Role.OPERATOR, action, target, before=params) as after:
        assert actor is not None  # audited refused anonymous callers
        job = cachestore.create_job(
            store.engine,
            job_id=uuid.uuid4().hex,
            target=target,
            kind=kind,
            username=actor.username,
            params=params,
            exclusive=exclusive,
        )
        after["job"] = job.id
        cache_jobs.dispatch(store, settings, job.id)
    return job


def start_clear(
    store: Store,
    settings: Settings,
    actor: Actor | None,
    *,
    target: str,
    db: int,
    pattern: str,
    max_keys: int | None = None,
    expected: int | None = None,
) -> cachestore.CacheJob:
    """Start a background clear of the keys matching ``pattern`` (operator). ``expected``: the dry
    run's count, for the progress bar. Refuses an empty or match-everything pattern."""
    rkeys.validate_clear_pattern(pattern)
    cap = _cap(settings, max_keys)
    params = {"db": _db(db), "pattern": pattern, "max_keys": cap, "expected": expected}
    return _start(
        store,
        settings,
        actor,
        action="cache.clear",
        target=target,
        kind="clear_pattern",
        params=params,
        exclusive="clear",
    )


def start_tag_clear(
    store: Store,
    settings: Settings,
    actor: Actor | None,
    *,
    target: str,
    db: int,
    tag: str,
    max_keys: int | None = None,
    expected: int | None = None,
) -> cachestore.CacheJob:
    """Start a background clear of the keys a tag set lists, then of the set (operator)."""
    tag_key = rkeys.tag_set_name(settings.cache_tag_set_template, tag)
    params = {
        "db": _db(db),
        "tag": tag,
        "tag_key": tag_key,
        "prefix": settings.cache_tag_key_prefix,
        "max_keys": _cap(settings, max_keys),
        "expected": expected,
    }
    with _client(settings, target, db) as client:
        if client.exists(tag_key) == 0:
            raise rkeys.TagNotFound(f"tag: no tag set {tag_key!r} in db {db}")
    return _start(
        store,
        settings,
        actor,
        action="cache.clear_tag",
        target=target,
        kind="clear_tag",
        params=params,
        exclusive="clear",
    )


def start_summary(
    store: Store, settings: Settings, actor: Actor | None, *, target: str, db: int, max_keys: int = 50_000
) -> cachestore.CacheJob:
    """Start a sampled keyspace summary in the background (operator)."""
    if not 1 <= max_keys <= 1_000_000:
        raise ValueError("max_keys: from 1 to 1,000,000")
    params = {"db": _db(db), "max_keys": max_keys}
    return _start(
        store,
        settings,
        actor,
        action="cache.summary",
        target=target,
        kind="summary",
        params=params,
        exclusive="summary",
    )


def cancel_job(store: Store, actor: Actor | None, *, job_id: str) -> cachestore.CacheJob:
    """Ask a running job to stop after its current batch (operator); LookupError when unknown."""
    job = cachestore.get_job(store.engine, job_id)
    if job is None:
        raise LookupError(f"job: no cache job {job_id!r}")
    with audited(store, actor, Role.OPERATOR, "cache.cancel", job.target, before={"job": job_id}) as after:
        after["requested"] = cachestore.request_cancel(store.engine, job_id)
    found = cachestore.get_job(store.engine, job_id)
    assert found is not None
    return found


def flush_database(
    store: Store, settings: Settings, actor: Actor | None, *, target: str, db: int, confirm: str
) -> int:
    """FLUSHDB ASYNC (admin), only when ``confirm`` is the db's number (``3``) or name (``db3``)."""
    _db(db)
    with audited(store, actor, Role.ADMIN, "cache.flush", target, before={"db": db}) as after:
        if confirm.strip().lower() not in (str(db), f"db{db}"):
            raise ValueError(f"confirm: type {db} (or db{db}) to flush this database")
        with _client(settings, target, db) as client:
            removed = rkeys.flush_db(client)
        after["keys_removed"] = removed
        cachestore.record_action(
            store.engine,
            target=target,
            action="flush_db",
            keys_affected=removed,
            username=actor.username if actor else None,
            detail={"db": db},
        )
    return removed


def change_policy(
    store: Store,
    settings: Settings,
    actor: Actor | None,
    *,
    target: str,
    maxmemory: str | None = None,
    policy: str | None = None,
) -> rkeys.MemoryPolicy:
    """CONFIG SET maxmemory and/or maxmemory-policy (admin), validated first; recorded in the history."""
    if maxmemory is None and policy is None:
        raise ValueError("maxmemory: give a new maxmemory or a policy")
    if maxmemory is not None:
        rkeys.parse_memory_size(maxmemory)  # ValueError before anything is asked of the server
    with audited(store, actor, Role.ADMIN, "cache.policy_change", target) as after:
        with _client(settings, target, 0) as client:
            before = rkeys.read_policy(client)
            now = rkeys.set_policy(client, maxmemory=maxmemory, policy=policy)
        change = {
            "before": {"maxmemory_bytes": before.maxmemory_bytes, "policy": before.policy},
            "after": {"maxmemory_bytes": now.maxmemory_bytes, "policy": now.policy},
        }
        after.update(change)
        cachestore.record_action(
            store.engine,
            target=target,
            action="policy_change",
            username=actor.username if actor else None,
            detail=change,
        )
    return now


def _cap(settings: Settings, max_keys: int | None) -> int:
    if max_keys is None:
        return settings.cache_clear_max_keys
    if max_keys < 1:
        raise ValueError("max_keys: at least 1")
    return min(max_keys, settings.cache_clear_max_keys)


def job_view(job: cachestore.CacheJob) -> dict[str, Any]:
    """A job as JSON-friendly data (for the page's stores and the REST answers)."""
    data = asdict(job)
    data["created_at"] = job.created_at.isoformat()
    data["updated_at"] = job.updated_at.isoformat()
    return data
