"""The Cache page's background jobs (clear by pattern, clear by tag, keyspace summary) and the
scheduled eviction rules.

A job is a ``cache_jobs`` row (storage.cache) plus a runner: ``run_job(store, settings, job_id)``
does the work and reports progress into the row, and reads the row's cancel flag between batches.
Where it runs is the only thing that differs between modes: a Celery task (``vitals.cache_job``,
tasks.celery_app) when a broker is configured, a daemon thread of the web process when embedded.
The page and the REST API follow the row, so they work the same whichever process runs the job.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict
from typing import Any

import redis

from collectors.redis_monitor import describe_error, parse_target
from collectors.redis_monitor import keys as rkeys
from storage import Settings, Store, cache_rules
from storage import cache as cachestore
from storage.audit import record_audit
from storage.settings import CacheEvictionRule
from tasks.context import JobContext, JobSpec

__all__ = [
    "CACHE_JOB_TASK",
    "CLEAR_KINDS",
    "dispatch",
    "evaluate_rule",
    "job_specs",
    "run_eviction_rules",
    "run_job",
    "target_url",
]

log = logging.getLogger("vitals.tasks.cache")

CACHE_JOB_TASK = "vitals.cache_job"
CLEAR_KINDS = ("clear_pattern", "clear_tag")
# How often a running job writes its progress (and reads the cancel flag): often enough for a live
# progress bar, rarely enough that the store is not the bottleneck of a clear.
PROGRESS_EVERY_SECONDS = 0.25
_AUDIT_ACTION = {"clear_pattern": "cache.clear", "clear_tag": "cache.clear_tag", "summary": "cache.summary"}


def target_url(settings: Settings, name: str) -> str:
    """The connect URL of the configured Redis target ``name``; LookupError when there is none."""
    for url in settings.redis_urls:
        target = parse_target(url)
        if target.name == name:
            return target.url
    raise LookupError(f"unknown Redis target {name!r}")


def dispatch(store: Store, settings: Settings, job_id: str) -> None:
    """Start a queued job: on a Celery worker when a broker is configured, else in a thread here."""
    if settings.broker_url:
        from tasks.celery_app import celery_app  # the web process only needs it to send

        # To the broker of these settings (live configuration may differ from the import-time one).
        with celery_app.connection_for_write(settings.broker_url) as connection:
            celery_app.send_task(CACHE_JOB_TASK, args=[job_id], connection=connection)
        return
    thread = threading.Thread(
        target=run_job, args=(store, settings, job_id), name=f"cache-job-{job_id[:8]}", daemon=True
    )
    thread.start()


class _Reporter:
    """Writes the job's latest progress (and reads its cancel flag) from a thread of its own, every
    PROGRESS_EVERY_SECONDS: the clear loop only swaps a dict, so a slow store never slows a clear."""

    def __init__(self, store: Store, job_id: str) -> None:
        self.store, self.job_id = store, job_id
        self.cancel = False
        self.latest: dict[str, Any] = {}
        self._written: dict[str, Any] | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"cache-progress-{job_id[:8]}", daemon=True)

    def start(self) -> None:
        self._write()  # marks the job running, and sees a cancel requested while it was queued
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def report(self, progress: dict[str, Any]) -> None:
        self.latest = dict(progress)

    def cancelled(self) -> bool:
        return self.cancel

    def _loop(self) -> None:
        while not self._stop.wait(PROGRESS_EVERY_SECONDS):
            if self.latest != self._written:
                self._write()
            else:
                self._poll_cancel()

    def _write(self) -> None:
        progress = self.latest
        try:
            self.cancel = cachestore.job_progress(self.store.engine, self.job_id, progress) or self.cancel
            self._written = progress
        except Exception as exc:  # a store hiccup must not stop a clear half-way
            log.warning("cache job %s: progress not stored: %s", self.job_id, exc)

    def _poll_cancel(self) -> None:
        try:
            job = cachestore.get_job(self.store.engine, self.job_id)
        except Exception:
            return
        self.cancel = self.cancel or bool(job and job.cancel_requested)


def run_job(store: Store, settings: Settings, job_id: str) -> dict[str, Any]:
    """Run one queued job to its end; never raises for a Redis failure (the job records it)."""
    job = cachestore.get_job(store.engine, job_id)
    if job is None:
        raise LookupError(f"no cache job {job_id!r}")
    if job.finished:
        return job.result or {}
    reporter = _Reporter(store, job_id)
    reporter.start()
    try:
        if reporter.cancel:
            cachestore.finish_job(store.engine, job_id, status="cancelled", result={"stopped": "cancelled"})
            return {"stopped": "cancelled"}
        params = job.params
        try:
            client = rkeys.connect(target_url(settings, job.target), db=int(params.get("db", 0)))
        except Exception as exc:
            return _failed(store, job, str(exc))
        try:
            if job.kind == "summary":
                return _run_summary(store, job, client, reporter)
            return _run_clear(store, settings, job, client, reporter)
        except Exception as exc:  # a bug or a refusal: the job row and the audit say so
            log.exception("cache job %s failed", job_id)
            text = describe_error(exc)[1] if isinstance(exc, redis.RedisError) else str(exc)
            return _failed(store, job, text)
        finally:
            client.close()
    finally:
        reporter.stop()  # before the final write, so a late progress row cannot follow it


def _failed(store: Store, job: cachestore.CacheJob, error: str) -> dict[str, Any]:
    record_audit(
        store.engine,
        job.username,
        _AUDIT_ACTION.get(job.kind, job.kind),
        job.target,
        before=job.params,
        after={"job": job.id, "error": error},
        outcome="error",
    )
    cachestore.finish_job(store.engine, job.id, status="failed", error=error)
    return {"error": error}


def _run_summary(
    store: Store, job: cachestore.CacheJob, client: redis.Redis, reporter: _Reporter
) -> dict[str, Any]:
    def progress(sampled: int, total: int) -> None:
        reporter.report({"sampled": sampled, "total": total})

    summary = rkeys.keyspace_summary(
        client,
        max_keys=int(job.params.get("max_keys", 50_000)),
        progress=progress,
        cancelled=reporter.cancelled,
    )
    result = asdict(summary)
    status = "cancelled" if reporter.cancel and not summary.complete else "done"
    cachestore.finish_job(store.engine, job.id, status=status, result=result, progress=reporter.latest)
    return result


def _run_clear(
    store: Store, settings: Settings, job: cachestore.CacheJob, client: redis.Redis, reporter: _Reporter
) -> dict[str, Any]:
    params = job.params
    max_keys = min(int(params.get("max_keys", settings.cache_clear_max_keys)), settings.cache_clear_max_keys)

    def progress(state: rkeys.ClearProgress) -> None:
        reporter.report(
            {
                "scanned": state.scanned,
                "removed": state.removed,
                "memory_freed_bytes": state.memory_freed_bytes,
                "expected": params.get("expected"),
                "max_keys": max_keys,
            }
        )

    if job.kind == "clear_pattern":
        outcome = rkeys.clear_pattern(
            client, params["pattern"], max_keys=max_keys, progress=progress, cancelled=reporter.cancelled
        )
        pattern = params["pattern"]
    elif job.kind == "clear_tag":
        outcome = rkeys.clear_tag(
            client,
            params["tag_key"],
            prefix=params.get("prefix", ""),
            max_keys=max_keys,
            progress=progress,
            cancelled=reporter.cancelled,
        )
        pattern = params["tag_key"]
    else:
        raise ValueError(f"unknown cache job kind {job.kind!r}")
    result = {
        "job": job.id,
        "db": int(params.get("db", 0)),
        "removed": outcome.removed,
        "memory_freed_bytes": outcome.memory_freed_bytes,
        "scanned": outcome.scanned,
        "batches": outcome.batches,
        "stopped": outcome.stopped,
        "stopped_early": outcome.stopped != "done",
        "error": outcome.error,
        "max_keys": max_keys,
    }
    if "tag" in params:
        result["tag"] = params["tag"]
    status = {"done": "done", "cap": "done", "cancelled": "cancelled", "error": "failed"}[outcome.stopped]
    # History and audit first: a finished job row means everything about it is recorded.
    cachestore.record_action(
        store.engine,
        target=job.target,
        action=job.kind,
        pattern=pattern,
        keys_affected=outcome.removed,
        username=job.username,
        detail=result,
    )
    record_audit(
        store.engine,
        job.username,
        _AUDIT_ACTION[job.kind],
        job.target,
        before=params,
        after=result,
        outcome="error" if outcome.stopped == "error" else "ok",
    )
    cachestore.finish_job(
        store.engine, job.id, status=status, result=result, error=outcome.error, progress=result
    )
    return result


# -- eviction rules -------------------------------------------------------------------------------


def evaluate_rule(
    client: redis.Redis, rule: CacheEvictionRule, *, apply: bool, sample: int = 5000
) -> dict[str, Any]:
    """One rule: memory use now, and the keys it would remove (``apply``: and removes them)."""
    percent = rkeys.memory_percent(client)
    report: dict[str, Any] = {
        "rule": rule.model_dump(),
        "memory_percent": percent,
        "triggered": percent is not None and percent > rule.above_percent,
        "candidates": 0,
        "sample": [],
        "removed": 0,
        "memory_freed_bytes": 0,
    }
    if percent is None:
        report["reason"] = "no maxmemory set: a percentage of no limit means nothing"
        return report
    if not report["triggered"]:
        report["reason"] = f"memory at {percent:.1f}% is below the rule's {rule.above_percent:g}%"
        return report
    candidates = rkeys.idle_candidates(client, rule.pattern, sample=min(sample, rule.max_keys))
    report["candidates"] = len(candidates)
    report["sample"] = [
        {"key": row.key, "idle_seconds": row.idle_seconds, "memory_bytes": row.memory_bytes}
        for row in candidates[:20]
    ]
    if apply and candidates:
        outcome = rkeys.evict_idle(client, candidates, target_percent=rule.down_to_percent)
        report.update(
            removed=outcome.removed,
            memory_freed_bytes=outcome.memory_freed_bytes,
            error=outcome.error,
            memory_percent_after=rkeys.memory_percent(client),
        )
    return report


def run_eviction_rules(store: Store, settings: Settings) -> list[dict[str, Any]]:
    """Evaluate every rule once: those from ``VITALS_CACHE_EVICTION_RULES`` and the enabled ones edited
    on the Cache page. Each run that removed keys (or failed) goes to the history; a stored rule also
    keeps its newest report (``last_result``), acted or not."""
    rules: list[tuple[int | None, CacheEvictionRule]] = [
        (None, rule) for rule in settings.cache_eviction_rules
    ]
    rules += [(stored.id, stored.rule) for stored in cache_rules.list_rules(store.engine, enabled_only=True)]
    reports = []
    for rule_id, rule in rules:
        report = _run_rule(settings, rule)
        if rule_id is not None:
            report["rule_id"] = rule_id
            cache_rules.mark_rule_run(store.engine, rule_id, report)
        reports.append(report)
        if report.get("triggered") or report.get("error"):
            cachestore.record_action(
                store.engine,
                target=rule.target,
                action="eviction_rule",
                pattern=rule.pattern,
                keys_affected=int(report.get("removed", 0)),
                username="system",
                detail=report,
            )
    return reports


def _run_rule(settings: Settings, rule: CacheEvictionRule) -> dict[str, Any]:
    try:
        client = rkeys.connect(target_url(settings, rule.target), db=rule.db)
    except LookupError as exc:
        return {"rule": rule.model_dump(), "error": str(exc)}
    try:
        return evaluate_rule(client, rule, apply=True)
    except redis.RedisError as exc:
        return {"rule": rule.model_dump(), "error": describe_error(exc)[1]}
    finally:
        client.close()


def job_specs(settings: Settings) -> list[JobSpec]:
    """``vitals.cache_eviction_rules`` every ``cache_eviction_interval_seconds`` whenever a Redis target
    is configured: rules are edited at run time, so the job cannot know at start-up whether any exist
    (with none enabled a run is one indexed query)."""
    if not settings.redis_urls and not settings.cache_eviction_rules:
        return []

    def body(context: JobContext) -> list[dict[str, Any]]:
        return run_eviction_rules(context.store, settings)

    return [
        JobSpec(
            name="vitals.cache_eviction_rules",
            interval_seconds=settings.cache_eviction_interval_seconds,
            body=body,
        )
    ]
