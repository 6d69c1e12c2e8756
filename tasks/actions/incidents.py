"""Incident actions: open (by hand or from an alert), edit, move through the status flow, reopen,
comment, link alerts. Operators may do all of it; viewers only read. Every attempt is audited.

Bad values raise :class:`storage.incidents.IncidentInputError` (``"<field>: <what>"``) before anything
is written; an unknown incident or alert raises :class:`storage.incidents.UnknownIncident`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from storage import Store
from storage.timeparse import TimeInput
from storage.users import Role
from tasks.actions.gate import Actor, audited

__all__ = [
    "comment_incident",
    "create_incident",
    "link_alert",
    "open_from_alert",
    "reopen_incident",
    "set_incident_status",
    "update_incident",
]


def _name(incident_id: int) -> str:
    return f"incident #{incident_id}"


def create_incident(
    store: Store,
    actor: Actor | None,
    *,
    title: str,
    severity: str,
    description: str | None = None,
    targets: Sequence[str] | str | None = None,
    owner: str | None = None,
    impact_started_at: TimeInput = None,
) -> int:
    """Open an incident by hand (operator); its id."""
    with audited(store, actor, Role.OPERATOR, "incidents.create", title) as after:
        assert actor is not None
        incident_id = store.incidents.create(
            title=title,
            severity=severity,
            username=actor.username,
            description=description,
            targets=targets,
            owner=owner,
            impact_started_at=impact_started_at,
        )
        after["incident_id"] = incident_id
    return incident_id


def open_from_alert(store: Store, actor: Actor | None, alert_id: int) -> int:
    """Open an incident for one alert and link it (operator); the new incident's id."""
    with audited(store, actor, Role.OPERATOR, "incidents.open_from_alert", f"alert #{alert_id}") as after:
        assert actor is not None
        incident_id = store.incidents.create_from_alert(alert_id=alert_id, username=actor.username)
        after["incident_id"] = incident_id
    return incident_id


def update_incident(
    store: Store, actor: Actor | None, incident_id: int, changes: dict[str, Any]
) -> dict[str, Any]:
    """Change an incident's fields, all or nothing (operator); ``{field: (before, after)}``."""
    with audited(store, actor, Role.OPERATOR, "incidents.update", _name(incident_id)) as after:
        assert actor is not None
        changed = store.incidents.update(incident_id=incident_id, username=actor.username, changes=changes)
        # The postmortem can be long: the audit row says it changed, the incident keeps the text.
        after["changed"] = {
            field: ("(edited)" if field == "postmortem" else values) for field, values in changed.items()
        }
    return changed


def set_incident_status(
    store: Store, actor: Actor | None, incident_id: int, status: str, note: str | None = None
) -> str:
    """Move an incident along its status flow (operator); the previous status."""
    with audited(store, actor, Role.OPERATOR, "incidents.set_status", _name(incident_id)) as after:
        assert actor is not None
        previous = store.incidents.set_status(
            incident_id=incident_id, status=status, username=actor.username, note=note
        )
        after.update({"from": previous, "to": status})
    return previous


def reopen_incident(store: Store, actor: Actor | None, incident_id: int, reason: str) -> None:
    """Reopen a resolved incident, with the reason on its timeline (operator)."""
    with audited(store, actor, Role.OPERATOR, "incidents.reopen", _name(incident_id)) as after:
        assert actor is not None
        store.incidents.reopen(incident_id=incident_id, username=actor.username, reason=reason)
        after["reason"] = reason


def comment_incident(store: Store, actor: Actor | None, incident_id: int, body: str) -> int:
    """Add a comment to an incident's timeline (operator); the entry's id."""
    with audited(store, actor, Role.OPERATOR, "incidents.comment", _name(incident_id)) as after:
        assert actor is not None
        entry = store.incidents.comment(incident_id=incident_id, username=actor.username, body=body)
        after["entry_id"] = entry
    return entry


def link_alert(store: Store, actor: Actor | None, incident_id: int, alert_id: int) -> None:
    """Link an alert to an incident (operator)."""
    with audited(store, actor, Role.OPERATOR, "incidents.link_alert", _name(incident_id)) as after:
        assert actor is not None
        store.incidents.link_alert(incident_id=incident_id, alert_id=alert_id, username=actor.username)
        after["alert_id"] = alert_id
