"""Every metric Vitals collects, in one place: name -> (unit, description). ``vitals metrics`` prints it."""

from __future__ import annotations

from collectors.system import SYSTEM_METRICS

__all__ = ["METRIC_CATALOG"]

METRIC_CATALOG: dict[str, tuple[str, str]] = {**SYSTEM_METRICS}
