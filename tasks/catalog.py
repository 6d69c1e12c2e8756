"""The metric catalog (name -> unit, description) as the web layer sees it.

The catalog is assembled from the collectors that emit the metrics (``collectors.catalog``); the
dashboard and the REST API read it from here, because the web layer reaches collectors only through
``tasks`` (an import-linter contract).
"""

from __future__ import annotations

from collectors.catalog import METRIC_CATALOG

__all__ = ["METRIC_CATALOG", "describe"]


def describe(metric: str) -> tuple[str, str]:
    """(unit, description) of a metric; empty strings for one Vitals does not know."""
    return METRIC_CATALOG.get(metric, ("", ""))
