"""Incidents, their linked alerts and their timeline.

The status flow is investigating -> identified -> monitoring -> resolved (:data:`TRANSITIONS` says
which moves make sense); a resolved incident comes back only through :meth:`IncidentsSection.reopen`,
which the timeline records. The times are kept apart as incident tools do: impact started (editable),
detected, acknowledged (first owner or status change), mitigated (first reaching monitoring),
resolved. MTTA = acknowledged - detected; MTTR = resolved - detected; impact = resolved - impact start.

Every change runs in one transaction and is checked before anything is written, so a refused change
leaves nothing half-applied. Refusals are :class:`IncidentInputError` (``"<field>: <what>"``) and
:class:`UnknownIncident`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import pandas as pd
from sqlalchemy import Connection, Engine, String, and_, case, cast, exists, func, or_, select

from storage.engine import write_transaction
from storage.frames import utc_frame
from storage.schema import (
    alert_rules,
    alerts,
    incident_alerts,
    incident_events,
    incidents,
    notification_channels,
    notification_deliveries,
    series,
)
from storage.timeparse import TimeInput, parse_time, resolve_range, utc_now

__all__ = [
    "EVENT_KINDS",
    "INCIDENT_SEVERITIES",
    "INCIDENT_STATUSES",
    "OPEN_STATUSES",
    "TRANSITIONS",
    "IncidentInputError",
    "IncidentsSection",
    "UnknownIncident",
    "read_incidents",
]

INCIDENT_SEVERITIES = ("low", "medium", "high", "critical")
INCIDENT_STATUSES = ("investigating", "identified", "monitoring", "resolved")
OPEN_STATUSES = ("investigating", "identified", "monitoring")
# The moves that make sense. Forward steps may skip (a failover mitigates before the cause is known;
# a false alarm is resolved straight away); going back is for a cause that was wrong (identified ->
# investigating) or a fix that did not hold (monitoring -> investigating). Resolved only reopens.
TRANSITIONS: dict[str, tuple[str, ...]] = {
    "investigating": ("identified", "monitoring", "resolved"),
    "identified": ("monitoring", "resolved", "investigating"),
    "monitoring": ("resolved", "investigating"),
    "resolved": (),
}
EVENT_KINDS = (
    "created",
    "status",
    "reopened",
    "severity",
    "owner",
    "updated",
    "postmortem",
    "alert_linked",
    "alert_resolved",
    "notification",
    "comment",
)
# Alert severities (alert rules) -> incident severities.
ALERT_TO_INCIDENT_SEVERITY = {"emergency": "critical", "critical": "high", "warning": "medium", "info": "low"}
GROUPED_ALERT_SEVERITIES = ("critical", "emergency")

_TITLE_MAX = 255
_TEXT_MAX = 100_000
_POSTMORTEM_MAX = 1_000_000
_NAME_MAX = 64
_TARGET_MAX = 191
_EDITABLE = ("title", "description", "severity", "owner", "targets", "impact_started_at", "postmortem")
_TIME_COLUMNS = [
    "opened_at",
    "impact_started_at",
    "detected_at",
    "acknowledged_at",
    "mitigated_at",
    "resolved_at",
]


class IncidentInputError(ValueError):
    """A value an incident cannot take; ``field`` names it and the message starts with it."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class UnknownIncident(LookupError):
    """No incident (or alert) with that id."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


# -- value checks -------------------------------------------------------------------------------


def _naive(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(tzinfo=None)


def _aware(moment: datetime | None) -> datetime | None:
    return moment.replace(tzinfo=UTC) if moment is not None else None


def _now() -> datetime:
    return _naive(utc_now()).replace(microsecond=0)


def _choice(field: str, value: object, choices: tuple[str, ...]) -> str:
    text = str(value).strip().lower() if value is not None else ""
    if text not in choices:
        raise IncidentInputError(field, f"{value!r} is not one of {', '.join(choices)}")
    return text


def _title(value: object) -> str:
    text = str(value or "").strip()
    if not text:
        raise IncidentInputError("title", "must not be empty")
    if len(text) > _TITLE_MAX:
        raise IncidentInputError("title", f"at most {_TITLE_MAX} characters (got {len(text)})")
    return text


def _text(field: str, value: object, limit: int) -> str | None:
    text = str(value) if value is not None else ""
    if len(text) > limit:
        raise IncidentInputError(field, f"at most {limit:,} characters (got {len(text):,})")
    return text if text.strip() else None


def _owner(value: object) -> str | None:
    text = str(value or "").strip()
    if len(text) > _NAME_MAX:
        raise IncidentInputError("owner", f"at most {_NAME_MAX} characters")
    return text or None


def _targets(value: object) -> list[str]:
    if value is None:
        return []
    items = value.split(",") if isinstance(value, str) else value
    if not isinstance(items, Iterable):
        raise IncidentInputError("targets", "must be a list of target names")
    names: list[str] = []
    for item in items:
        name = str(item).strip()
        if len(name) > _TARGET_MAX:
            raise IncidentInputError("targets", f"a target name is at most {_TARGET_MAX} characters")
        if name and name not in names:
            names.append(name)
    return names


def _moment(field: str, value: TimeInput) -> datetime | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        moment = parse_time(value, name=field, now=utc_now())
    except ValueError as exc:
        raise IncidentInputError(field, str(exc).split(": ", 1)[-1]) from None
    if moment > utc_now() + timedelta(minutes=1):
        raise IncidentInputError(field, "is in the future")
    return _naive(moment).replace(microsecond=0)


def _seconds(start: datetime | None, end: datetime | None) -> float | None:
    if start is None or end is None:
        return None
    return max(0.0, (end - start).total_seconds())


# -- rows ---------------------------------------------------------------------------------------


def _event(
    conn: Connection,
    incident_id: int,
    kind: str,
    username: str | None,
    body: str | None,
    ts: datetime | None = None,
    alert_id: int | None = None,
    delivery_id: int | None = None,
) -> None:
    conn.execute(
        incident_events.insert().values(
            incident_id=incident_id,
            ts=ts or _now(),
            kind=kind,
            username=username,
            body=body,
            alert_id=alert_id,
            delivery_id=delivery_id,
        )
    )


def _row(conn: Connection, incident_id: int, *, lock: bool = False) -> dict[str, Any]:
    statement = select(incidents).where(incidents.c.id == incident_id)
    if lock:
        statement = statement.with_for_update()
    found = conn.execute(statement).mappings().first()
    if found is None:
        raise UnknownIncident("incident_id", f"no incident #{incident_id}")
    return dict(found)


def _public(row: dict[str, Any], alert_count: int = 0) -> dict[str, Any]:
    """An incident as pages, API and notebooks see it: aware UTC times and the derived durations."""
    out = {
        "id": int(row["id"]),
        "title": row["title"],
        "description": row["summary"],
        "status": row["status"],
        "severity": row["severity"],
        "owner": row["owner"],
        "targets": list(row["targets"] or []),
        "source": row["source"],
        "opened_by": row["opened_by"],
        "postmortem": row["postmortem"],
        "updated_at": _aware(row["updated_at"]),
        "alert_count": alert_count,
        "allowed_statuses": list(TRANSITIONS.get(row["status"], ())),
    }
    for column in _TIME_COLUMNS:
        out[column] = _aware(row[column])
    out["mtta_seconds"] = _seconds(row["detected_at"], row["acknowledged_at"])
    out["mttr_seconds"] = _seconds(row["detected_at"], row["resolved_at"])
    out["impact_seconds"] = _seconds(row["impact_started_at"] or row["detected_at"], row["resolved_at"])
    return out


def _alert_rows(conn: Connection, alert_ids: Sequence[int] | None = None) -> list[dict[str, Any]]:
    """Alerts with their rule and target: the ``target`` label, else the host, else the rule's name."""
    statement = select(
        alerts.c.id,
        alerts.c.state,
        alerts.c.started_at,
        alerts.c.resolved_at,
        alerts.c.value,
        alerts.c.summary,
        alert_rules.c.name.label("rule"),
        alert_rules.c.metric,
        alert_rules.c.severity,
        alerts.c.host.label("alert_host"),
        alerts.c.labels.label("alert_labels"),
        series.c.host,
        series.c.labels,
    ).select_from(
        alerts.join(alert_rules, alert_rules.c.id == alerts.c.rule_id).outerjoin(
            series, series.c.id == alerts.c.series_id
        )
    )
    if alert_ids is not None:
        statement = statement.where(alerts.c.id.in_(list(alert_ids)))
    return [_with_target(dict(row)) for row in conn.execute(statement.order_by(alerts.c.id)).mappings()]


def _with_target(row: dict[str, Any]) -> dict[str, Any]:
    """The alert's own host/labels (the alert engine records them) win over its series'."""
    row["host"] = row.pop("alert_host", None) or row.get("host")
    row["labels"] = {**(row.get("labels") or {}), **(row.pop("alert_labels", None) or {})}
    row["target"] = str(row["labels"].get("target") or row["host"] or row["rule"])[:_TARGET_MAX]
    return row


def _link(conn: Connection, incident_id: int, alert: dict[str, Any], username: str | None) -> None:
    taken = conn.execute(
        select(incident_alerts.c.incident_id).where(incident_alerts.c.alert_id == alert["id"])
    ).scalar()
    if taken is not None:
        raise IncidentInputError("alert_id", f"alert #{alert['id']} is already part of incident #{taken}")
    conn.execute(
        incident_alerts.insert().values(
            incident_id=incident_id,
            alert_id=alert["id"],
            target=alert["target"],
            linked_by=username,
            linked_at=_now(),
        )
    )
    row = _row(conn, incident_id)
    targets = _targets(row["targets"])
    if alert["target"] not in targets:
        conn.execute(
            incidents.update()
            .where(incidents.c.id == incident_id)
            .values(targets=[*targets, alert["target"]])
        )
    _event(
        conn,
        incident_id,
        "alert_linked",
        username,
        f"alert #{alert['id']} {alert['rule']} ({alert['severity']}) on {alert['target']} linked",
        alert_id=alert["id"],
    )


def _insert_incident(conn: Connection, values: dict[str, Any]) -> int:
    key = conn.execute(incidents.insert().values(**values)).inserted_primary_key
    assert key is not None
    return int(key[0])


# -- reads --------------------------------------------------------------------------------------


def _open_first() -> Any:
    return case((incidents.c.status == "resolved", 1), else_=0)


def _target_filter(target: str) -> Any:
    escaped = target.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace('"', '\\"')
    return cast(incidents.c.targets, String).like(f'%"{escaped}"%', escape="\\")


def read_incidents(
    engine: Engine,
    status: str | Sequence[str] | None = None,
    since: TimeInput = "90d",
    until: TimeInput = None,
    severity: str | Sequence[str] | None = None,
    target: str | None = None,
    limit: int = 500,
) -> pd.DataFrame:
    """Incidents active in the window (detected before its end, not resolved before its start), the
    open ones first, then newest first. ``status="open"`` means every status but resolved."""
    statuses = _statuses(status)
    severities = [_choice("severity", value, INCIDENT_SEVERITIES) for value in _many(severity)]
    start, end = resolve_range(since, until)
    detected = func.coalesce(incidents.c.detected_at, incidents.c.opened_at)
    statement = (
        select(
            incidents.c.id,
            incidents.c.title,
            incidents.c.status,
            incidents.c.severity,
            incidents.c.owner,
            incidents.c.targets,
            incidents.c.source,
            incidents.c.opened_by,
            *(getattr(incidents.c, column) for column in _TIME_COLUMNS),
            incidents.c.summary.label("description"),
        )
        .where(
            detected <= _naive(end),
            or_(incidents.c.resolved_at.is_(None), incidents.c.resolved_at >= _naive(start)),
        )
        .order_by(_open_first(), detected.desc(), incidents.c.id.desc())
        .limit(max(1, min(int(limit), 10_000)))
    )
    if statuses:
        statement = statement.where(incidents.c.status.in_(statuses))
    if severities:
        statement = statement.where(incidents.c.severity.in_(severities))
    if target:
        statement = statement.where(_target_filter(target.strip()))
    frame = utc_frame(engine, statement, _TIME_COLUMNS)
    frame["targets"] = frame["targets"].map(lambda value: list(value or []))
    return frame


def _many(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [part for part in (piece.strip() for piece in value.split(",")) if part]
    return [str(part) for part in value if str(part).strip()]


def _statuses(status: str | Sequence[str] | None) -> list[str]:
    wanted: list[str] = []
    for value in _many(status):
        if value.strip().lower() == "open":
            wanted += OPEN_STATUSES
        else:
            wanted.append(_choice("status", value, INCIDENT_STATUSES))
    return wanted


def _summary_frame(rows: list[dict[str, Any]]) -> pd.DataFrame:
    columns = ["severity", "incidents", "open", "acknowledged", "resolved", "mtta_seconds", "mttr_seconds"]
    records = []
    for label, picked in [
        *(
            (severity, [r for r in rows if r["severity"] == severity])
            for severity in reversed(INCIDENT_SEVERITIES)
        ),
        ("all", rows),
    ]:
        mtta = [r["mtta"] for r in picked if r["mtta"] is not None]
        mttr = [r["mttr"] for r in picked if r["mttr"] is not None]
        records.append(
            {
                "severity": label,
                "incidents": len(picked),
                "open": sum(1 for r in picked if r["status"] != "resolved"),
                "acknowledged": len(mtta),
                "resolved": len(mttr),
                "mtta_seconds": sum(mtta) / len(mtta) if mtta else None,
                "mttr_seconds": sum(mttr) / len(mttr) if mttr else None,
            }
        )
    return pd.DataFrame(records, columns=columns)


# -- the facade ---------------------------------------------------------------------------------


class IncidentsSection:
    """``store.incidents``: call it to list incidents (``store.incidents(status="open")``); its methods
    create, change, link and read incidents and their timeline. Changes take the acting ``username``
    (the audited actions in ``tasks.actions.incidents`` pass it after checking the role)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __call__(self, status: str | None = None, since: TimeInput = "90d") -> pd.DataFrame:
        """Incidents active in the window, open ones first. ``status``: investigating, identified,
        monitoring, resolved, or ``"open"`` for every status but resolved."""
        return read_incidents(self._engine, status, since)

    # -- reading --

    def find(
        self,
        *,
        status: str | Sequence[str] | None = None,
        severity: str | Sequence[str] | None = None,
        target: str | None = None,
        since: TimeInput = "90d",
        until: TimeInput = None,
        limit: int = 500,
    ) -> pd.DataFrame:
        """Incidents filtered by status(es), severity(ies), affected target and active time window;
        the open ones first, then newest first."""
        return read_incidents(self._engine, status, since, until, severity, target, limit)

    def get(self, *, incident_id: int) -> dict[str, Any]:
        """One incident with its times, MTTA/MTTR/impact in seconds and the statuses it may move to."""
        with self._engine.connect() as conn:
            row = _row(conn, incident_id)
            count = conn.execute(
                select(func.count())
                .select_from(incident_alerts)
                .where(incident_alerts.c.incident_id == incident_id)
            ).scalar_one()
        return _public(row, int(count))

    def timeline(self, *, incident_id: int) -> pd.DataFrame:
        """The incident's timeline, oldest first: ts, kind, username, body, alert_id."""
        self.get(incident_id=incident_id)
        statement = (
            select(
                incident_events.c.id,
                incident_events.c.ts,
                incident_events.c.kind,
                incident_events.c.username,
                incident_events.c.body,
                incident_events.c.alert_id,
            )
            .where(incident_events.c.incident_id == incident_id)
            .order_by(incident_events.c.ts, incident_events.c.id)
        )
        return utc_frame(self._engine, statement, ["ts"])

    def linked_alerts(self, *, incident_id: int) -> pd.DataFrame:
        """The incident's alerts with rule, metric, severity, state, target, host and labels (for charts)."""
        with self._engine.connect() as conn:
            ids = list(
                conn.execute(
                    select(incident_alerts.c.alert_id).where(incident_alerts.c.incident_id == incident_id)
                ).scalars()
            )
            rows = _alert_rows(conn, ids) if ids else []
        columns = [
            "id",
            "rule",
            "metric",
            "severity",
            "state",
            "value",
            "started_at",
            "resolved_at",
            "target",
            "host",
            "labels",
        ]
        frame = pd.DataFrame([{key: row.get(key) for key in columns} for row in rows], columns=columns)
        for column in ("started_at", "resolved_at"):
            frame[column] = pd.to_datetime(frame[column], utc=True)
        return frame

    def response_times(self, *, since: TimeInput = "30d", until: TimeInput = None) -> pd.DataFrame:
        """Per severity (and ``all``) over incidents detected in the range: how many, how many open,
        acknowledged and resolved, and the mean MTTA and MTTR in seconds (None when there is none)."""
        start, end = resolve_range(since, until)
        detected = func.coalesce(incidents.c.detected_at, incidents.c.opened_at)
        statement = select(
            incidents.c.severity, incidents.c.status, detected.label("detected"),
            incidents.c.acknowledged_at, incidents.c.resolved_at,
        ).where(detected >= _naive(start), detected <= _naive(end))  # fmt: skip
        with self._engine.connect() as conn:
            rows = [
                {
                    "severity": row.severity,
                    "status": row.status,
                    "mtta": _seconds(row.detected, row.acknowledged_at),
                    "mttr": _seconds(row.detected, row.resolved_at),
                }
                for row in conn.execute(statement)
            ]
        return _summary_frame(rows)

    # -- changing --

    def create(
        self,
        *,
        title: str,
        severity: str,
        username: str | None,
        description: str | None = None,
        targets: Sequence[str] | str | None = None,
        owner: str | None = None,
        impact_started_at: TimeInput = None,
        alert_ids: Sequence[int] = (),
        source: str = "manual",
    ) -> int:
        """Open an incident (status investigating, detected now) and link ``alert_ids``; its id."""
        values = {
            "title": _title(title),
            "severity": _choice("severity", severity, INCIDENT_SEVERITIES),
            "summary": _text("description", description, _TEXT_MAX),
            "targets": _targets(targets),
            "owner": _owner(owner),
            "impact_started_at": _moment("impact_started_at", impact_started_at),
            "source": _choice("source", source, ("manual", "alert", "auto")),
        }
        now = _now()
        with write_transaction(self._engine) as conn:
            found = _alert_rows(conn, alert_ids) if alert_ids else []
            missing = sorted(set(alert_ids) - {row["id"] for row in found})
            if missing:
                raise UnknownIncident("alert_id", f"no alert #{missing[0]}")
            detected = min([now, *(row["started_at"] for row in found)])
            incident_id = _insert_incident(
                conn,
                {
                    **values,
                    "status": "investigating",
                    "opened_by": username,
                    "opened_at": now,
                    "detected_at": detected,
                    "impact_started_at": values["impact_started_at"] or detected,
                    "acknowledged_at": now if values["owner"] else None,
                    "updated_at": now,
                },
            )
            how = {
                "manual": "opened by hand",
                "alert": "opened from an alert",
                "auto": "opened automatically",
            }
            _event(conn, incident_id, "created", username, f"{how[str(values['source'])]}: {values['title']}")
            if values["owner"]:
                _event(conn, incident_id, "owner", username, f"owner: nobody → {values['owner']}")
            for row in found:
                _link(conn, incident_id, row, username)
        return incident_id

    def create_from_alert(self, *, alert_id: int, username: str | None) -> int:
        """Open an incident for one alert: titled after its rule and target, severity from the rule's
        (emergency → critical, critical → high, warning → medium, info → low), detected when it started."""
        with self._engine.connect() as conn:
            found = _alert_rows(conn, [alert_id])
            if not found:
                raise UnknownIncident("alert_id", f"no alert #{alert_id}")
            taken = conn.execute(
                select(incident_alerts.c.incident_id).where(incident_alerts.c.alert_id == alert_id)
            ).scalar()
        if taken is not None:
            raise IncidentInputError("alert_id", f"alert #{alert_id} is already part of incident #{taken}")
        alert = found[0]
        return self.create(
            title=f"{alert['rule']} on {alert['target']}"[:_TITLE_MAX],
            severity=ALERT_TO_INCIDENT_SEVERITY.get(str(alert["severity"]).lower(), "medium"),
            username=username,
            description=alert["summary"],
            targets=[alert["target"]],
            impact_started_at=_aware(alert["started_at"]),
            alert_ids=[alert_id],
            source="alert",
        )

    def update(self, *, incident_id: int, username: str | None, changes: dict[str, Any]) -> dict[str, Any]:
        """Change title, description, severity, owner, targets, impact_started_at and/or postmortem;
        all or nothing. Returns ``{field: (before, after)}`` for what actually changed."""
        unknown = sorted(set(changes) - set(_EDITABLE))
        if unknown:
            raise IncidentInputError(unknown[0], f"cannot be changed here (editable: {', '.join(_EDITABLE)})")
        checks = {
            "title": _title,
            "description": lambda v: _text("description", v, _TEXT_MAX),
            "severity": lambda v: _choice("severity", v, INCIDENT_SEVERITIES),
            "owner": _owner,
            "targets": _targets,
            "impact_started_at": lambda v: _moment("impact_started_at", v),
            "postmortem": lambda v: _text("postmortem", v, _POSTMORTEM_MAX),
        }
        wanted = {field: checks[field](value) for field, value in changes.items()}
        with write_transaction(self._engine) as conn:
            row = _row(conn, incident_id, lock=True)
            column = {"description": "summary"}
            before = {field: row[column.get(field, field)] for field in wanted}
            impact = wanted.get("impact_started_at")
            if (
                isinstance(impact, datetime)
                and row["resolved_at"] is not None
                and impact > row["resolved_at"]
            ):
                raise IncidentInputError(
                    "impact_started_at",
                    f"{_shown(impact)} is after the resolution ({_shown(row['resolved_at'])})",
                )
            changed = {f: (before[f], v) for f, v in wanted.items() if (before[f] or None) != (v or None)}
            if not changed:
                return {}
            now = _now()
            values: dict[str, Any] = {column.get(f, f): after for f, (_b, after) in changed.items()}
            values["updated_at"] = now
            if "owner" in changed and changed["owner"][1] and row["acknowledged_at"] is None:
                values["acknowledged_at"] = now
            conn.execute(incidents.update().where(incidents.c.id == incident_id).values(**values))
            self._record_changes(conn, incident_id, username, changed)
        return {field: (_shown(b), _shown(a)) for field, (b, a) in changed.items()}

    @staticmethod
    def _record_changes(
        conn: Connection, incident_id: int, username: str | None, changed: dict[str, tuple[Any, Any]]
    ) -> None:
        for field, (before, after) in changed.items():
            if field == "severity":
                _event(conn, incident_id, "severity", username, f"severity: {before} → {after}")
            elif field == "owner":
                _event(
                    conn, incident_id, "owner", username, f"owner: {before or 'nobody'} → {after or 'nobody'}"
                )
            elif field == "postmortem":
                _event(conn, incident_id, "postmortem", username, "postmortem edited")
            elif field == "impact_started_at":
                shown = _aware(after).isoformat(timespec="seconds") if after else "unset"  # type: ignore[union-attr]
                _event(conn, incident_id, "updated", username, f"impact start: {shown}")
            else:
                _event(conn, incident_id, "updated", username, f"{field} changed")

    def set_status(
        self, *, incident_id: int, status: str, username: str | None, note: str | None = None
    ) -> str:
        """Move the incident to ``status`` if :data:`TRANSITIONS` allows it; returns the previous status.
        Sets acknowledged (first move), mitigated (first monitoring or resolved) and resolved."""
        target = _choice("status", status, INCIDENT_STATUSES)
        note_text = _text("note", note, _TEXT_MAX)
        with write_transaction(self._engine) as conn:
            row = _row(conn, incident_id, lock=True)
            current = row["status"]
            if current == "resolved":
                raise IncidentInputError(
                    "status", f"incident #{incident_id} is resolved; reopen it to change its status"
                )
            if target == current:
                raise IncidentInputError("status", f"incident #{incident_id} is already {current}")
            if target not in TRANSITIONS[current]:
                allowed = ", ".join(TRANSITIONS[current])
                raise IncidentInputError(
                    "status", f"cannot go from {current} to {target} (from {current}: {allowed})"
                )
            now = _now()
            values: dict[str, Any] = {"status": target, "updated_at": now}
            if row["acknowledged_at"] is None:
                values["acknowledged_at"] = now
            if target in ("monitoring", "resolved") and row["mitigated_at"] is None:
                values["mitigated_at"] = now
            if current == "monitoring" and target == "investigating":
                values["mitigated_at"] = None  # the mitigation did not hold
            if target == "resolved":
                values["resolved_at"] = now
            conn.execute(incidents.update().where(incidents.c.id == incident_id).values(**values))
            body = f"status: {current} → {target}" + (f" — {note_text}" if note_text else "")
            _event(conn, incident_id, "status", username, body)
        return str(current)

    def reopen(self, *, incident_id: int, username: str | None, reason: str) -> None:
        """Reopen a resolved incident (back to investigating; resolution and mitigation cleared); the
        reason is required and goes on the timeline."""
        why = _text("reason", reason, _TEXT_MAX)
        if not why:
            raise IncidentInputError("reason", "say why the incident is reopened")
        with write_transaction(self._engine) as conn:
            row = _row(conn, incident_id, lock=True)
            if row["status"] != "resolved":
                raise IncidentInputError(
                    "status", f"incident #{incident_id} is {row['status']}, not resolved"
                )
            conn.execute(
                incidents.update()
                .where(incidents.c.id == incident_id)
                .values(status="investigating", resolved_at=None, mitigated_at=None, updated_at=_now())
            )
            _event(conn, incident_id, "reopened", username, f"reopened: {why}")

    def comment(self, *, incident_id: int, username: str | None, body: str) -> int:
        """Add a hand-written comment to the timeline; the new entry's id."""
        text = _text("body", body, _TEXT_MAX)
        if not text:
            raise IncidentInputError("body", "a comment must not be empty")
        with write_transaction(self._engine) as conn:
            _row(conn, incident_id)
            result = conn.execute(
                incident_events.insert().values(
                    incident_id=incident_id, ts=_now(), kind="comment", username=username, body=text
                )
            )
            key = result.inserted_primary_key
            assert key is not None
            return int(key[0])

    def link_alert(self, *, incident_id: int, alert_id: int, username: str | None) -> None:
        """Link an alert to the incident (its target joins the affected targets); an alert belongs to
        one incident at most."""
        with write_transaction(self._engine) as conn:
            _row(conn, incident_id, lock=True)
            found = _alert_rows(conn, [alert_id])
            if not found:
                raise UnknownIncident("alert_id", f"no alert #{alert_id}")
            _link(conn, incident_id, found[0], username)

    # -- the automatic part (tasks.incidents_jobs) --

    def group_alerts(
        self,
        *,
        window_seconds: float = 600,
        severities: Sequence[str] = GROUPED_ALERT_SEVERITIES,
        now: datetime | None = None,
    ) -> list[dict[str, Any]]:
        """Put every unlinked alert of the given rule severities (that fired, started in the last
        max(window, 1 h)) into an incident: the open incident of its target whose newest linked alert
        started at most ``window_seconds`` before it, else a new one. Returns what was linked:
        ``[{"alert_id", "incident_id", "target", "created"}]``."""
        window = timedelta(seconds=float(window_seconds))
        moment = _naive(now or utc_now())
        lookback = moment - max(window, timedelta(hours=1))
        linked: list[dict[str, Any]] = []
        with write_transaction(self._engine) as conn:
            unlinked = conn.execute(
                select(alerts.c.id)
                .join(alert_rules, alert_rules.c.id == alerts.c.rule_id)
                .where(
                    func.lower(alert_rules.c.severity).in_([s.lower() for s in severities]),
                    # Only alerts that fired: a pending alert that cleared before its 'for'
                    # elapsed is closed as "inactive" and never reached anyone.
                    alerts.c.firing_at.is_not(None),
                    alerts.c.state.not_in(("pending", "inactive")),
                    alerts.c.started_at >= lookback,
                    ~exists().where(incident_alerts.c.alert_id == alerts.c.id),
                )
            ).scalars()
            ids = list(unlinked)
            for alert in sorted(
                _alert_rows(conn, ids) if ids else [], key=lambda r: (r["started_at"], r["id"])
            ):
                incident_id = self._open_incident_for(conn, alert["target"], alert["started_at"] - window)
                created = incident_id is None
                if incident_id is None:
                    incident_id = self._auto_incident(conn, alert)
                else:
                    self._escalate(conn, incident_id, alert)
                _link(conn, incident_id, alert, "system")
                linked.append(
                    {
                        "alert_id": int(alert["id"]),
                        "incident_id": incident_id,
                        "target": alert["target"],
                        "created": created,
                    }
                )
        return linked

    @staticmethod
    def _open_incident_for(conn: Connection, target: str, not_before: datetime) -> int | None:
        newest = func.max(alerts.c.started_at)
        found = conn.execute(
            select(incident_alerts.c.incident_id, newest.label("newest"))
            .join(alerts, alerts.c.id == incident_alerts.c.alert_id)
            .join(incidents, incidents.c.id == incident_alerts.c.incident_id)
            .where(incident_alerts.c.target == target, incidents.c.status != "resolved")
            .group_by(incident_alerts.c.incident_id)
            .order_by(newest.desc())
            .limit(1)
        ).first()
        if found is None or found.newest < not_before:
            return None
        return int(found.incident_id)

    @staticmethod
    def _auto_incident(conn: Connection, alert: dict[str, Any]) -> int:
        now = _now()
        severity = ALERT_TO_INCIDENT_SEVERITY.get(str(alert["severity"]).lower(), "high")
        title = f"{alert['severity'].capitalize()} alerts on {alert['target']}"[:_TITLE_MAX]
        incident_id = _insert_incident(
            conn,
            {
                "title": title,
                "status": "investigating",
                "severity": severity,
                "source": "auto",
                "opened_by": "system",
                "opened_at": now,
                "detected_at": min(now, alert["started_at"]),
                "impact_started_at": min(now, alert["started_at"]),
                "targets": [alert["target"]],
                "summary": alert["summary"],
                "updated_at": now,
            },
        )
        _event(conn, incident_id, "created", "system", f"opened automatically: {title}")
        return incident_id

    @staticmethod
    def _escalate(conn: Connection, incident_id: int, alert: dict[str, Any]) -> None:
        """A worse alert joining raises the incident's severity (never lowers it)."""
        wanted = ALERT_TO_INCIDENT_SEVERITY.get(str(alert["severity"]).lower(), "high")
        current = conn.execute(select(incidents.c.severity).where(incidents.c.id == incident_id)).scalar_one()
        if INCIDENT_SEVERITIES.index(wanted) > INCIDENT_SEVERITIES.index(current):
            conn.execute(
                incidents.update()
                .where(incidents.c.id == incident_id)
                .values(severity=wanted, updated_at=_now())
            )
            _event(
                conn,
                incident_id,
                "severity",
                "system",
                f"severity: {current} → {wanted} (alert #{alert['id']})",
            )

    def record_alert_activity(self, *, lookback: TimeInput = "7d") -> int:
        """Write the timeline entries that alerts cause: a linked alert resolving, a notification sent
        for a linked alert; each once. Looks at incidents updated or open in ``lookback``; the number
        of entries written."""
        start, _end = resolve_range(lookback)
        relevant = or_(incidents.c.status != "resolved", incidents.c.resolved_at >= _naive(start))
        written = 0
        with write_transaction(self._engine) as conn:
            resolved = conn.execute(
                select(incident_alerts.c.incident_id, alerts.c.id, alerts.c.resolved_at, alert_rules.c.name)
                .join(alerts, alerts.c.id == incident_alerts.c.alert_id)
                .join(alert_rules, alert_rules.c.id == alerts.c.rule_id)
                .join(incidents, incidents.c.id == incident_alerts.c.incident_id)
                .where(
                    relevant,
                    alerts.c.resolved_at.is_not(None),
                    ~exists().where(
                        and_(
                            incident_events.c.incident_id == incident_alerts.c.incident_id,
                            incident_events.c.alert_id == alerts.c.id,
                            incident_events.c.kind == "alert_resolved",
                        )
                    ),
                )
            ).all()
            for incident_id, alert_id, resolved_at, rule in resolved:
                _event(conn, incident_id, "alert_resolved", "system", f"alert #{alert_id} {rule} resolved",
                       ts=resolved_at, alert_id=alert_id)  # fmt: skip
                written += 1
            sent = conn.execute(
                select(
                    incident_alerts.c.incident_id,
                    notification_deliveries.c.id,
                    notification_deliveries.c.alert_id,
                    notification_deliveries.c.ts,
                    notification_deliveries.c.status,
                    notification_deliveries.c.event,
                    notification_channels.c.name,
                )
                .join(
                    notification_deliveries, notification_deliveries.c.alert_id == incident_alerts.c.alert_id
                )
                .join(
                    notification_channels, notification_channels.c.id == notification_deliveries.c.channel_id
                )
                .join(incidents, incidents.c.id == incident_alerts.c.incident_id)
                .where(
                    relevant, ~exists().where(incident_events.c.delivery_id == notification_deliveries.c.id)
                )
            ).all()
            for incident_id, delivery_id, alert_id, ts, status, event, channel in sent:
                what = f"{event} notification" if event else "notification"
                body = f"{what} for alert #{alert_id} via {channel}: {status}"
                _event(
                    conn,
                    incident_id,
                    "notification",
                    "system",
                    body,
                    ts=ts,
                    alert_id=alert_id,
                    delivery_id=delivery_id,
                )
                written += 1
        return written


def _shown(value: Any) -> Any:
    if isinstance(value, datetime):
        return _aware(value).isoformat(timespec="seconds")  # type: ignore[union-attr]
    return value
