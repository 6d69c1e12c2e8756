"""What every job gets: the store and per-process state (``JobContext``), and how jobs are declared."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from collectors.system import SystemCollector
from storage import Store

__all__ = ["JobContext", "JobSpec"]

T = TypeVar("T")


@dataclass
class JobContext:
    """What job bodies need; one per process, so collectors keep their previous counters."""

    store: Store
    system: SystemCollector = field(default_factory=SystemCollector)
    # Per-job state that must outlive one run (a collector per monitored target, say).
    state: dict[str, Any] = field(default_factory=dict)

    def keep(self, key: str, make: Callable[[], T]) -> T:
        """The object kept under ``key``, made by ``make()`` on first use."""
        if key not in self.state:
            self.state[key] = make()
        found: T = self.state[key]
        return found


@dataclass(frozen=True)
class JobSpec:
    name: str  # also the Celery task name
    interval_seconds: float
    body: Callable[[JobContext], object]
