"""Replication: ``SHOW REPLICA STATUS`` (or SLAVE) rows as a ``ReplicationState``."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["ReplicationState", "replication_state"]


@dataclass(frozen=True)
class ReplicationState:
    """Replica status; ``configured=False`` means this server is no replica (not an error)."""

    configured: bool
    lag_seconds: float | None = None
    io_running: str | None = None
    sql_running: str | None = None
    last_error: str | None = None


def _first(row: dict[str, Any], *names: str) -> Any:
    for name in names:
        if row.get(name) not in (None, ""):
            return row[name]
    return None


def replication_state(rows: list[dict[str, Any]]) -> ReplicationState:
    """``SHOW REPLICA STATUS`` (or SLAVE) rows -> state; MySQL 8.0.22+ and MariaDB column names both work."""
    if not rows:
        return ReplicationState(configured=False)
    row = rows[0]
    lag = _first(row, "Seconds_Behind_Source", "Seconds_Behind_Master")
    return ReplicationState(
        configured=True,
        lag_seconds=float(lag) if lag is not None else None,
        io_running=_first(row, "Replica_IO_Running", "Slave_IO_Running"),
        sql_running=_first(row, "Replica_SQL_Running", "Slave_SQL_Running"),
        last_error=_first(row, "Last_IO_Error", "Last_SQL_Error", "Last_Error"),
    )
