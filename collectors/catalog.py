"""Every metric Vitals collects, in one place: name -> (unit, description). ``vitals metrics`` prints it."""

from __future__ import annotations

from collectors.app_metrics import APP_METRICS
from collectors.celery_monitor import CELERY_METRICS
from collectors.mysql import MYSQL_METRICS
from collectors.redis_monitor import REDIS_METRICS
from collectors.system import SYSTEM_METRICS

__all__ = ["METRIC_CATALOG"]

METRIC_CATALOG: dict[str, tuple[str, str]] = {
    **SYSTEM_METRICS,
    **APP_METRICS,
    **REDIS_METRICS,
    **CELERY_METRICS,
    **MYSQL_METRICS,
    # Written by the alerts job from the latest health-check results (tasks/alerts_jobs.py).
    "vitals.health.check_failing": ("", "1 while the health {check} fails, else 0"),
}
