"""Redis servers: the collector (INFO, keyspace, SLOWLOG) and the key tools (SCAN browser, clears).

Named ``redis_monitor`` and not ``redis`` so it never shadows the redis-py package.

- ``collector``: reads only; what the scheduled collection stores.
- ``keys``: the key browser, value viewer, keyspace summary, clears by pattern/tag, flush and
  CONFIG — the one module of Vitals that writes to a monitored Redis.
"""

from __future__ import annotations

from collectors.redis_monitor.collector import (
    REDIS_METRICS,
    CacheSnapshot,
    Counters,
    Probe,
    ProbeError,
    RedisCollection,
    RedisCollector,
    RedisTarget,
    SlowlogEntry,
    describe_error,
    gauge_readings,
    info_readings,
    keyspace,
    parse_target,
    probe,
    rate_readings,
    slowlog_entries,
    snapshot,
)

__all__ = [
    "REDIS_METRICS",
    "CacheSnapshot",
    "Counters",
    "Probe",
    "ProbeError",
    "RedisCollection",
    "RedisCollector",
    "RedisTarget",
    "SlowlogEntry",
    "describe_error",
    "gauge_readings",
    "info_readings",
    "keyspace",
    "parse_target",
    "probe",
    "rate_readings",
    "slowlog_entries",
    "snapshot",
]
