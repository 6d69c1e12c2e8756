"""Incidents and their timeline."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, select

from storage.frames import check_choice, utc_frame
from storage.schema import incidents
from storage.timeparse import TimeInput, resolve_range

__all__ = ["INCIDENT_STATUSES", "IncidentsSection", "read_incidents"]

INCIDENT_STATUSES = ("open", "investigating", "mitigated", "resolved")


def read_incidents(engine: Engine, status: str | None = None, since: TimeInput = "90d") -> pd.DataFrame:
    """Incidents opened in the window, newest first."""
    status = check_choice("status", status, INCIDENT_STATUSES)
    start, end = resolve_range(since)
    statement = (
        select(incidents)
        .where(
            incidents.c.opened_at >= start.replace(tzinfo=None),
            incidents.c.opened_at <= end.replace(tzinfo=None),
        )
        .order_by(incidents.c.opened_at.desc(), incidents.c.id.desc())
    )
    if status is not None:
        statement = statement.where(incidents.c.status == status)
    return utc_frame(engine, statement, ["opened_at", "resolved_at"])


class IncidentsSection:
    """``store.incidents``: call it to list incidents (``store.incidents(status="open")``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __call__(self, status: str | None = None, since: TimeInput = "90d") -> pd.DataFrame:
        """Incidents opened in the window (open, investigating, mitigated or resolved), newest first."""
        return read_incidents(self._engine, status, since)
