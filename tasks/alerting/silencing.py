"""Silences and recurring maintenance windows: does one cover an alert at a moment?

A silence has matchers (rule, target host, labels, severity) and either a fixed start/end or a
cron expression (croniter) whose each occurrence opens a window of ``duration_seconds``; a fixed
start/end around a cron silence bounds when the recurrence applies.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from croniter import croniter

__all__ = ["active_at", "covers", "matches", "validate_cron"]


def validate_cron(expression: str) -> str:
    words = expression.strip()
    if not croniter.is_valid(words):
        raise ValueError(
            f"{words!r} is not a cron expression (minute hour day month weekday), e.g. '0 2 * * 0'"
        )
    return words


def active_at(silence: Mapping[str, Any], at: datetime) -> bool:
    if not silence.get("enabled", True):
        return False
    starts, ends = silence.get("starts_at"), silence.get("ends_at")
    if starts is not None and at < starts:
        return False
    if ends is not None and at >= ends:
        return False
    cron = silence.get("cron")
    if not cron:
        return starts is not None or ends is not None
    duration = timedelta(seconds=int(silence.get("duration_seconds") or 0))
    # The latest occurrence at or before ``at`` (croniter's get_prev is strictly before: nudge by 1 s).
    previous = croniter(cron, (at + timedelta(seconds=1)).astimezone(UTC)).get_prev(datetime)
    return bool(at - previous < duration)


def matches(silence: Mapping[str, Any], alert: Mapping[str, Any]) -> bool:
    """``alert`` carries rule_id, host, severity and labels (series labels plus the rule's labels)."""
    wanted = silence.get("matchers") or {}
    if wanted.get("rule_id") not in (None, "") and int(wanted["rule_id"]) != int(alert.get("rule_id") or -1):
        return False
    if wanted.get("host") and wanted["host"] != alert.get("host"):
        return False
    if wanted.get("severity") and wanted["severity"] != alert.get("severity"):
        return False
    labels = alert.get("labels") or {}
    return all(str(labels.get(k)) == str(v) for k, v in (wanted.get("labels") or {}).items())


def covers(
    silences: Sequence[Mapping[str, Any]], alert: Mapping[str, Any], at: datetime
) -> Mapping[str, Any] | None:
    """The first silence that mutes ``alert`` at ``at``, if any."""
    for silence in silences:
        if matches(silence, alert) and active_at(silence, at):
            return silence
    return None
