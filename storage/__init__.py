"""Vitals storage: the data layer and the notebook API.

    import storage
    store = storage.connect()
    store.metrics("system.cpu.percent", since="7d", every="5min", agg=("mean", "max", "p95"))

Imports SQL and pandas only, so a notebook needs nothing else running.
"""

from storage.analytics import (
    Forecast,
    Trend,
    anomalies,
    counter_rate,
    rolling,
    summarize,
    time_to_threshold,
    trend,
)
from storage.settings import Settings, SettingsError, get_settings, load_settings
from storage.store import Store, connect

__all__ = [
    "Forecast",
    "Settings",
    "SettingsError",
    "Store",
    "Trend",
    "anomalies",
    "connect",
    "counter_rate",
    "get_settings",
    "load_settings",
    "rolling",
    "summarize",
    "time_to_threshold",
    "trend",
]
