"""The warning/critical levels that pages draw (chart bands, tile colours), as configured now.

One reader for every page, so a threshold changed on the Settings page recolours the next render
without a restart; if the store cannot be read, the design's defaults still draw the bands.
"""

from __future__ import annotations

from storage.config import DEFINITIONS
from tasks.config_live import THRESHOLD_KEYS, kpi_thresholds

__all__ = ["configured_levels"]


def configured_levels() -> dict[str, tuple[float, float]]:
    """(warning, critical) per name of :data:`tasks.config_live.THRESHOLD_KEYS` (``cpu``, ``connections``, ...)."""
    from dashboard.services import services

    try:
        return kpi_thresholds(services().store)
    except Exception:  # a store outage degrades to the defaults, never breaks the page
        return {
            name: (float(DEFINITIONS[warn].default), float(DEFINITIONS[critical].default))
            for name, (warn, critical) in THRESHOLD_KEYS.items()
        }
