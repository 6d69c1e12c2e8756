"""Job bodies: plain functions that the embedded scheduler and the Celery tasks both call."""

from __future__ import annotations

import socket
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

import pandas as pd

from collectors.base import Reading
from collectors.system import SystemCollector
from storage import Settings, Store, get_settings, retention, rollups
from tasks import spool

__all__ = ["collect_system", "enforce_retention", "maintain_rollups", "readings_frame"]


def readings_frame(readings: Sequence[Reading], at: datetime, host: str | None = None) -> pd.DataFrame:
    """Collector readings as the tidy frame ``Store.write`` takes, all stamped with one time."""
    host = host or socket.gethostname()
    return pd.DataFrame(
        {
            "ts": pd.Timestamp(at),
            "metric": [reading.metric for reading in readings],
            "host": host,
            "labels": [reading.labels for reading in readings],
            "unit": [reading.unit for reading in readings],
            "value": [reading.value for reading in readings],
        }
    )


def collect_system(store: Store, collector: SystemCollector, spool_dir: Path | None = None) -> int:
    """Read this host once and store it; returns the number of samples written.

    Written through the spool (default: ``settings.spool_dir``): while the store is unreachable
    the readings wait on disk and the job still succeeds (0 written); they are replayed first
    on a later run.
    """
    collection = collector.collect()
    if not collection.readings:
        return 0
    frame = readings_frame(collection.readings, collection.at, host=collection.target)
    return spool.write_samples(store, frame, spool_dir or get_settings().spool_dir)


def maintain_rollups(store: Store) -> rollups.RollupReport:
    """Roll complete buckets into the 1m and 1h tiers and correct late data."""
    return rollups.refresh_rollups(store.engine)


def enforce_retention(store: Store, settings: Settings) -> dict[str, int]:
    """Delete what each tier no longer keeps, in small batches."""
    return retention.enforce_retention(store.engine, settings)
