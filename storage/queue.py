"""Queue: the recent Celery tasks (one row per broker and task id), written and read for both dialects.

The Celery collector reports, per window of task events, a partial record per task id (the fields
that window's events carried). :func:`record_tasks` merges them into the stored rows:

- a field the new record has replaces the stored one; a field it lacks keeps the stored value (a
  task received in one window and finished in the next ends up with its name, arguments and runtime);
- the state only moves forward (PENDING < RECEIVED < STARTED < SUCCESS/FAILURE/REJECTED/REVOKED),
  except that RETRY gives way to anything: a retried task is received again under the same id. Two
  Vitals workers sharing one RabbitMQ event queue may store one task's windows in either order, and
  this keeps the later state.

Writing the same records twice (a spool replay) leaves the rows as they were. Only the newest
``KEEP_TASKS`` rows per broker are kept: the table is for what just happened; the counts over time are
samples (``celery.task.*``).

Records arrive as plain mappings with the ``collectors.celery_tasks.TaskRecord`` fields (this module
imports nothing from collectors).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, delete, func, select, update
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError

from storage.engine import write_transaction
from storage.schema import celery_tasks
from storage.timeparse import TimeInput, resolve_range

__all__ = [
    "FINAL_STATES",
    "KEEP_TASKS",
    "TASK_COLUMNS",
    "QueueSection",
    "get_task",
    "prune_tasks",
    "recent_tasks",
    "record_tasks",
    "tasks_per_worker",
]

KEEP_TASKS = 10_000
FINAL_STATES = ("SUCCESS", "FAILURE", "REJECTED", "REVOKED")
_RANK = {"PENDING": 0, "RECEIVED": 1, "STARTED": 2, **dict.fromkeys(FINAL_STATES, 3)}
_FIELDS = (
    "name",
    "worker",
    "args",
    "kwargs",
    "received_at",
    "started_at",
    "finished_at",
    "runtime",
    "retries",
    "exception",
    "traceback",
)
_TIMES = ("received_at", "started_at", "finished_at", "updated_at")
TASK_COLUMNS = ["broker", "task_id", "name", "state", "worker", "runtime", *_TIMES[:3], "updated_at"]
_LOOKUP_CHUNK = 500


def _naive(moment: Any) -> datetime | None:
    if moment is None:
        return None
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    if not isinstance(moment, datetime):
        raise ValueError(f"not a time: {moment!r}")
    return moment.astimezone(UTC).replace(tzinfo=None) if moment.tzinfo else moment


def _state_wins(new: str, old: str) -> bool:
    """Whether a record in state ``new`` may replace a stored ``old`` (see the module docstring)."""
    return old == "RETRY" or _RANK.get(new, 2) >= _RANK.get(old, 2)


def _merged(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> dict[str, Any]:
    row = dict(old or {})
    for key in _FIELDS:
        if new.get(key) is not None:
            row[key] = _naive(new[key]) if key in _TIMES else new[key]
    new_state, new_at = str(new["state"]), _naive(new["updated_at"])
    if old is None or _state_wins(new_state, str(old["state"])):
        row["state"] = new_state
    if old is None or (new_at is not None and new_at > old["updated_at"]):
        row["updated_at"] = new_at
    return row


def record_tasks(engine: Engine, broker: str, records: Iterable[Mapping[str, Any]]) -> int:
    """Merge task records of ``broker`` into the table; returns how many tasks were new."""
    by_id: dict[str, dict[str, Any]] = {}
    for record in records:  # several records of one task in one batch fold in order first
        task_id = str(record["task_id"])
        by_id[task_id] = _merged(by_id.get(task_id), record)
    if not by_id:
        return 0
    try:
        return _merge(engine, broker, by_id)
    except IntegrityError:  # another writer inserted one of these tasks meanwhile: merge again
        return _merge(engine, broker, by_id)


def _merge(engine: Engine, broker: str, by_id: dict[str, dict[str, Any]]) -> int:
    ids = list(by_id)
    with write_transaction(engine) as conn:
        stored = _stored(conn, broker, ids)
        new_rows, changed = [], []
        for task_id, record in by_id.items():
            old = stored.get(task_id)
            row = _merged(old, record)
            if old is None:
                new_rows.append({"broker": broker, "task_id": task_id, **_values(row)})
            elif any(row.get(key) != old.get(key) for key in row):
                changed.append(row)
        if new_rows:
            conn.execute(celery_tasks.insert(), new_rows)
        for row in changed:
            conn.execute(update(celery_tasks).where(celery_tasks.c.id == row["id"]).values(**_values(row)))
        if new_rows:
            prune_tasks(conn, broker)
    return len(new_rows)


def _values(row: Mapping[str, Any]) -> dict[str, Any]:
    return {key: row.get(key) for key in (*_FIELDS, "state", "updated_at")}


def _stored(conn: Connection, broker: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for start in range(0, len(ids), _LOOKUP_CHUNK):
        chunk = ids[start : start + _LOOKUP_CHUNK]
        query = select(celery_tasks).where(celery_tasks.c.broker == broker, celery_tasks.c.task_id.in_(chunk))
        for row in conn.execute(query).mappings():
            found[str(row["task_id"])] = dict(row)
    return found


def prune_tasks(conn: Connection, broker: str, keep: int = KEEP_TASKS) -> int:
    """Delete all but the newest ``keep`` rows of ``broker``; returns how many went."""
    # One index range read (broker, updated_at) finds the cut; nothing is sorted in memory.
    cut = conn.execute(
        select(celery_tasks.c.updated_at)
        .where(celery_tasks.c.broker == broker)
        .order_by(celery_tasks.c.updated_at.desc())
        .offset(keep)
        .limit(1)
    ).scalar()
    if cut is None:
        return 0
    gone = conn.execute(
        delete(celery_tasks).where(celery_tasks.c.broker == broker, celery_tasks.c.updated_at <= cut)
    )
    return int(gone.rowcount or 0)


def recent_tasks(
    engine: Engine,
    broker: str | None = None,
    *,
    state: str | None = None,
    worker: str | None = None,
    name: str | None = None,
    since: TimeInput = "24h",
    until: TimeInput = None,
    limit: int = 200,
) -> pd.DataFrame:
    """Tasks updated in the window, newest first (``TASK_COLUMNS`` plus id, args, kwargs, retries,
    exception; times UTC). ``state`` is one state or ``failed`` for FAILURE and RETRY together."""
    if limit < 1:
        raise ValueError(f"limit must be at least 1, not {limit}")
    start, end = resolve_range(since, until)
    columns = [c for c in celery_tasks.columns if c.name != "traceback"]
    query = select(*columns).where(
        celery_tasks.c.updated_at >= _naive(start), celery_tasks.c.updated_at <= _naive(end)
    )
    if broker is not None:
        query = query.where(celery_tasks.c.broker == broker)
    if state:
        wanted = ["FAILURE", "RETRY"] if state.lower() == "failed" else [state.upper()]
        query = query.where(celery_tasks.c.state.in_(wanted))
    if worker:
        query = query.where(celery_tasks.c.worker == worker)
    if name:
        query = query.where(celery_tasks.c.name == name)
    query = query.order_by(celery_tasks.c.updated_at.desc(), celery_tasks.c.id.desc()).limit(limit)
    with engine.connect() as conn:
        rows = conn.execute(query).mappings().all()
    frame = pd.DataFrame(rows, columns=[c.name for c in columns])
    for column in _TIMES:
        frame[column] = pd.to_datetime(frame[column], utc=True)
    frame["runtime"] = frame["runtime"].astype("float64")
    return frame


def get_task(engine: Engine, broker: str, task_id: str) -> dict[str, Any] | None:
    """One task with everything stored about it (traceback included), times UTC; None if unknown."""
    with engine.connect() as conn:
        row = (
            conn.execute(
                select(celery_tasks).where(celery_tasks.c.broker == broker, celery_tasks.c.task_id == task_id)
            )
            .mappings()
            .first()
        )
    if row is None:
        return None
    task = dict(row)
    for column in _TIMES:
        if task[column] is not None:
            task[column] = task[column].replace(tzinfo=UTC)
    return task


def tasks_per_worker(engine: Engine, since: TimeInput = "1h") -> dict[tuple[str, str], int]:
    """(broker, worker) -> tasks updated in the window: a worker that runs tasks but has none here
    sends no task events."""
    start, _end = resolve_range(since)
    query = (
        select(celery_tasks.c.broker, celery_tasks.c.worker, func.count())
        .where(celery_tasks.c.updated_at >= _naive(start), celery_tasks.c.worker.is_not(None))
        .group_by(celery_tasks.c.broker, celery_tasks.c.worker)
    )
    with engine.connect() as conn:
        return {(str(b), str(w)): int(n) for b, w, n in conn.execute(query)}


class QueueSection:
    """``store.queue``: the Queue page's recent tasks, keyword arguments only."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def tasks(
        self,
        *,
        broker: str | None = None,
        state: str | None = None,
        worker: str | None = None,
        name: str | None = None,
        since: TimeInput = "24h",
        until: TimeInput = None,
        limit: int = 200,
    ) -> pd.DataFrame:
        """Recent tasks, newest first (see :func:`recent_tasks`)."""
        return recent_tasks(
            self._engine, broker, state=state, worker=worker, name=name, since=since, until=until, limit=limit
        )

    def task(self, *, broker: str, task_id: str) -> dict[str, Any] | None:
        """One task with its arguments, exception and traceback, or None."""
        return get_task(self._engine, broker, task_id)
