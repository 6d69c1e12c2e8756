"""Health rules: how probe results are judged, and the check a job runs.

Pure functions over ``collectors.probes`` outcomes: latency thresholds, "fail only after N consecutive
failures" (the streak is counted from stored history, read by ``tasks.health_jobs``), disk-space and
queue-backlog limits, and the scheduler heartbeat's freshness.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

from collectors.probes import FAIL, OK, WARN, Outcome, disk_free_percent, probe_redis, queue_state
from storage.masking import redact

__all__ = [
    "CheckSpec",
    "apply_fail_after",
    "apply_latency",
    "consecutive_failures",
    "is_failure",
    "judge_disks",
    "judge_heartbeat",
    "judge_queue",
    "probe_disks",
    "probe_queue",
    "run_check",
]

# A failure that has not yet reached its check's "fail after N" is stored as a warning with this
# prefix; the prefix is how the streak is recognised again when counting from stored history.
_FAILING = "failing "


@dataclass(frozen=True)
class CheckSpec:
    """One check: what it probes, how it is judged, and whether its failure makes Vitals unhealthy."""

    name: str
    kind: str
    probe: Callable[[], Outcome]
    target: str | None = None  # shown to users: always masked
    critical: bool = False
    warn_ms: float | None = None
    fail_ms: float | None = None
    fail_after: int = 1
    secrets: tuple[str, ...] = ()


# --- judging one result -------------------------------------------------------------------------------------


def apply_latency(outcome: Outcome, warn_ms: float | None, fail_ms: float | None) -> Outcome:
    """Turn a slow answer into warn or fail. A probe that already failed keeps its own message."""
    if outcome.status == FAIL or outcome.response_ms is None:
        return outcome
    took = outcome.response_ms
    if fail_ms is not None and took >= fail_ms:
        return replace(
            outcome, status=FAIL, message=f"slow: answered in {took:.0f} ms (fail at {fail_ms:.0f} ms)"
        )
    if warn_ms is not None and took >= warn_ms and outcome.status == OK:
        return replace(
            outcome, status=WARN, message=f"slow: answered in {took:.0f} ms (warn at {warn_ms:.0f} ms)"
        )
    return outcome


def is_failure(status: str, message: str) -> bool:
    """Whether a stored result was a failure: a real fail, or one still counting up to its fail_after."""
    return status == FAIL or (status == WARN and message.startswith(_FAILING))


def consecutive_failures(newest_first: Sequence[tuple[str, str]]) -> int:
    """How many of the most recent stored (status, message) results in a row were failures."""
    count = 0
    for status, message in newest_first:
        if not is_failure(status, message):
            break
        count += 1
    return count


def apply_fail_after(outcome: Outcome, previous_failures: int, fail_after: int) -> Outcome:
    """A failure becomes "fail" only on the ``fail_after``-th in a row; before that it is a warning.

    ``previous_failures`` is the streak just before this run, counted from stored history.
    """
    if outcome.status != FAIL:
        return outcome
    streak = previous_failures + 1
    if streak >= fail_after:
        return outcome
    return replace(outcome, status=WARN, message=f"{_FAILING}{streak}/{fail_after}: {outcome.message}")


def run_check(spec: CheckSpec) -> Outcome:
    """Run one probe, timed, isolated and judged by its latency thresholds, with secrets removed.

    Any exception becomes this check's fail result, so one broken check never hides the others.
    """
    started = time.perf_counter()
    try:
        outcome = spec.probe()
    except Exception as exc:  # a check must report, never raise
        outcome = Outcome(FAIL, f"error: {type(exc).__name__}: {exc}")
    took = (time.perf_counter() - started) * 1000
    if outcome.response_ms is None:
        outcome = replace(outcome, response_ms=round(took, 1))
    outcome = apply_latency(outcome, spec.warn_ms, spec.fail_ms)
    return replace(outcome, message=redact(outcome.message, spec.secrets))


# --- disks ---------------------------------------------------------------------------------------


def judge_disks(free_percent: Mapping[str, float], warn_percent: float, fail_percent: float) -> Outcome:
    """Fail when any mount has less than ``fail_percent`` free, warn below ``warn_percent``."""
    if not free_percent:
        return Outcome(WARN, "no disks found to check")
    failing = {mount: free for mount, free in free_percent.items() if free < fail_percent}
    warning = {mount: free for mount, free in free_percent.items() if fail_percent <= free < warn_percent}

    def listed(mounts: Mapping[str, float]) -> str:
        return ", ".join(
            f"{free:.1f}% free on {mount}" for mount, free in sorted(mounts.items(), key=lambda i: i[1])
        )

    if failing:
        return Outcome(FAIL, f"{listed(failing)} (fail below {fail_percent:g}%)")
    if warning:
        return Outcome(WARN, f"{listed(warning)} (warn below {warn_percent:g}%)")
    mount, free = min(free_percent.items(), key=lambda item: item[1])
    return Outcome(OK, f"lowest: {free:.1f}% free on {mount}")


def probe_disks(warn_percent: float, fail_percent: float) -> Outcome:
    """Free space on every real mount of this host against the thresholds."""
    return judge_disks(disk_free_percent(), warn_percent, fail_percent)


# --- scheduler heartbeat -----------------------------------------------------------------------


def judge_heartbeat(ages: Mapping[str, float | None], limits: Mapping[str, float]) -> Outcome:
    """Fresh when any heartbeat metric was sampled within its limit; otherwise "no data for N s".

    ``ages`` maps a metric to seconds since its newest sample (None: never sampled). A stale
    collector must read as "no data", never as healthy.
    """
    fresh = [metric for metric, age in ages.items() if age is not None and age <= limits.get(metric, 0)]
    if fresh:
        metric = min(fresh, key=lambda name: ages[name] or 0.0)
        return Outcome(OK, f"last sample {ages[metric]:.0f} s ago ({metric})")
    known = {metric: age for metric, age in ages.items() if age is not None}
    if not known:
        return Outcome(FAIL, "no data: nothing collected yet (" + ", ".join(sorted(ages)) + ")")
    metric = min(known, key=lambda name: known[name])
    return Outcome(
        FAIL,
        f"no data for {known[metric]:.0f} s (newest sample: {metric}; stale after {limits.get(metric, 0):.0f} s)",
    )


# --- Celery queue ----------------------------------------------------------------------------


def judge_queue(
    workers: int, backlogs: Mapping[str, int | None], backlog_warn: int, ping_timeout: float
) -> Outcome:
    """No worker answering fails; more than ``backlog_warn`` tasks waiting in all queues warns."""
    waiting = _waiting(backlogs)
    if workers == 0:
        return Outcome(FAIL, f"no workers answered ping within {ping_timeout:g} s; {waiting}")
    total = sum(count for count in backlogs.values() if count is not None)
    if total > backlog_warn:
        return Outcome(WARN, f"backlog: {waiting} (warn above {backlog_warn}); {_workers(workers)} online")
    return Outcome(OK, f"{_workers(workers)} online; {waiting}")


def _waiting(backlogs: Mapping[str, int | None]) -> str:
    def count(value: int | None) -> str:
        return "unknown" if value is None else str(value)

    if len(backlogs) == 1:
        queue, value = next(iter(backlogs.items()))
        return f"{count(value)} tasks waiting in {queue!r}"
    total = sum(value for value in backlogs.values() if value is not None)
    return (
        f"{total} tasks waiting ("
        + ", ".join(f"{queue}: {count(value)}" for queue, value in backlogs.items())
        + ")"
    )


def _workers(count: int) -> str:
    return f"{count} worker" if count == 1 else f"{count} workers"


def probe_queue(
    broker_url: str, backlog_warn: int, timeout: float = 1.0, queues: Sequence[str] = ("celery",)
) -> Outcome:
    """Workers online (Celery control ping) and the backlog of ``queues`` on the broker."""
    if broker_url.startswith(("redis://", "rediss://", "unix://")):
        broker = probe_redis(broker_url, timeout=max(timeout, 1.0))
        if broker.status == FAIL:
            return Outcome(FAIL, f"broker {broker.message}")
    started = time.perf_counter()
    workers, backlogs = queue_state(broker_url, timeout, queues)
    outcome = judge_queue(workers, backlogs, backlog_warn, timeout)
    return replace(outcome, response_ms=round((time.perf_counter() - started) * 1000, 1))
