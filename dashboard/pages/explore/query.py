"""What the explorer's controls mean: parsed and checked, each problem named by its field."""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import urlencode

from storage.reads import SUPPORTED_AGGREGATES
from storage.timeparse import parse_duration

__all__ = ["AGGREGATES", "ExploreQuery", "parse_query"]

AGGREGATES = [
    agg for agg in ("mean", "max", "min", "p95", "p99", "sum", "count", "last") if agg in SUPPORTED_AGGREGATES
]
MAX_METRICS = 8  # a chart with more overlaid metrics is unreadable


@dataclass
class ExploreQuery:
    metrics: list[str]
    agg: str = "mean"
    step: str | None = None  # None: chosen from the window
    host: str | None = None
    labels: dict[str, str] = field(default_factory=dict)
    problems: dict[str, str] = field(default_factory=dict)  # field -> message shown next to it

    def link(self, path: str) -> str:
        """The URL that reproduces this view."""
        params = {"metrics": ",".join(self.metrics), "agg": self.agg}
        if self.step:
            params["step"] = self.step
        if self.host:
            params["host"] = self.host
        if self.labels:
            params["labels"] = ",".join(f"{key}={value}" for key, value in self.labels.items())
        return f"{path}?{urlencode(params)}"


def parse_query(
    metrics: list[str] | None, agg: str | None, step: str | None, host: str | None, labels: str | None
) -> ExploreQuery:
    query = ExploreQuery(metrics=[name for name in (metrics or []) if name][:MAX_METRICS])
    query.agg = agg if agg in AGGREGATES else "mean"
    if agg and agg not in AGGREGATES:
        query.problems["agg"] = f"unknown aggregate {agg!r}; choose one of {', '.join(AGGREGATES)}"
    text = (step or "").strip()
    if text:
        try:
            parse_duration(text, name="step")
            query.step = text
        except ValueError as exc:
            query.problems["step"] = str(exc).removeprefix("step: ")
    query.host = (host or "").strip() or None
    query.labels, problem = _labels(labels or "")
    if problem:
        query.problems["labels"] = problem
    if len(metrics or []) > MAX_METRICS:
        query.problems["metrics"] = (
            f"at most {MAX_METRICS} metrics at once; the first {MAX_METRICS} are shown"
        )
    return query


def _labels(text: str) -> tuple[dict[str, str], str | None]:
    """``mount=/, queue=celery`` -> {"mount": "/", "queue": "celery"}."""
    found: dict[str, str] = {}
    for part in (piece.strip() for piece in text.split(",")):
        if not part:
            continue
        key, sep, value = part.partition("=")
        if not sep or not key.strip() or not value.strip():
            return {}, f"{part!r} is not key=value; write e.g. mount=/ or queue=celery"
        found[key.strip()] = value.strip()
    return found, None
