"""The one gate every state change passes: the caller's role is checked on the server, and the
attempt lands in the audit log whatever its outcome (ok, denied or error).

Pages, REST routes and CLI commands call the section actions (``tasks.actions.<section>``), which use
:func:`audited`; none of them decides permissions itself, so posting a callback by hand gets exactly
the same answer as clicking the button.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from storage import Store
from storage.audit import record_audit
from storage.users import Role

__all__ = ["SYSTEM_ACTOR", "Actor", "PermissionDenied", "audited", "require"]


class PermissionDenied(Exception):
    """The actor's role does not allow the action."""


@dataclass(frozen=True)
class Actor:
    username: str
    role: Role


# The actor for scheduled jobs and for the CLI run by someone with shell access to the box
# (which already implies every power the CLI has).
SYSTEM_ACTOR = Actor(username="system", role=Role.ADMIN)


def require(store: Store, actor: Actor | None, needed: Role, action: str, target: str | None) -> Actor:
    """The actor, if their role allows ``needed``; else the refusal is audited and raised."""
    if actor is None or not actor.role.allows(needed):
        who = actor.username if actor else None
        record_audit(store.engine, who, action, target, outcome="denied")
        role = actor.role.value if actor else "anonymous"
        raise PermissionDenied(f"this needs the {needed.value} role; you are {role}")
    return actor


@contextmanager
def audited(
    store: Store,
    actor: Actor | None,
    needed: Role,
    action: str,
    target: str | None,
    before: Any = None,
) -> Iterator[dict[str, Any]]:
    """Check the role, run the body, and audit it: ``after`` is the dict the body fills in.

    An exception from the body is audited as ``error`` with its message and re-raised.
    """
    allowed = require(store, actor, needed, action, target)
    after: dict[str, Any] = {}
    try:
        yield after
    except Exception as exc:
        record_audit(
            store.engine,
            allowed.username,
            action,
            target,
            before=before,
            after={**after, "error": str(exc)},
            outcome="error",
        )
        raise
    record_audit(store.engine, allowed.username, action, target, before=before, after=after or None)
