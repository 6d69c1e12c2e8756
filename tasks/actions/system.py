"""System actions: run a collection now."""

from __future__ import annotations

from storage import Store
from storage.users import Role
from tasks.actions.gate import Actor, audited
from tasks.scheduler import EmbeddedScheduler

__all__ = ["collect_now"]


def collect_now(store: Store, scheduler: EmbeddedScheduler | None, actor: Actor | None) -> str:
    """Run host collection immediately (operator)."""
    with audited(store, actor, Role.OPERATOR, "collect_now", "vitals.collect_system"):
        if scheduler is None:
            raise RuntimeError("collection runs on Celery workers here; nothing to run in this process")
        scheduler.run_now("vitals.collect_system")
    return "Collected this host's metrics."
