"""Queue: the recent Celery tasks of the monitored apps (read only; from ``store.queue``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import flask
import pandas as pd
from pydantic import BaseModel, Field

from dashboard.api.core import BadParameter, Query, TimeText, api, iso, responses, spec, validated
from dashboard.services import services

__all__ = ["queue_task", "queue_tasks"]

_STATE_VALUES = [
    "PENDING",
    "RECEIVED",
    "STARTED",
    "SUCCESS",
    "FAILURE",
    "RETRY",
    "REJECTED",
    "REVOKED",
    "failed",
]
_STATES = ", ".join(_STATE_VALUES[:-1]) + ", or failed (FAILURE and RETRY)"
_STATE_NAMES = {value.upper() for value in _STATE_VALUES}
_STATE_ENUM: dict[str, Any] = {"enum": _STATE_VALUES}


class TasksQuery(Query):
    broker: str | None = Field(None, min_length=1, description="A broker's name (`host:port/vhost`).")
    # Free text, checked by the route for the clearer message; the document lists the values.
    state: str | None = Field(None, description=f"One state: {_STATES}.", json_schema_extra=_STATE_ENUM)
    worker: str | None = Field(None, min_length=1, description="Only tasks run by this worker.")
    name: str | None = Field(None, min_length=1, description="Only tasks of this name.")
    since: TimeText = Field("24h", description="Updated since: a duration ago (`1h`) or ISO 8601.")
    until: TimeText | None = Field(None, min_length=1, description="Updated before (default now).")
    limit: int = Field(200, ge=1, le=5000)


class TaskQuery(Query):
    broker: str = Field(min_length=1, description="The broker's name (`host:port/vhost`).")
    task_id: str = Field(min_length=1, description="The task id.")


class TaskSummary(BaseModel):
    broker: str
    task_id: str
    name: str | None
    state: str
    worker: str | None
    args: str | None = Field(description="As the worker showed them (its repr, truncated), secrets masked.")
    kwargs: str | None
    retries: int | None
    runtime: float | None = Field(description="Seconds, for a task that succeeded.")
    received_at: str | None
    started_at: str | None
    finished_at: str | None
    updated_at: str
    exception: str | None


class TasksOut(BaseModel):
    tasks: list[TaskSummary]


class TaskOut(TaskSummary):
    traceback: str | None = Field(description="For a failure or retry, secrets masked.")


@api.get("/queue/tasks")
@spec.validate(query=TasksQuery, resp=responses(TasksOut), tags=["queue"])
def queue_tasks() -> flask.Response:
    """Recent tasks, newest first, as the Queue page lists them."""
    q = validated(TasksQuery)
    if q.state is not None and q.state.upper() not in _STATE_NAMES:
        raise BadParameter("state", f"state: unknown {q.state!r}; choose {_STATES}")
    try:
        frame = services().store.queue.tasks(
            broker=q.broker,
            state=q.state,
            worker=q.worker,
            name=q.name,
            since=q.since,
            until=q.until,
            limit=q.limit,
        )
    except ValueError as exc:  # the time parser's words name the parameter
        message = str(exc)
        parameter = message.split(" ", 1)[0].rstrip(":")
        raise BadParameter(parameter if parameter in ("since", "until") else "since", message) from None
    return flask.jsonify(tasks=[_task(row) for row in frame.to_dict("records")])


@api.get("/queue/task")
@spec.validate(query=TaskQuery, resp=responses(TaskOut, 404), tags=["queue"])
def queue_task() -> flask.Response:
    """One task with everything stored about it, its traceback included; 404 when unknown."""
    q = validated(TaskQuery)
    found = services().store.queue.task(broker=q.broker, task_id=q.task_id)
    if found is None:
        raise BadParameter("task_id", f"task_id: no task {q.task_id!r} on {q.broker!r}", status=404)
    return flask.jsonify({**_task(found), "traceback": found.get("traceback")})


def _task(row: dict[str, Any]) -> dict[str, Any]:
    return {key: _plain(row.get(key)) for key in TaskSummary.model_fields}


def _plain(value: Any) -> Any:
    if value is None or (isinstance(value, float) and value != value):
        return None
    if value is pd.NaT:
        return None
    if isinstance(value, datetime):
        return iso(value)
    return value
