"""Sections that are not built yet. Each gets a real route that says so plainly, what it will
show, and where it is planned, instead of empty charts. Building a section means giving it its own
page module (with the same ORDER); its row here then stops showing, and can be deleted.
"""

from __future__ import annotations

from dataclasses import dataclass

from dash import html

from dashboard.components.cards import not_built

__all__ = ["PLANNED_SECTIONS", "PlannedSection"]


@dataclass(frozen=True)
class PlannedSection:
    path: str
    name: str
    what: str
    planned_in: str
    ORDER: int  # the place its page will take in the navbar

    def layout(self, **_query: str) -> html.Div:
        return not_built(self.name, self.what, self.planned_in)


PLANNED_SECTIONS = [
    PlannedSection(
        "/database",
        "Database",
        "MySQL/MariaDB throughput, connections, InnoDB buffer pool, slow-query digests with EXPLAIN, "
        "deadlocks and replication lag",
        "a later issue; the collector already stores all of it (notebooks: store.database; charts: the "
        "mysql.* metrics in /api/metrics)",
        30,
    ),
    PlannedSection(
        "/cache",
        "Cache",
        "Redis hit rate, memory and fragmentation, evictions, clients and keys per database, with forms "
        "to clear keys and change the eviction policy",
        "a later issue; the collector already stores the metrics and slow log (notebooks: "
        "store.cache; the redis.* metrics in /api/metrics)",
        40,
    ),
    PlannedSection(
        "/logs",
        "Logs",
        "tailed application and system logs with full-text search by level, channel and request id",
        "a later issue; tailed lines are already stored and searchable from notebooks (store.logs)",
        60,
    ),
    PlannedSection(
        "/alerts",
        "Alerts",
        "alert rules on any metric, firing and resolved alerts with acknowledgement, and notification channels",
        "a later issue (alerting)",
        70,
    ),
    PlannedSection(
        "/incidents",
        "Incidents",
        "incidents with their timeline, linked alerts and resolution notes",
        "a later issue (incidents)",
        80,
    ),
]
