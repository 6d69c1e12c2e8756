"""Recent tasks from Celery task events, as Flower lists them: one record per task id.

Each window of events (see ``collectors.celery_monitor``) folds into one :class:`TaskRecord` per task
id it mentions, with what that window learnt: the state reached, the worker, the arguments (as the
worker's ``argsrepr``/``kwargsrepr`` strings), the times, and for a failure or retry the exception
and traceback. A task whose events span two windows gives two partial records; the store merges them
(``storage.queue``), so a record here only carries the fields its events had.

Arguments, exceptions and tracebacks are user data and may hold secrets (a password argument, a
connection URL in a traceback): they are masked with the log ingestion's rules and truncated before
they leave the collector, so nothing secret or unbounded reaches the store.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from collectors.logs.mask import mask_text

__all__ = ["MAX_TASKS_PER_WINDOW", "STATES", "TaskRecord", "TaskRecords"]

# The event type -> the state it puts the task in (Celery's own state names).
STATES = {
    "task-sent": "PENDING",
    "task-received": "RECEIVED",
    "task-started": "STARTED",
    "task-succeeded": "SUCCESS",
    "task-failed": "FAILURE",
    "task-retried": "RETRY",
    "task-rejected": "REJECTED",
    "task-revoked": "REVOKED",
}
# A window under heavy load keeps at most this many records (the newest; failures first): the table
# is for looking at what just happened, the counts come from ``TaskStats`` and stay exact.
MAX_TASKS_PER_WINDOW = 5_000
_ARGS_CHARS = 1_000
_EXCEPTION_CHARS = 2_000
_TRACEBACK_CHARS = 20_000


@dataclass(frozen=True, slots=True)
class TaskRecord:
    """What one window's events said about one task; None where they said nothing."""

    task_id: str
    state: str
    updated_at: datetime
    name: str | None = None
    worker: str | None = None
    args: str | None = None
    kwargs: str | None = None
    received_at: datetime | None = None
    started_at: datetime | None = None
    finished_at: datetime | None = None
    runtime: float | None = None
    retries: int | None = None
    exception: str | None = None
    traceback: str | None = None


class TaskRecords:
    """Folds the task events of one window into one record per task id."""

    def __init__(self, limit: int = MAX_TASKS_PER_WINDOW) -> None:
        self.limit = limit
        self.records: OrderedDict[str, TaskRecord] = OrderedDict()

    def handle(self, event: Mapping[str, Any], name: str | None = None) -> None:
        """Fold one event in; ``name`` is the task name remembered from an earlier event, if any."""
        kind = str(event.get("type", ""))
        state, task_id = STATES.get(kind), str(event.get("uuid") or "")
        if state is None or not task_id:
            return
        at = _time(event.get("timestamp")) or datetime.now(UTC).replace(tzinfo=None)
        old = self.records.pop(task_id, None) or TaskRecord(task_id, state, at)
        self.records[task_id] = replace(old, state=state, updated_at=at, **_fields(kind, event, at, name))
        if len(self.records) > self.limit:
            self._shed()

    def take(self) -> list[TaskRecord]:
        records, self.records = list(self.records.values()), OrderedDict()
        return records

    def _shed(self) -> None:
        """Drop the oldest record that is not a failure (or the oldest, when all are)."""
        for task_id, record in self.records.items():
            if record.state not in ("FAILURE", "RETRY"):
                del self.records[task_id]
                return
        self.records.popitem(last=False)


def _fields(kind: str, event: Mapping[str, Any], at: datetime, name: str | None) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if event.get("name") or name:
        fields["name"] = str(event.get("name") or name)
    if event.get("hostname"):
        fields["worker"] = str(event["hostname"])
    if kind in ("task-sent", "task-received"):
        for key in ("args", "kwargs"):
            if event.get(key) is not None:
                fields[key] = _clean(event[key], _ARGS_CHARS)
        if isinstance(event.get("retries"), int):
            fields["retries"] = event["retries"]
    if kind == "task-received":
        fields["received_at"] = at
    elif kind == "task-started":
        fields["started_at"] = at
    elif kind in ("task-succeeded", "task-failed", "task-rejected", "task-revoked"):
        fields["finished_at"] = at
    if kind == "task-succeeded" and isinstance(event.get("runtime"), int | float):
        fields["runtime"] = float(event["runtime"])
    if kind in ("task-failed", "task-retried"):
        if event.get("exception"):
            fields["exception"] = _clean(event["exception"], _EXCEPTION_CHARS)
        if event.get("traceback"):
            fields["traceback"] = _clean(event["traceback"], _TRACEBACK_CHARS, keep_end=True)
    return fields


def _clean(value: Any, limit: int, keep_end: bool = False) -> str:
    """Masked, then truncated (a traceback keeps its end, where the error is)."""
    text = mask_text(str(value))
    if len(text) <= limit:
        return text
    return "…" + text[-(limit - 1) :] if keep_end else text[: limit - 1] + "…"


def _time(value: Any) -> datetime | None:
    if not isinstance(value, int | float) or value <= 0:
        return None
    return datetime.fromtimestamp(float(value), UTC).replace(tzinfo=None)
