"""The rules that judge health checks, on hand-made outcomes: no services needed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from collectors.probes import FAIL, OK, WARN, Outcome
from storage.health import HealthResult
from storage.masking import mask_url, redact, url_secrets
from tasks.health_jobs import VITALS_QUEUES, overall_status
from tasks.health_rules import (
    CheckSpec,
    apply_fail_after,
    apply_latency,
    consecutive_failures,
    judge_disks,
    judge_heartbeat,
    judge_queue,
    run_check,
)

REFUSED = Outcome(FAIL, "unreachable: connection refused to 127.0.0.1:3399", 2.0)


# --- fail only after N consecutive failures ------------------------------------------------------


def _run(statuses: list[Outcome], fail_after: int) -> list[tuple[str, str]]:
    """Apply the rule the way the job does: each run sees the stored results before it."""
    stored: list[tuple[str, str]] = []  # newest first, like the store answers
    for outcome in statuses:
        judged = apply_fail_after(outcome, consecutive_failures(stored[: fail_after - 1]), fail_after)
        stored.insert(0, (judged.status, judged.message))
    return list(reversed(stored))


def test_two_failures_warn_the_third_fails_and_one_success_recovers() -> None:
    ok = Outcome(OK, "connected")
    assert _run([REFUSED, REFUSED, REFUSED, ok], fail_after=3) == [
        (WARN, "failing 1/3: unreachable: connection refused to 127.0.0.1:3399"),
        (WARN, "failing 2/3: unreachable: connection refused to 127.0.0.1:3399"),
        (FAIL, "unreachable: connection refused to 127.0.0.1:3399"),
        (OK, "connected"),
    ]


def test_a_success_in_between_restarts_the_count() -> None:
    ok = Outcome(OK, "connected")
    judged = _run([REFUSED, REFUSED, ok, REFUSED], fail_after=3)
    assert judged[-1] == (WARN, "failing 1/3: unreachable: connection refused to 127.0.0.1:3399")


def test_a_fail_stays_fail_while_it_keeps_failing() -> None:
    assert [status for status, _ in _run([REFUSED] * 5, fail_after=2)] == [WARN, FAIL, FAIL, FAIL, FAIL]


def test_fail_after_one_fails_at_once_and_warnings_are_not_failures() -> None:
    assert apply_fail_after(REFUSED, 0, 1) == REFUSED
    low_disk = Outcome(WARN, "9.0% free on / (warn below 15%)")
    assert apply_fail_after(low_disk, 2, 3) == low_disk
    assert consecutive_failures([(WARN, low_disk.message), (FAIL, "x")]) == 0
    assert consecutive_failures([(WARN, "failing 2/3: x"), (WARN, "failing 1/3: x"), (OK, "")]) == 2


# --- latency thresholds ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("took", "expected"),
    [
        (10.0, (OK, "connected")),
        (300.0, (WARN, "slow: answered in 300 ms (warn at 250 ms)")),
        (1500.0, (FAIL, "slow: answered in 1500 ms (fail at 1000 ms)")),
    ],
)
def test_latency_thresholds(took: float, expected: tuple[str, str]) -> None:
    judged = apply_latency(Outcome(OK, "connected", took), warn_ms=250, fail_ms=1000)
    assert (judged.status, judged.message) == expected
    assert judged.response_ms == took


def test_a_failed_probe_keeps_its_own_message_however_slow() -> None:
    assert apply_latency(Outcome(FAIL, "access denied", 5000), 250, 1000).message == "access denied"


def test_run_check_turns_an_exception_into_a_fail_and_times_it() -> None:
    def boom() -> Outcome:
        raise ConnectionError("socket closed by peer")

    judged = run_check(CheckSpec("x", "http", boom))
    assert (judged.status, judged.message) == (FAIL, "error: ConnectionError: socket closed by peer")
    assert judged.response_ms is not None


def test_run_check_removes_the_check_secrets_from_messages() -> None:
    spec = CheckSpec(
        "x", "mysql", lambda: Outcome(FAIL, "driver said: bad password Pw-123"), secrets=("Pw-123",)
    )
    assert run_check(spec).message == "driver said: bad password ***"


# --- disks, heartbeat, queue ---------------------------------------------------------------------


def test_disks_fail_and_warn_per_mount() -> None:
    assert judge_disks({"/": 40.0, "/data": 3.2}, 15, 5) == Outcome(
        FAIL, "3.2% free on /data (fail below 5%)"
    )
    assert judge_disks({"/": 40.0, "/data": 12.0}, 15, 5) == Outcome(
        WARN, "12.0% free on /data (warn below 15%)"
    )
    assert judge_disks({"/": 40.0, "/data": 22.0}, 15, 5) == Outcome(OK, "lowest: 22.0% free on /data")


def test_heartbeat_fresh_stale_and_never() -> None:
    limits = {"system.cpu.percent": 15.0, "vitals.beat.heartbeat": 30.0}
    assert judge_heartbeat({"system.cpu.percent": 4.0, "vitals.beat.heartbeat": None}, limits).status == OK
    stale = judge_heartbeat({"system.cpu.percent": 41.2, "vitals.beat.heartbeat": None}, limits)
    assert stale == Outcome(FAIL, "no data for 41 s (newest sample: system.cpu.percent; stale after 15 s)")
    never = judge_heartbeat(dict.fromkeys(limits), limits)
    assert never.status == FAIL and never.message.startswith("no data: nothing collected yet")


def test_queue_needs_workers_and_a_small_backlog() -> None:
    assert judge_queue(0, {"celery": 3}, 1000, 1.0) == Outcome(
        FAIL, "no workers answered ping within 1 s; 3 tasks waiting in 'celery'"
    )
    backlog = judge_queue(2, {"celery": 0, "collect": 1500, "maintenance": None}, 1000, 1.0)
    assert backlog == Outcome(
        WARN,
        "backlog: 1500 tasks waiting (celery: 0, collect: 1500, maintenance: unknown) (warn above 1000); "
        "2 workers online",
    )
    assert judge_queue(1, {"celery": 0}, 1000, 1.0) == Outcome(
        OK, "1 worker online; 0 tasks waiting in 'celery'"
    )


def test_the_queue_check_watches_the_queues_vitals_routes_to() -> None:
    from tasks import celery_app

    assert set(VITALS_QUEUES) == {
        celery_app.DEFAULT_QUEUE,
        celery_app.COLLECT_QUEUE,
        celery_app.MAINTENANCE_QUEUE,
    }


# --- secrets ---------------------------------------------------------------------------------------


def test_mask_url_hides_passwords_and_tokens() -> None:
    assert mask_url("mysql://app:s3cr%40t@db:3306/shop") == "mysql://app:***@db:3306/shop"
    assert mask_url("redis://:pw@cache:6379/0") == "redis://:***@cache:6379/0"
    assert mask_url("https://h/health?token=abc&x=1") == "https://h/health?token=***&x=1"
    assert mask_url("http://h:8080/ok") == "http://h:8080/ok"
    assert set(url_secrets("mysql://app:s3cr%40t@db/x?password=two")) == {"s3cr%40t", "s3cr@t", "two"}
    assert redact("login s3cr@t failed", url_secrets("mysql://app:s3cr%40t@db/x")) == "login *** failed"


# --- overall status ----------------------------------------------------------------------------------


def _result(status: str, critical: bool) -> HealthResult:
    return HealthResult("c", "http", None, critical, status, "", None, datetime(2026, 1, 1, tzinfo=UTC))


def test_overall_status_fails_only_for_a_critical_failure() -> None:
    assert overall_status([_result(OK, True), _result(OK, False)]) == "ok"
    assert overall_status([_result(OK, True), _result(FAIL, False)]) == "degraded"
    assert overall_status([_result(WARN, True), _result(OK, False)]) == "degraded"
    assert overall_status([_result(FAIL, True), _result(OK, False)]) == "fail"
