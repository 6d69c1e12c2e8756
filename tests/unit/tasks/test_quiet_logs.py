"""The repeat limiter: a warning repeated every interval is written once, then at most every N s."""

from __future__ import annotations

import logging

import pytest

from tasks.quiet_logs import RepeatLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def logged() -> tuple[logging.Logger, list[str], Clock]:
    clock = Clock()
    lines: list[str] = []
    handler = logging.Handler()
    handler.emit = lambda record: lines.append(f"{record.levelname} {record.getMessage()}")  # type: ignore[method-assign]
    handler.addFilter(RepeatLimiter(every=600, clock=clock))
    logger = logging.getLogger("vitals.test.quiet")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, lines, clock


def test_a_repeated_warning_is_written_once_then_once_per_period_with_a_count(
    logged: tuple[logging.Logger, list[str], Clock],
) -> None:
    logger, lines, clock = logged
    for _ in range(60):  # ten minutes of a 10 s collection interval
        logger.warning("mysql %s: unreachable", "db1")
        clock.now += 10
    assert lines == ["WARNING mysql db1: unreachable"]
    logger.warning("mysql %s: unreachable", "db1")
    assert lines[-1] == "WARNING mysql db1: unreachable (repeated 59 more times in the last 10 min)"


def test_a_changed_message_and_lower_levels_always_pass(
    logged: tuple[logging.Logger, list[str], Clock],
) -> None:
    logger, lines, _clock = logged
    logger.warning("db1: unreachable")
    logger.warning("db1: unreachable")
    logger.warning("db1: access denied")  # the state changed: said at once
    logger.info("collected db1")
    logger.info("collected db1")
    assert lines == [
        "WARNING db1: unreachable",
        "WARNING db1: access denied",
        "INFO collected db1",
        "INFO collected db1",
    ]
