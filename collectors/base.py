"""What every collector returns, and the guard that keeps one failed reading from breaking a scrape."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

__all__ = ["Reading", "guarded"]

log = logging.getLogger("vitals.collectors")


@dataclass(frozen=True, slots=True)
class Reading:
    """One measured value. The caller adds the time and host when it stores it."""

    metric: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)
    unit: str = ""


def guarded(name: str, read: Callable[[], Iterable[Reading]]) -> Iterator[Reading]:
    """Yield what ``read`` yields; on failure log it once and yield nothing (the rest still runs)."""
    try:
        yield from list(read())
    except Exception as exc:  # a collector must survive any one source failing
        log.warning("collector reading %s failed: %s", name, exc)
