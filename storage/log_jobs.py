"""Background jobs of the Logs page (archive, restore, delete hot rows): one ``log_jobs`` row each.

The row is the whole state of a job: its parameters, the latest progress, a cancel flag the runner
reads between batches, and the outcome. Whoever runs the job (a Celery worker or a thread of the
web process) writes it; the page and ``GET /api/logs/jobs/{id}`` read it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Engine, select, update

from storage.engine import write_transaction
from storage.schema import log_jobs
from storage.timeparse import utc_now

__all__ = [
    "JOB_KINDS",
    "LogJob",
    "create_job",
    "finish_job",
    "get_job",
    "job_progress",
    "recent_jobs",
    "request_cancel",
]

JOB_KINDS = ("archive", "restore", "delete_hot")
FINISHED = ("done", "cancelled", "failed")
# A running job writes its progress at least this often; one silent for longer lost its process.
STALE_AFTER = timedelta(seconds=120)


@dataclass(frozen=True)
class LogJob:
    """``status``: queued, running, done, cancelled or failed."""

    id: str
    kind: str
    status: str
    username: str | None
    archive_id: int | None
    created_at: datetime
    updated_at: datetime
    params: dict[str, Any]
    progress: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    cancel_requested: bool

    @property
    def finished(self) -> bool:
        return self.status in FINISHED


def _now() -> datetime:
    return utc_now().replace(tzinfo=None)


def _job(row: Any) -> LogJob:
    stale = row["status"] in ("queued", "running") and row["updated_at"] < _now() - STALE_AFTER
    return LogJob(
        id=row["id"],
        kind=row["kind"],
        status="failed" if stale else row["status"],
        username=row["username"],
        archive_id=int(row["archive_id"]) if row["archive_id"] is not None else None,
        created_at=pd.Timestamp(row["created_at"]).tz_localize("UTC").to_pydatetime(),
        updated_at=pd.Timestamp(row["updated_at"]).tz_localize("UTC").to_pydatetime(),
        params=dict(row["params"] or {}),
        progress=dict(row["progress"] or {}),
        result=dict(row["result"]) if row["result"] is not None else None,
        error="the process running this job stopped" if stale else row["error"],
        cancel_requested=bool(row["cancel_requested"]),
    )


def create_job(
    engine: Engine,
    *,
    job_id: str,
    kind: str,
    username: str | None,
    params: Mapping[str, Any],
    archive_id: int | None = None,
) -> LogJob:
    """Queue a job of ``kind`` (archive, restore or delete_hot)."""
    if kind not in JOB_KINDS:
        raise ValueError(f"kind: one of {', '.join(JOB_KINDS)}")
    now = _now()
    with write_transaction(engine) as conn:
        conn.execute(
            log_jobs.insert(),
            {
                "id": job_id, "kind": kind, "status": "queued", "username": username,
                "archive_id": archive_id, "created_at": now, "updated_at": now, "params": dict(params),
                "progress": {}, "result": None, "error": None, "cancel_requested": False,
            },
        )  # fmt: skip
    found = get_job(engine, job_id)
    assert found is not None
    return found


def job_progress(engine: Engine, job_id: str, progress: Mapping[str, Any]) -> bool:
    """Record progress (and mark the job running); returns True when a cancel was requested."""
    with write_transaction(engine) as conn:
        conn.execute(
            update(log_jobs)
            .where(log_jobs.c.id == job_id, log_jobs.c.status.in_(("queued", "running")))
            .values(status="running", progress=dict(progress), updated_at=_now())
        )
        wanted = conn.execute(select(log_jobs.c.cancel_requested).where(log_jobs.c.id == job_id)).scalar()
    return bool(wanted)


def finish_job(
    engine: Engine,
    job_id: str,
    *,
    status: str,
    result: Mapping[str, Any] | None = None,
    error: str | None = None,
    archive_id: int | None = None,
) -> None:
    """Mark the job done, cancelled or failed, with its outcome."""
    if status not in FINISHED:
        raise ValueError(f"status: one of {', '.join(FINISHED)}")
    values: dict[str, Any] = {
        "status": status,
        "result": dict(result) if result is not None else None,
        "error": error,
        "updated_at": _now(),
    }
    if archive_id is not None:
        values["archive_id"] = archive_id
    with write_transaction(engine) as conn:
        conn.execute(update(log_jobs).where(log_jobs.c.id == job_id).values(**values))


def request_cancel(engine: Engine, job_id: str) -> bool:
    """Ask a queued or running job to stop; False when it had already finished (or does not exist)."""
    with write_transaction(engine) as conn:
        changed = conn.execute(
            update(log_jobs)
            .where(log_jobs.c.id == job_id, log_jobs.c.status.in_(("queued", "running")))
            .values(cancel_requested=True)
        ).rowcount
    return bool(changed)


def get_job(engine: Engine, job_id: str) -> LogJob | None:
    """One job by id, or None."""
    with engine.connect() as conn:
        row = conn.execute(select(log_jobs).where(log_jobs.c.id == job_id)).mappings().first()
    return _job(row) if row is not None else None


def recent_jobs(engine: Engine, *, limit: int = 20) -> list[LogJob]:
    """The newest jobs first."""
    statement = select(log_jobs).order_by(log_jobs.c.created_at.desc(), log_jobs.c.id).limit(limit)
    with engine.connect() as conn:
        return [_job(row) for row in conn.execute(statement).mappings()]
