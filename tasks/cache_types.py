"""What the Cache page and API need to know of the Redis collector (types, refusals, the metric
list, target names), given to the web layer through ``tasks``: it reaches collectors only from here."""

from __future__ import annotations

from collectors.redis_monitor import REDIS_METRICS, parse_target
from collectors.redis_monitor.keys import (
    KEY_TYPES,
    ConfigUnavailable,
    DryRun,
    KeyGone,
    KeyRow,
    MemoryPolicy,
    TagNotFound,
)
from storage import Settings

__all__ = [
    "KEY_TYPES",
    "REDIS_METRICS",
    "ConfigUnavailable",
    "DryRun",
    "KeyGone",
    "KeyRow",
    "MemoryPolicy",
    "TagNotFound",
    "target_names",
]


def target_names(settings: Settings) -> list[str]:
    """The names of the configured Redis targets, in configuration order."""
    return [parse_target(url).name for url in settings.redis_urls]
