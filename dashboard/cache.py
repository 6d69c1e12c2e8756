"""Callback data shared between viewers: computed once per (query, aligned time bucket).

Every open tab polls every few seconds. Without sharing, twenty viewers of one page run twenty
copies of the same read each tick. Here a callback asks ``shared(key, compute)`` instead: the first
viewer in a time bucket computes the data, everyone else in that bucket reads it back.

The cache is flask-caching: ``SimpleCache`` in the process when embedded (one process serves every
viewer), Redis with ``vitals web`` when the broker is Redis, so all gunicorn workers share one copy.
Within a process a per-key lock stops viewers that arrive together from all computing the same thing
(a cold bucket would otherwise cost N queries at once). A cache that fails (Redis down) only costs
the sharing: the data is computed directly, never an error on the page.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections.abc import Callable, Hashable
from typing import TypeVar

import flask
from flask_caching import Cache

from storage import Settings
from storage.timeparse import utc_now

__all__ = ["BUCKET_MS", "aligned_now_ms", "cache_config", "install_cache", "shared"]

T = TypeVar("T")
log = logging.getLogger("vitals.cache")

# Viewers share data within buckets of this size: the shortest refresh interval the shell offers
# and the host collection interval, so a viewer never waits longer than one tick for new data.
BUCKET_MS = 5_000
# An entry outlives its bucket a little so a tick that lands just after the boundary still finds it
# when the next bucket's key is not computed yet; older entries are never asked for again.
_TIMEOUT_S = 3 * BUCKET_MS // 1000
_EXTENSION = "vitals_cache"
_MISSING = object()
# A cache outage is logged when first seen and then at most this often, not on every callback.
_WARN_EVERY_S = 300.0


def cache_config(settings: Settings, embedded: bool) -> dict[str, object]:
    """flask-caching configuration: in-process when embedded, Redis for the web tier when it can be."""
    # Deployments sharing one Redis must never read each other's data: key by the store.
    prefix = "vitals:" + hashlib.sha1(settings.store_url.encode()).hexdigest()[:12] + ":"
    broker = settings.broker_url or ""
    if not embedded and broker.startswith(("redis://", "rediss://", "unix://")):
        return {
            "CACHE_TYPE": "RedisCache",
            "CACHE_REDIS_URL": broker,
            "CACHE_KEY_PREFIX": prefix,
            "CACHE_DEFAULT_TIMEOUT": _TIMEOUT_S,
        }
    # Each chart of each page and time range is one key per bucket (a few hundred live at most); past
    # the threshold the expired ones go first, so memory stays bounded by what viewers look at now.
    return {"CACHE_TYPE": "SimpleCache", "CACHE_THRESHOLD": 1_000, "CACHE_DEFAULT_TIMEOUT": _TIMEOUT_S}


def install_cache(server: flask.Flask, settings: Settings, embedded: bool) -> Cache:
    cache = Cache(config=cache_config(settings, embedded))
    cache.init_app(server)
    server.extensions[_EXTENSION] = _Shared(cache)
    return cache


def aligned_now_ms() -> int:
    """Now, rounded down to the sharing bucket: the "until" every viewer in this bucket agrees on."""
    return int(utc_now().timestamp() * 1000) // BUCKET_MS * BUCKET_MS


def shared(key: tuple[Hashable, ...], compute: Callable[[], T], timeout_s: int = _TIMEOUT_S) -> T:
    """``compute()``'s value for ``key``, computed once and shared by every viewer asking for it.

    ``key`` names the query and its aligned time bucket, e.g. ``("kpis", aligned_now_ms())``.
    Outside a request of an app with the cache installed (a unit test), it simply computes.
    """
    found = flask.current_app.extensions.get(_EXTENSION) if flask.has_app_context() else None
    if found is None:
        return compute()
    return found.get_or_compute(repr(key), compute, timeout_s)


class _Shared:
    def __init__(self, cache: Cache) -> None:
        self.cache = cache
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()
        self._warned_at = -_WARN_EVERY_S

    def get_or_compute(self, key: str, compute: Callable[[], T], timeout_s: int) -> T:
        value = self._get(key)
        if value is not _MISSING:
            return value  # type: ignore[return-value]
        with self._lock(key):
            value = self._get(key)  # computed while we waited for the lock
            if value is not _MISSING:
                return value  # type: ignore[return-value]
            computed = compute()
            self._set(key, computed, timeout_s)
            return computed

    def _lock(self, key: str) -> threading.Lock:
        with self._locks_guard:
            if len(self._locks) > 10_000:  # keys change every bucket: forget the old ones' locks
                self._locks.clear()
            return self._locks.setdefault(key, threading.Lock())

    def _get(self, key: str) -> object:
        try:
            # Stored wrapped, so a legitimately cached None (or empty frame) counts as a hit.
            box = self.cache.get(key)
        except Exception as exc:  # Redis down: compute instead of failing the callback
            self._warn(exc)
            return _MISSING
        return box[0] if isinstance(box, tuple) and len(box) == 1 else _MISSING

    def _set(self, key: str, value: object, timeout_s: int) -> None:
        try:
            self.cache.set(key, (value,), timeout=timeout_s)
        except Exception as exc:
            self._warn(exc)

    def _warn(self, exc: Exception) -> None:
        now = time.monotonic()
        if now - self._warned_at >= _WARN_EVERY_S:
            self._warned_at = now
            log.warning("callback cache unavailable (%s); viewers' data is computed per request", exc)
