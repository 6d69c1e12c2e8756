"""The health-check job: build the checks from settings, run them, judge them against history, store.

Which checks exist and which are critical:

- ``database`` (the Vitals store answers ``SELECT 1``) and ``cache`` (Vitals' Redis broker answers
  PING) are **critical**: without them this process cannot serve correct answers, so
  ``/api/health`` says 503 and a load balancer takes the node out.
- ``queue`` (Celery workers answer a ping, backlog of the default queue), ``disk`` (free space per
  mount of the host that ran the check), ``scheduler`` (collection is alive: a recent sample) and
  every monitored MySQL, Redis and HTTP URL are **non-critical**: they are reported (the overall
  status becomes "degraded") but a load balancer should not empty itself because of them, as
  every web node would fail them at once.

"Fail only after N consecutive failures" (``health_fail_after``) applies to network checks; the
disk and the heartbeat already judge a state that lasts (the heartbeat waits 3 intervals), so one
reading is enough for them. The streak is counted from stored results, so it survives restarts and
is shared by every process that runs checks.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from datetime import timedelta
from functools import partial
from typing import Literal
from urllib.parse import urlsplit

from collectors import probes
from collectors.celery_monitor import broker_name
from collectors.mysql import parse_target as mysql_target
from collectors.probes import FAIL, OK, Outcome
from collectors.redis_monitor import parse_target
from storage import Settings, Store, health
from storage.config import ConfigError, backup_location
from storage.health import CheckRow, HealthResult
from storage.masking import mask_url, redact, url_secrets
from storage.timeparse import utc_now
from tasks import health_rules
from tasks.context import JobContext, JobSpec
from tasks.health_rules import CheckSpec

__all__ = [
    "HEARTBEAT_METRICS",
    "VITALS_QUEUES",
    "build_checks",
    "configured_secrets",
    "evaluate_now",
    "health_report",
    "job_specs",
    "overall_status",
    "redact_text",
    "redacted",
    "run_checks",
]

# Evidence that collection runs: the host collector's samples, or the beat heartbeat.
HEARTBEAT_METRICS = ("system.cpu.percent", "system.memory.percent", "vitals.beat.heartbeat")
# A collector is stale when its newest sample is older than this many of its intervals.
STALE_AFTER_INTERVALS = 3
# Probes run in parallel, so one slow target does not delay the others (each has its own timeout).
MAX_PARALLEL_PROBES = 8
HTTP_TIMEOUT_SECONDS = 5.0
PRUNE_EVERY_SECONDS = 3600.0
# The queues Vitals' own jobs use (tasks.celery_app: default, collect, maintenance). Named here,
# not imported, because importing tasks.celery_app builds the Celery app.
VITALS_QUEUES = ("celery", "collect", "maintenance")
_evaluating = threading.Lock()

OverallStatus = Literal["ok", "degraded", "fail"]


def job_specs(settings: Settings) -> list[JobSpec]:
    """``vitals.health_checks`` every ``health_interval_seconds``."""

    def body(context: JobContext) -> dict[str, str]:
        results = run_checks(context.store, settings)
        _prune_hourly(context, settings)
        return {result.name: result.status for result in results}

    return [
        JobSpec(name="vitals.health_checks", interval_seconds=settings.health_interval_seconds, body=body)
    ]


# --- which checks ------------------------------------------------------------------------------


def build_checks(settings: Settings, store: Store) -> list[CheckSpec]:
    """Every check this configuration asks for, in display order."""
    fail_after = settings.health_fail_after
    specs = [_database_check(store, fail_after)]
    broker = settings.broker_url
    if broker and broker.startswith(("redis://", "rediss://", "unix://")):
        probe = partial(probes.probe_redis, broker)
        specs.append(_url_check("cache", "cache", broker, probe, True, 100, 1000, fail_after))
    if broker:
        queue = partial(health_rules.probe_queue, broker, settings.queue_backlog_warn, queues=VITALS_QUEUES)
        specs.append(_url_check("queue", "queue", broker, queue, False, None, None, fail_after))
    specs.append(
        CheckSpec(
            "disk",
            "disk",
            partial(
                health_rules.probe_disks, settings.disk_free_warn_percent, settings.disk_free_fail_percent
            ),
            target=socket.gethostname(),
        )
    )
    specs.append(
        CheckSpec("scheduler", "scheduler", partial(_heartbeat, store, settings), target="collection")
    )
    for url in settings.mysql_urls:
        probe = partial(probes.probe_mysql, url)
        specs.append(
            _url_check(f"mysql:{_mysql_name(url)}", "mysql", url, probe, False, 250, 2000, fail_after)
        )
    for url in settings.redis_urls:
        name = parse_target(url).name
        probe = partial(probes.probe_redis, url)
        specs.append(_url_check(f"redis:{name}", "redis", url, probe, False, 100, 1000, fail_after))
    for url in settings.celery_broker_urls:
        # Each watched Celery app: workers answering, and the backlog of its queues against the limit.
        watched = tuple(dict.fromkeys(["celery", *settings.celery_queues]))
        probe = partial(health_rules.probe_queue, url, settings.queue_backlog_warn, queues=watched)
        specs.append(
            _url_check(f"celery:{broker_name(url)}", "celery", url, probe, False, None, None, fail_after)
        )
    for url in settings.http_checks:
        probe = partial(probes.probe_http, url, HTTP_TIMEOUT_SECONDS)
        specs.append(_url_check(f"http:{mask_url(url)}", "http", url, probe, False, 1000, None, fail_after))
    specs.extend(_backup_check(spec, settings) for spec in settings.backup_paths)
    return specs


def _backup_check(spec: str, settings: Settings) -> CheckSpec:
    """A backup location: its newest file exists, is not empty and is younger than its max age.

    Checked once, not ``fail_after`` times in a row: a backup that is too old stays too old."""
    try:
        pattern, max_age = backup_location(spec)
    except ConfigError as exc:  # a bad entry in VITALS_BACKUP_PATHS: the check says what is wrong
        message = str(exc)
        return CheckSpec(f"backup:{spec}"[:191], "backup", lambda: Outcome(FAIL, message), target=spec)
    limit = max_age or settings.backup_max_age_hours * 3600
    probe = partial(probes.probe_backup, pattern, limit)
    return CheckSpec(f"backup:{pattern}"[:191], "backup", probe, target=pattern)


def _url_check(
    name: str,
    kind: str,
    url: str,
    probe: Callable[[], Outcome],
    critical: bool,
    warn_ms: float | None,
    fail_ms: float | None,
    fail_after: int,
) -> CheckSpec:
    return CheckSpec(
        name=name[:191],  # the column's length
        kind=kind,
        probe=probe,
        target=mask_url(url),
        critical=critical,
        warn_ms=warn_ms,
        fail_ms=fail_ms,
        fail_after=fail_after,
        secrets=url_secrets(url),
    )


def _mysql_name(url: str) -> str:
    """The MySQL collector's name for the target (``?name=``, else ``host:port``), never its password."""
    try:
        return mysql_target(url).name
    except ValueError:  # not a mysql:// URL: the check itself will say so
        parts = urlsplit(url)
        return f"{parts.hostname or 'localhost'}:{parts.port or 3306}"


def _database_check(store: Store, fail_after: int) -> CheckSpec:
    url = store.engine.url
    return CheckSpec(
        name="database",
        kind="database",
        probe=partial(_ping_store, store),
        target=url.render_as_string(hide_password=True),
        critical=True,
        warn_ms=250,
        fail_ms=1000,
        fail_after=fail_after,
        secrets=(url.password,) if url.password else (),
    )


def _ping_store(store: Store) -> Outcome:
    try:
        health.ping(store.engine)
    except Exception as exc:
        words = str(getattr(exc, "orig", None) or exc).splitlines()[0]
        return Outcome(FAIL, f"unreachable: {store.dialect} store does not answer: {words}")
    return Outcome(OK, f"{store.dialect} store answered SELECT 1")


def _heartbeat(store: Store, settings: Settings) -> Outcome:
    now = utc_now()
    newest = health.newest_sample_at(store.engine, HEARTBEAT_METRICS)
    ages = {metric: None if at is None else (now - at).total_seconds() for metric, at in newest.items()}
    limits = {
        "system.cpu.percent": STALE_AFTER_INTERVALS * settings.system_interval_seconds,
        "system.memory.percent": STALE_AFTER_INTERVALS * settings.system_interval_seconds,
        # tasks.celery_jobs writes the heartbeat every min(health, celery) interval.
        "vitals.beat.heartbeat": STALE_AFTER_INTERVALS
        * min(settings.health_interval_seconds, settings.celery_interval_seconds),
    }
    return health_rules.judge_heartbeat(ages, limits)


# --- running -----------------------------------------------------------------------------------


def _registration(spec: CheckSpec) -> CheckRow:
    return CheckRow(
        name=spec.name,
        kind=spec.kind,
        target=spec.target,
        critical=spec.critical,
        warn_ms=None if spec.warn_ms is None else int(spec.warn_ms),
        fail_ms=None if spec.fail_ms is None else int(spec.fail_ms),
        fail_after=spec.fail_after,
    )


def run_checks(
    store: Store, settings: Settings, specs: Sequence[CheckSpec] | None = None
) -> list[HealthResult]:
    """Run every check once (in parallel, each isolated), apply fail-after from history, store.

    Returns the stored results. One check raising becomes that check's fail result; the store
    itself being down makes the whole run fail, since nothing can be recorded.
    """
    specs = list(specs if specs is not None else build_checks(settings, store))
    if not specs:
        return []
    with ThreadPoolExecutor(
        max_workers=min(MAX_PARALLEL_PROBES, len(specs)), thread_name_prefix="vitals-health"
    ) as pool:
        outcomes = list(pool.map(health_rules.run_check, specs))
    ids = health.register_checks(store.engine, [_registration(spec) for spec in specs])
    history = health.recent_results(store.engine, ids.values(), max(spec.fail_after for spec in specs))
    rows = []
    for spec, outcome in zip(specs, outcomes, strict=True):
        previous = health_rules.consecutive_failures(history[ids[spec.name]][: max(spec.fail_after - 1, 0)])
        judged = health_rules.apply_fail_after(outcome, previous, spec.fail_after)
        rows.append((ids[spec.name], judged.status, judged.message, judged.response_ms))
    health.record_results(store.engine, rows)
    return health.latest_health(store.engine, [spec.name for spec in specs])


def _prune_hourly(context: JobContext, settings: Settings) -> None:
    """Delete results older than the raw-sample retention, at most once an hour per process."""
    last: list[float] = context.keep("health:pruned_at", lambda: [0.0])
    if time.monotonic() - last[0] < PRUNE_EVERY_SECONDS:
        return
    last[0] = time.monotonic()
    health.prune_results(context.store.engine, timedelta(days=settings.retention_raw_days))


def evaluate_now(store: Store, settings: Settings, only_critical: bool = False) -> list[HealthResult]:
    """Run the checks right now (the endpoints' path when no recent run is stored) and store them.

    A lock keeps concurrent requests in one process from running the checks several times at
    once; a request that waited reads what the other just stored if it is fresh.
    ``only_critical`` runs just the critical checks (readiness must answer fast).
    """
    with _evaluating:
        specs = _selected(build_checks(settings, store), only_critical)
        fresh = _fresh_results(store, settings, specs)
        if fresh is not None:
            return fresh
        return run_checks(store, settings, specs)


def _selected(specs: Sequence[CheckSpec], only_critical: bool) -> list[CheckSpec]:
    return [spec for spec in specs if spec.critical or not only_critical]


def _fresh_results(store: Store, settings: Settings, specs: Sequence[CheckSpec]) -> list[HealthResult] | None:
    """The stored latest results if every given check has one from the last two intervals."""
    names = [spec.name for spec in specs]
    latest = health.latest_health(store.engine, names)
    oldest_allowed = utc_now() - timedelta(seconds=2 * settings.health_interval_seconds)
    if len(latest) < len(names) or any(result.checked_at < oldest_allowed for result in latest):
        return None
    return latest


def health_report(store: Store, settings: Settings, only_critical: bool = False) -> list[HealthResult]:
    """The current result of every configured check: stored if recent, else evaluated now."""
    specs = _selected(build_checks(settings, store), only_critical)
    fresh = _fresh_results(store, settings, specs)
    return fresh if fresh is not None else evaluate_now(store, settings, only_critical)


def configured_secrets(settings: Settings) -> tuple[str, ...]:
    """Every password or token in a configured URL: what must never appear in a health answer."""
    urls = [settings.database_url, settings.broker_url, *settings.mysql_urls, *settings.redis_urls]
    urls += [*settings.http_checks, *settings.celery_broker_urls]
    found = {secret for url in urls if url for secret in url_secrets(url)}
    return tuple(sorted(found, key=len, reverse=True))


def redact_text(text: str, settings: Settings) -> str:
    """``text`` with every configured secret (passwords in monitored URLs) masked."""
    return redact(text, configured_secrets(settings))


def redacted(results: Sequence[HealthResult], settings: Settings) -> list[HealthResult]:
    """The results with any configured secret masked in names, targets and messages (defence in
    depth: each check already redacts its own)."""
    secrets = configured_secrets(settings)
    return [
        replace(
            result,
            name=redact(result.name, secrets),
            target=None if result.target is None else redact(result.target, secrets),
            message=redact(result.message, secrets),
        )
        for result in results
    ]


def overall_status(results: Sequence[HealthResult]) -> OverallStatus:
    """``fail`` when a critical check fails, ``degraded`` when anything else is not ok, else ``ok``."""
    if any(result.critical and result.status == FAIL for result in results):
        return "fail"
    if any(result.status != OK for result in results):
        return "degraded"
    return "ok"
