"""System actions: run a collection now, upgrade the schema, enforce retention now."""

from __future__ import annotations

from storage import Settings, Store
from storage.retention import enforce_retention
from storage.users import Role
from tasks.actions.gate import Actor, PermissionDenied, audited
from tasks.scheduler import EmbeddedScheduler

__all__ = ["collect_now", "enforce_retention_now", "upgrade_schema"]


def collect_now(store: Store, scheduler: EmbeddedScheduler | None, actor: Actor | None) -> str:
    """Run host collection immediately (operator)."""
    with audited(store, actor, Role.OPERATOR, "collect_now", "vitals.collect_system"):
        if scheduler is None:
            raise RuntimeError("collection runs on Celery workers here; nothing to run in this process")
        scheduler.run_now("vitals.collect_system")
    return "Collected this host's metrics."


def upgrade_schema(store: Store, actor: Actor | None) -> None:
    """Apply pending schema migrations (admin), then audit it.

    A refusal is raised before anything is migrated, and is not audited: on a new store there is no
    audit table yet to write it to.
    """
    if actor is None or not actor.role.allows(Role.ADMIN):
        raise PermissionDenied("this needs the admin role")
    store.migrate()
    with audited(store, actor, Role.ADMIN, "upgrade_schema", store.dialect):
        pass


def enforce_retention_now(store: Store, settings: Settings, actor: Actor | None) -> dict[str, int]:
    """Delete what each tier no longer keeps, now (admin); rows deleted per tier."""
    with audited(store, actor, Role.ADMIN, "enforce_retention", None) as after:
        deleted = enforce_retention(store.engine, settings)
        after["deleted"] = deleted
    return deleted
