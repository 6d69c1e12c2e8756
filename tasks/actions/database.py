"""Database actions: run EXPLAIN now for a stored digest's sample statement (operator)."""

from __future__ import annotations

from storage import Settings, Store
from storage.users import Role
from tasks import mysql_jobs
from tasks.actions.gate import Actor, audited

__all__ = ["EXPLAIN_TIMEOUT_S", "explain_now"]

# The existing EXPLAIN timeout: the server stops the EXPLAIN itself after this long.
EXPLAIN_TIMEOUT_S = 5.0


def explain_now(store: Store, settings: Settings, actor: Actor | None, *, digest_id: int) -> str:
    """EXPLAIN the digest's sample statement on its server and keep the plan; returns the plan JSON.

    Only read-only statements are explained (``ExplainRefused``, a ``ValueError``, otherwise), with
    the server-side timeout; a failure or refusal is audited as an error with its reason.
    """
    found = store.database.digest(digest_id=digest_id)
    target = found["target"] if found else None
    with audited(
        store, actor, Role.OPERATOR, "database.explain", target, before={"digest_id": digest_id}
    ) as after:
        plan = mysql_jobs.explain_digest(store, settings.mysql_urls, digest_id, EXPLAIN_TIMEOUT_S)
        after["plan_bytes"] = len(plan)
    return plan
