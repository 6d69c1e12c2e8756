"""The one shape every collector returns, and the guard that keeps one failed reading from breaking a scrape.

Every collector has a ``name`` and one ``collect()`` (prometheus_client's collector is the model) that
never raises for its target: what could not be read lands in ``Collection.errors``. A section's
collection may carry more than readings (MySQL digests and deadlocks, Redis slowlog entries); those
are subclasses of :class:`Collection`, so the jobs share one collect-and-store loop
(``tasks.collect``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol, TypeVar

__all__ = ["Collection", "Collector", "Reading", "guarded"]

log = logging.getLogger("vitals.collectors")


@dataclass(frozen=True, slots=True)
class Reading:
    """One measured value. The collection it belongs to gives its time and target (the stored host)."""

    metric: str
    value: float
    labels: dict[str, str] = field(default_factory=dict)
    unit: str = ""


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass
class Collection:
    """What one cycle read from one target: readings, and one message per part that failed."""

    target: str
    at: datetime = field(default_factory=_now)
    readings: list[Reading] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


C_co = TypeVar("C_co", bound=Collection, covariant=True)


class Collector(Protocol[C_co]):
    """Anything with a name that reads its target once per call, without raising for the target."""

    @property
    def name(self) -> str: ...

    def collect(self) -> C_co: ...


def guarded(
    name: str, read: Callable[[], Iterable[Reading]], errors: list[str] | None = None
) -> Iterator[Reading]:
    """Yield what ``read`` yields; on failure log it, add it to ``errors`` and yield nothing (the rest
    still runs)."""
    try:
        yield from list(read())
    except Exception as exc:  # a collector must survive any one source failing
        log.warning("collector reading %s failed: %s", name, exc)
        if errors is not None:
            errors.append(f"{name}: {exc}")
