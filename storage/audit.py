"""The audit log: who did what, when, and what it looked like before and after."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sqlalchemy import Engine, select

from storage.engine import write_transaction
from storage.schema import audit_log
from storage.timeparse import TimeInput, resolve_range, utc_now

__all__ = ["audit_entries", "record_audit"]


def record_audit(
    engine: Engine,
    username: str | None,
    action: str,
    target: str | None = None,
    before: Any = None,
    after: Any = None,
    outcome: str = "ok",
) -> None:
    """Append one entry. ``outcome`` is ``ok``, ``denied`` or ``error`` so refused attempts show too."""
    with write_transaction(engine) as conn:
        conn.execute(
            audit_log.insert(),
            {
                "ts": utc_now().replace(tzinfo=None),
                "username": username,
                "action": action,
                "target": target,
                "before": before,
                "after": after,
                "outcome": outcome,
            },
        )


def audit_entries(engine: Engine, since: TimeInput = "30d", limit: int = 200) -> pd.DataFrame:
    """Newest entries first, with ``ts`` as UTC."""
    start, end = resolve_range(since)
    query = (
        select(audit_log)
        .where(audit_log.c.ts >= start.replace(tzinfo=None), audit_log.c.ts <= end.replace(tzinfo=None))
        .order_by(audit_log.c.ts.desc(), audit_log.c.id.desc())
        .limit(limit)
    )
    with engine.connect() as conn:
        frame = pd.DataFrame(
            conn.execute(query).mappings().all(), columns=[c.name for c in audit_log.columns]
        )
    frame["ts"] = pd.to_datetime(frame["ts"], utc=True)
    # pandas reads missing text as NaN; callers expect None for "no user" / "no target".
    for column in ("username", "target", "before", "after"):
        frame[column] = frame[column].astype(object).where(frame[column].notna(), None)
    return frame
