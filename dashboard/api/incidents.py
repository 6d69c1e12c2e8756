"""Incidents: list and create, read and update one, move it along its status flow, comment, open one
from an alert, export its postmortem. Changes go through ``tasks.actions.incidents`` (operator)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import flask
import pandas as pd
from pydantic import BaseModel, Field, StrictBool

from dashboard.api.core import Query, TimeText, api, iso, responses, spec, validated
from dashboard.services import current_actor, services
from storage.incidents import INCIDENT_SEVERITIES, INCIDENT_STATUSES, IncidentInputError, UnknownIncident
from storage.postmortem import postmortem_document
from tasks.actions import incidents as actions

__all__ = [
    "incident_comment",
    "incident_create",
    "incident_from_alert",
    "incident_get",
    "incident_list",
    "incident_postmortem",
    "incident_status",
    "incident_update",
]

_SEVERITIES = ", ".join(INCIDENT_SEVERITIES)
_STATUSES = ", ".join(INCIDENT_STATUSES)


@api.errorhandler(IncidentInputError)
def _bad_input(exc: IncidentInputError) -> tuple[flask.Response, int]:
    return flask.jsonify(error=str(exc), parameter=exc.field), 400


@api.errorhandler(UnknownIncident)
def _unknown(exc: UnknownIncident) -> tuple[flask.Response, int]:
    return flask.jsonify(error=str(exc), parameter=exc.field), 404


# -- models -------------------------------------------------------------------------------------


class IncidentsQuery(Query):
    status: str | None = Field(None, description=f"comma-separated: {_STATUSES}, or open (all but resolved)")
    severity: str | None = Field(None, description=f"comma-separated: {_SEVERITIES}")
    target: str | None = Field(None, description="an affected target's name")
    since: TimeText = Field("30d", description="active since: a duration ago (30d) or ISO 8601")
    until: TimeText | None = Field(None, description="active until (default now)")
    limit: int = Field(200, ge=1, le=1000)


class IncidentSummary(BaseModel):
    id: int
    title: str
    status: str
    severity: str
    owner: str | None
    targets: list[str]
    source: str
    opened_at: str
    detected_at: str | None
    resolved_at: str | None


class IncidentsOut(BaseModel):
    incidents: list[IncidentSummary]


class LinkedAlert(BaseModel):
    id: int
    rule: str
    metric: str
    severity: str
    state: str
    target: str
    started_at: str
    resolved_at: str | None


class TimelineEntry(BaseModel):
    ts: str
    kind: str
    username: str | None
    body: str | None
    alert_id: int | None


class IncidentOut(BaseModel):
    id: int
    title: str
    description: str | None
    status: str
    severity: str
    owner: str | None
    targets: list[str]
    source: str
    opened_by: str | None
    opened_at: str
    impact_started_at: str | None
    detected_at: str | None
    acknowledged_at: str | None
    mitigated_at: str | None
    resolved_at: str | None
    mtta_seconds: float | None = Field(description="acknowledged - detected")
    mttr_seconds: float | None = Field(description="resolved - detected")
    impact_seconds: float | None = Field(description="resolved - impact started")
    allowed_statuses: list[str] = Field(description="where the status may move next")
    postmortem: str | None
    alerts: list[LinkedAlert]
    timeline: list[TimelineEntry]


class CreateBody(Query):
    title: str = Field(min_length=1, max_length=255, pattern=r"\S")
    severity: str = Field(description=_SEVERITIES, json_schema_extra={"enum": list(INCIDENT_SEVERITIES)})
    description: str | None = None
    targets: list[str] = Field(default_factory=list, description="affected target names")
    owner: str | None = None
    impact_started_at: TimeText | None = Field(None, description="ISO 8601; default: when it was detected")


class FromAlertBody(Query):
    alert_id: int = Field(ge=1, description="the alert to open an incident for")


class UpdateBody(Query):
    """Only the fields sent change; all of them or none."""

    title: str | None = Field(None, min_length=1, max_length=255, pattern=r"\S")
    description: str | None = None
    severity: str | None = Field(
        None, description=_SEVERITIES, json_schema_extra={"enum": list(INCIDENT_SEVERITIES)}
    )
    owner: str | None = Field(None, description="empty string: nobody")
    targets: list[str] | None = None
    impact_started_at: TimeText | None = Field(None, description="ISO 8601; not after the resolution")
    postmortem: str | None = Field(None, description="Markdown; editable after resolution")


class StatusBody(Query):
    status: str = Field(description=_STATUSES, json_schema_extra={"enum": list(INCIDENT_STATUSES)})
    note: str | None = Field(None, description="why (shown on the timeline); required to reopen")
    reopen: StrictBool = Field(False, description="reopen a resolved incident (status must be investigating)")


class CommentBody(Query):
    body: str = Field(min_length=1, max_length=100_000)


class TimelineEntryOut(BaseModel):
    id: int


# -- routes -------------------------------------------------------------------------------------


def _when(value: Any) -> str | None:
    """ISO 8601, or None for a missing time (None or pandas' NaT)."""
    return None if value is None or pd.isna(value) else iso(value)


def _summary(row: Any) -> dict[str, Any]:
    return {
        "id": int(row.id),
        "title": row.title,
        "status": row.status,
        "severity": row.severity,
        "owner": None if pd.isna(row.owner) else row.owner,  # pandas reads a NULL owner as NaN
        "targets": list(row.targets),
        "source": row.source,
        "opened_at": iso(row.opened_at),
        "detected_at": _when(row.detected_at),
        "resolved_at": _when(row.resolved_at),
    }


def _detail(incident_id: int) -> dict[str, Any]:
    incidents = services().store.incidents
    found = incidents.get(incident_id=incident_id)
    body = {key: (_when(value) if isinstance(value, datetime) else value) for key, value in found.items()}
    body = {key: body[key] for key in IncidentOut.model_fields if key in body}
    for key in ("impact_started_at", "detected_at", "acknowledged_at", "mitigated_at", "resolved_at"):
        body.setdefault(key, None)
    body["alerts"] = [
        {
            "id": int(row.id),
            "rule": row.rule,
            "metric": row.metric,
            "severity": row.severity,
            "state": row.state,
            "target": row.target,
            "started_at": iso(row.started_at),
            "resolved_at": _when(row.resolved_at),
        }
        for row in incidents.linked_alerts(incident_id=incident_id).itertuples()
    ]
    body["timeline"] = [
        {
            "ts": iso(row.ts),
            "kind": row.kind,
            "username": row.username,
            "body": row.body,
            "alert_id": None if pd.isna(row.alert_id) else int(row.alert_id),
        }
        for row in incidents.timeline(incident_id=incident_id).itertuples()
    ]
    return body


@api.get("/incidents")
@spec.validate(query=IncidentsQuery, resp=responses(IncidentsOut), tags=["incidents"])
def incident_list() -> flask.Response:
    """Incidents active in the window, open ones first, then newest first."""
    q = validated(IncidentsQuery)
    try:
        frame = services().store.incidents.find(
            status=q.status, severity=q.severity, target=q.target, since=q.since, until=q.until, limit=q.limit
        )
    except IncidentInputError:
        raise
    except ValueError as exc:  # the time parser's words already name the parameter
        message = str(exc)
        parameter = message.split(":", 1)[0] if message.split(":", 1)[0] in ("since", "until") else "since"
        raise IncidentInputError(parameter, message.split(": ", 1)[-1]) from None
    return flask.jsonify(incidents=[_summary(row) for row in frame.itertuples()])


@api.post("/incidents")
@spec.validate(json=CreateBody, resp=responses(IncidentOut), tags=["incidents"])
def incident_create() -> flask.Response:
    """Open an incident by hand (operator)."""
    body = validated(CreateBody, "json")
    incident_id = actions.create_incident(
        services().store,
        current_actor(),
        title=body.title,
        severity=body.severity,
        description=body.description,
        targets=body.targets,
        owner=body.owner,
        impact_started_at=body.impact_started_at,
    )
    return flask.jsonify(_detail(incident_id))


@api.post("/incidents/from-alert")
@spec.validate(json=FromAlertBody, resp=responses(IncidentOut, 404), tags=["incidents"])
def incident_from_alert() -> flask.Response:
    """Open an incident for an alert and link it (operator)."""
    body = validated(FromAlertBody, "json")
    incident_id = actions.open_from_alert(services().store, current_actor(), body.alert_id)
    return flask.jsonify(_detail(incident_id))


@api.get("/incidents/<int:incident_id>")
@spec.validate(resp=responses(IncidentOut, 404), tags=["incidents"])
def incident_get(incident_id: int) -> flask.Response:
    """One incident with its times, MTTA/MTTR, linked alerts and timeline."""
    return flask.jsonify(_detail(incident_id))


@api.route("/incidents/<int:incident_id>", methods=["PUT", "PATCH"])
@spec.validate(json=UpdateBody, resp=responses(IncidentOut, 404), tags=["incidents"])
def incident_update(incident_id: int) -> flask.Response:
    """Change the fields sent, all or nothing (operator)."""
    body = validated(UpdateBody, "json")
    changes = {field: getattr(body, field) for field in body.model_fields_set}
    actions.update_incident(services().store, current_actor(), incident_id, changes)
    return flask.jsonify(_detail(incident_id))


@api.post("/incidents/<int:incident_id>/status")
@spec.validate(json=StatusBody, resp=responses(IncidentOut, 404), tags=["incidents"])
def incident_status(incident_id: int) -> flask.Response:
    """Move along investigating -> identified -> monitoring -> resolved; jumps that make no sense are
    refused. A resolved incident is reopened with ``reopen: true``, status investigating and a note."""
    body = validated(StatusBody, "json")
    store, actor = services().store, current_actor()
    if body.reopen:
        if body.status.strip().lower() != "investigating":
            raise IncidentInputError("status", "a reopened incident starts again at investigating")
        actions.reopen_incident(store, actor, incident_id, body.note or "")
    else:
        actions.set_incident_status(store, actor, incident_id, body.status, body.note)
    return flask.jsonify(_detail(incident_id))


@api.post("/incidents/<int:incident_id>/comments")
@spec.validate(json=CommentBody, resp=responses(TimelineEntryOut, 404), tags=["incidents"])
def incident_comment(incident_id: int) -> flask.Response:
    """Add a comment to the timeline (operator)."""
    body = validated(CommentBody, "json")
    entry = actions.comment_incident(services().store, current_actor(), incident_id, body.body)
    return flask.jsonify(id=entry)


@api.get("/incidents/<int:incident_id>/postmortem.md")
@spec.validate(resp=responses(None, 404), tags=["incidents"])
def incident_postmortem(incident_id: int) -> flask.Response:
    """The postmortem as a Markdown file download."""
    found = services().store.incidents.get(incident_id=incident_id)
    return flask.Response(
        postmortem_document(found),
        mimetype="text/markdown",
        headers={"Content-Disposition": f'attachment; filename="incident-{incident_id}-postmortem.md"'},
    )
