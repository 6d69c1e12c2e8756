"""What an alert rule is, and the checks a rule must pass before it is stored.

The vocabulary is Prometheus/Grafana's: an aggregation over a window, a comparison with one or two
thresholds, ``for`` before firing, ``keep_firing_for`` against flapping, a repeat interval, labels
and annotations with templates, and what no data means.
"""

from __future__ import annotations

import difflib
import re
import string
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any
from urllib.parse import urlparse

from storage.timeparse import parse_duration

__all__ = [
    "AGGREGATIONS",
    "CATEGORIES",
    "NO_DATA_MODES",
    "OPERATORS",
    "SEVERITIES",
    "Rule",
    "RuleInvalid",
    "duration_seconds",
    "labels_text",
    "render_template",
    "rule_from_form",
    "seconds_text",
    "template_fields",
]

AGGREGATIONS = ("avg", "min", "max", "sum", "p95", "rate", "last", "count")
OPERATORS = ("gt", "gte", "lt", "lte", "eq", "between", "outside")
OPERATOR_WORDS = {
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "eq": "=",
    "between": "between",
    "outside": "outside",
}
SEVERITIES = ("info", "warning", "critical", "emergency")
CATEGORIES = ("general", "database", "cache", "system", "queue", "health", "logs")
# alerting: no data is an alert of its own; keep: the previous state stays; ok: treated as healthy.
NO_DATA_MODES = ("alerting", "keep", "ok")
TWO_BOUNDS = ("between", "outside")
# The fields a summary/description template may use besides the series' own labels.
TEMPLATE_BASE_FIELDS = ("value", "threshold", "threshold2", "rule", "metric", "host", "severity")


class RuleInvalid(ValueError):
    """A rule that cannot be stored: ``errors`` maps each form field to its message."""

    def __init__(self, errors: Mapping[str, str]) -> None:
        super().__init__("; ".join(f"{name}: {message}" for name, message in errors.items()))
        self.errors = dict(errors)


@dataclass(frozen=True)
class Rule:
    """One alert rule. Durations are whole seconds; ``labels`` are the series matchers."""

    name: str
    metric: str
    operator: str
    threshold: float
    threshold2: float | None = None
    aggregation: str = "avg"
    window_seconds: int = 300
    for_seconds: int = 0
    keep_firing_seconds: int = 0
    repeat_seconds: int = 900
    severity: str = "warning"
    category: str = "general"
    host: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    alert_labels: dict[str, str] = field(default_factory=dict)
    summary: str = ""
    description: str = ""
    runbook_url: str = ""
    channels: tuple[int, ...] = ()
    enabled: bool = True
    no_data: str = "ok"
    id: int | None = None
    default_key: str | None = None

    def as_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["channels"] = list(self.channels)
        return data

    @property
    def condition_text(self) -> str:
        """``avg(system.cpu.percent[5m]) > 90`` — the rule as one line."""
        window = seconds_text(self.window_seconds)
        left = f"{self.aggregation}({self.metric}[{window}])"
        if self.operator in TWO_BOUNDS:
            return f"{left} {self.operator} {self.threshold:g}..{self.threshold2:g}"
        return f"{left} {OPERATOR_WORDS[self.operator]} {self.threshold:g}"


def seconds_text(seconds: int) -> str:
    """300 -> ``"5m"``; 0 -> ``"0s"``."""
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds and seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def labels_text(labels: Mapping[str, object] | None) -> str:
    """``{"mount": "/"}`` -> ``"mount=/"``: how the editor shows matchers and labels."""
    return ", ".join(f"{key}={value}" for key, value in (labels or {}).items())


def duration_seconds(text: object, name: str, *, allow_zero: bool = True) -> int:
    """``"5m"`` -> 300; ``"0"``/empty -> 0 where allowed; a ``ValueError`` naming the field otherwise."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0:
            raise ValueError(f"{name}: must not be negative, got {text}")
        if text == 0 and not allow_zero:
            raise ValueError(f"{name}: must be greater than zero")
        return int(text)
    words = str(text or "").strip()
    if words in ("", "0") and allow_zero:
        return 0
    if words.startswith("-"):
        raise ValueError(f"{name}: must not be negative, got {words!r}")
    delta = parse_duration(words, name=name)
    return max(1, round(delta.total_seconds()))


def template_fields(template: str) -> list[str]:
    """The ``{name}`` fields a template refers to (``{{`` escapes a brace)."""
    try:
        return [name for _, name, _, _ in string.Formatter().parse(template) if name]
    except ValueError as exc:
        raise ValueError(f"template: {exc}") from None


class _Missing(dict[str, object]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render_template(template: str, values: Mapping[str, object]) -> str:
    """Fill a summary/description template; a field without a value stays as written."""
    shown = {key: (f"{value:.4g}" if isinstance(value, float) else value) for key, value in values.items()}
    try:
        return template.format_map(_Missing(shown))
    except (ValueError, IndexError, AttributeError, KeyError):
        return template


_LABEL_PAIR = re.compile(r"^\s*([A-Za-z_][A-Za-z0-9_.]*)\s*=\s*(.*?)\s*$")


def parse_labels(text: object, name: str) -> dict[str, str]:
    """``"mount=/, env=prod"`` or a mapping -> ``{"mount": "/", "env": "prod"}``."""
    if isinstance(text, Mapping):
        return {str(k): str(v) for k, v in text.items()}
    found: dict[str, str] = {}
    for part in str(text or "").split(","):
        if not part.strip():
            continue
        match = _LABEL_PAIR.match(part)
        if not match or not match.group(2):
            raise ValueError(f"{name}: {part.strip()!r} is not name=value")
        found[match.group(1)] = match.group(2)
    return found


def _number(value: object, name: str, errors: dict[str, str]) -> float | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        return None
    try:
        number = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        errors[name] = f"{value!r} is not a number"
        return None
    if number != number or number in (float("inf"), float("-inf")):
        errors[name] = "must be a finite number"
        return None
    return number


def _choice(value: object, name: str, choices: tuple[str, ...], default: str, errors: dict[str, str]) -> str:
    words = str(value or default).strip().lower()
    if words not in choices:
        errors[name] = f"{words!r} is not one of {', '.join(choices)}"
        return default
    return words


def rule_from_form(
    form: Mapping[str, Any],
    *,
    known_metrics: Iterable[str],
    known_labels: Mapping[str, set[str]] | None = None,
    known_channels: Iterable[int] = (),
    rule_id: int | None = None,
) -> Rule:
    """A validated rule from form/JSON fields, or ``RuleInvalid`` with one message per bad field.

    ``known_labels`` maps a metric to the label names its series carry, so a template asking for a
    label no series has is refused instead of printing ``{mount}`` in every notification.
    """
    errors: dict[str, str] = {}
    name = str(form.get("name") or "").strip()
    if not name:
        errors["name"] = "give the rule a name"
    elif len(name) > 191:
        errors["name"] = "at most 191 characters"
    metrics = sorted(set(known_metrics))
    metric = str(form.get("metric") or "").strip()
    if not metric:
        errors["metric"] = "choose a metric"
    elif metric not in metrics:
        close = difflib.get_close_matches(metric, metrics, n=1, cutoff=0.5)
        errors["metric"] = f"unknown metric {metric!r}" + (f"; did you mean {close[0]!r}?" if close else "")
    aggregation = _choice(form.get("aggregation"), "aggregation", AGGREGATIONS, "avg", errors)
    operator = _choice(form.get("operator"), "operator", OPERATORS, "gt", errors)
    severity = _choice(form.get("severity"), "severity", SEVERITIES, "warning", errors)
    category = _choice(form.get("category"), "category", CATEGORIES, "general", errors)
    no_data = _choice(form.get("no_data"), "no_data", NO_DATA_MODES, "ok", errors)
    threshold = _number(form.get("threshold"), "threshold", errors)
    threshold2 = _number(form.get("threshold2"), "threshold2", errors)
    if threshold is None and "threshold" not in errors:
        errors["threshold"] = "give a threshold" if operator not in TWO_BOUNDS else "give the lower bound"
    if operator in TWO_BOUNDS:
        if threshold2 is None and "threshold2" not in errors:
            errors["threshold2"] = f"{operator} needs both bounds: give the upper bound"
        elif threshold is not None and threshold2 is not None and threshold > threshold2:
            errors["threshold2"] = f"the upper bound {threshold2:g} is below the lower bound {threshold:g}"
    else:
        threshold2 = None
    durations: dict[str, int] = {}
    for key, default, allow_zero in (
        ("window", "5m", False),
        ("for", "0", True),
        ("keep_firing_for", "0", True),
        ("repeat", "15m", True),
    ):
        raw = form.get(key, default)
        try:
            durations[key] = duration_seconds(default if raw is None else raw, key, allow_zero=allow_zero)
        except ValueError as exc:
            errors[key] = str(exc).split(": ", 1)[-1]
    labels: dict[str, str] = {}
    alert_labels: dict[str, str] = {}
    for key in ("labels", "alert_labels"):
        try:
            parsed = parse_labels(form.get(key), key)
        except ValueError as exc:
            errors[key] = str(exc).split(": ", 1)[-1]
        else:
            if key == "labels":
                labels = parsed
            else:
                alert_labels = parsed
    runbook = str(form.get("runbook_url") or "").strip()
    if runbook:
        parts = urlparse(runbook)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            errors["runbook_url"] = f"{runbook!r} is not an http(s) URL"
    series_labels = (known_labels or {}).get(metric, set())
    allowed = set(TEMPLATE_BASE_FIELDS) | series_labels | set(alert_labels) | set(labels)
    for key in ("summary", "description"):
        template = str(form.get(key) or "")
        try:
            unknown = [f for f in template_fields(template) if f not in allowed]
        except ValueError as exc:
            errors[key] = str(exc).split(": ", 1)[-1]
            continue
        if unknown:
            have = ", ".join(sorted(allowed))
            errors[key] = f"no label {unknown[0]!r} on {metric or 'this metric'}; use one of {have}"
    channels: list[int] = []
    wanted = set(known_channels)
    for raw in form.get("channels") or ():
        try:
            channel = int(raw)
        except (TypeError, ValueError):
            errors["channels"] = f"{raw!r} is not a channel id"
            break
        if wanted and channel not in wanted:
            errors["channels"] = f"no channel with id {channel}"
            break
        channels.append(channel)
    host = str(form.get("host") or "").strip() or None
    if errors:
        raise RuleInvalid(errors)
    assert threshold is not None
    return Rule(
        id=rule_id,
        name=name,
        metric=metric,
        host=host,
        labels=labels,
        aggregation=aggregation,
        window_seconds=durations["window"],
        operator=operator,
        threshold=threshold,
        threshold2=threshold2,
        for_seconds=durations["for"],
        keep_firing_seconds=durations["keep_firing_for"],
        repeat_seconds=durations["repeat"],
        severity=severity,
        category=category,
        alert_labels=alert_labels,
        summary=str(form.get("summary") or "").strip(),
        description=str(form.get("description") or "").strip(),
        runbook_url=runbook,
        channels=tuple(channels),
        enabled=bool(form.get("enabled", True)),
        no_data=no_data,
        default_key=form.get("default_key"),
    )
