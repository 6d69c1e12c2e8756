"""The incidents job: critical and emergency alerts of one target within a window join one open
incident (a new one when there is none), and what linked alerts do afterwards (resolving, sending
notifications) is written to the incidents' timelines.
"""

from __future__ import annotations

import logging

from storage import Settings, Store
from tasks.context import JobContext, JobSpec

__all__ = ["group_alerts", "job_specs"]

log = logging.getLogger("vitals.tasks.incidents")


def job_specs(settings: Settings) -> list[JobSpec]:
    """``vitals.group_incidents`` every ``incidents_interval_seconds``, grouping within
    ``incident_group_window_seconds`` (10 minutes by default)."""

    def body(context: JobContext) -> dict[str, int]:
        return group_alerts(context.store, settings.incident_group_window_seconds)

    return [
        JobSpec(
            name="vitals.group_incidents", interval_seconds=settings.incidents_interval_seconds, body=body
        )
    ]


def group_alerts(store: Store, window_seconds: float) -> dict[str, int]:
    """One run: link new critical alerts, then record alert activity; counts for the job's result."""
    linked = store.incidents.group_alerts(window_seconds=window_seconds)
    created = sum(1 for entry in linked if entry["created"])
    for entry in linked:
        log.info(
            "alert #%s on %s joined incident #%s%s",
            entry["alert_id"],
            entry["target"],
            entry["incident_id"],
            " (new)" if entry["created"] else "",
        )
    entries = store.incidents.record_alert_activity()
    return {"alerts_linked": len(linked), "incidents_opened": created, "timeline_entries": entries}
