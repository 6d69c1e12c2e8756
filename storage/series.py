"""The series registry: (metric, host, labels) -> integer id, created on first write, cached after."""

from __future__ import annotations

import hashlib
import json
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from sqlalchemy import Connection, select, tuple_

from storage.schema import series
from storage.timeparse import utc_now

__all__ = ["SeriesKey", "SeriesRegistry", "canonical_labels", "labels_hash"]

# Keep IN lists well under SQLite's variable limit and MySQL's packet size.
_LOOKUP_CHUNK = 300


def canonical_labels(labels: Mapping[str, object] | str | None) -> str:
    """Labels as sorted, compact JSON, so equal label sets always hash alike."""
    if labels is None or (isinstance(labels, float) and labels != labels):  # None or NaN
        return "{}"
    if isinstance(labels, str):
        labels = json.loads(labels) if labels.strip() else {}
    if not isinstance(labels, Mapping):
        raise ValueError(f"labels must be a mapping of name to value, got {labels!r}")
    return json.dumps({str(k): str(v) for k, v in labels.items()}, sort_keys=True, separators=(",", ":"))


def labels_hash(canonical: str) -> str:
    return hashlib.sha1(canonical.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class SeriesKey:
    metric: str
    host: str
    labels: str  # canonical JSON
    unit: str = ""

    @property
    def identity(self) -> tuple[str, str, str]:
        return (self.metric, self.host, labels_hash(self.labels))


class SeriesRegistry:
    """Resolves series keys to ids, inserting the missing ones; safe for concurrent writers.

    Ids never change once assigned, so a process-wide cache is always correct; inserts use
    the dialect's "ignore duplicates" so two writers racing on a new series both end up
    with the same id.
    """

    def __init__(self) -> None:
        self._ids: dict[tuple[str, str, str], int] = {}
        self._lock = threading.Lock()

    def resolve(self, conn: Connection, keys: Iterable[SeriesKey]) -> list[int]:
        keys = list(keys)
        missing = [key for key in keys if key.identity not in self._ids]
        if missing:
            self._load(conn, missing)
            still_missing = [key for key in missing if key.identity not in self._ids]
            if still_missing:
                self._insert(conn, still_missing)
                self._load(conn, still_missing)
        unresolved = [key for key in keys if key.identity not in self._ids]
        if unresolved:
            first = unresolved[0]
            raise ValueError(
                f"could not register series {first.metric!r} on {first.host!r} with labels {first.labels}"
            )
        return [self._ids[key.identity] for key in keys]

    def forget(self) -> None:
        with self._lock:
            self._ids.clear()

    def _load(self, conn: Connection, keys: list[SeriesKey]) -> None:
        identities = list({key.identity for key in keys})
        for start in range(0, len(identities), _LOOKUP_CHUNK):
            chunk = identities[start : start + _LOOKUP_CHUNK]
            rows = conn.execute(
                select(series.c.id, series.c.metric, series.c.host, series.c.labels_hash).where(
                    tuple_(series.c.metric, series.c.host, series.c.labels_hash).in_(chunk)
                )
            )
            with self._lock:
                for row in rows:
                    self._ids[(row.metric, row.host, row.labels_hash)] = row.id

    def _insert(self, conn: Connection, keys: list[SeriesKey]) -> None:
        now = utc_now().replace(tzinfo=None)
        unique = {key.identity: key for key in keys}
        rows = [
            {
                "metric": key.metric,
                "host": key.host,
                "labels": json.loads(key.labels),
                "labels_hash": identity[2],
                # A missing unit (NaN after concatenating frames) is "": INSERT OR IGNORE would
                # otherwise skip the row silently on the NOT NULL constraint.
                "unit": key.unit if isinstance(key.unit, str) else "",
                "created_at": now,
            }
            for identity, key in unique.items()
        ]
        conn.execute(
            series.insert().prefix_with("IGNORE", dialect="mysql").prefix_with("OR IGNORE", dialect="sqlite"),
            rows,
        )
