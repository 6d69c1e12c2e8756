"""Alert rules, alert states and their history, as the alert engine and the Alerts page use them."""

from __future__ import annotations

import pandas as pd
from sqlalchemy import Engine, select

from storage.frames import check_choice, utc_frame
from storage.schema import alert_rules, alerts
from storage.timeparse import TimeInput, resolve_range

__all__ = ["ALERT_STATES", "AlertsSection", "read_alerts"]

ALERT_STATES = ("pending", "firing", "acknowledged", "resolved")


def read_alerts(engine: Engine, state: str | None = None, since: TimeInput = "30d") -> pd.DataFrame:
    """Alerts started in the window, newest first, with their rule's name, metric and severity."""
    state = check_choice("state", state, ALERT_STATES)
    start, end = resolve_range(since)
    statement = (
        select(
            alerts.c.id,
            alert_rules.c.name.label("rule"),
            alert_rules.c.metric,
            alert_rules.c.severity,
            alerts.c.state,
            alerts.c.value,
            alerts.c.started_at,
            alerts.c.resolved_at,
            alerts.c.acknowledged_by,
            alerts.c.acknowledged_at,
            alerts.c.summary,
        )
        .join(alert_rules, alert_rules.c.id == alerts.c.rule_id)
        .where(
            alerts.c.started_at >= start.replace(tzinfo=None), alerts.c.started_at <= end.replace(tzinfo=None)
        )
        .order_by(alerts.c.started_at.desc(), alerts.c.id.desc())
    )
    if state is not None:
        statement = statement.where(alerts.c.state == state)
    return utc_frame(engine, statement, ["started_at", "resolved_at", "acknowledged_at"])


class AlertsSection:
    """``store.alerts``: call it to list alerts (``store.alerts(state="firing")``)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def __call__(self, state: str | None = None, since: TimeInput = "30d") -> pd.DataFrame:
        """Alerts started in the window (pending, firing, acknowledged or resolved), newest first."""
        return read_alerts(self._engine, state, since)
