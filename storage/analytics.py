"""Pandas analytics on tidy metric frames: windows, trends, anomalies and threshold forecasts.

Every function takes the tidy frame ``Store.metrics`` returns (or any frame shaped like it): a ``ts``
column (timezone-aware UTC; naive times are taken as UTC, integers as epoch milliseconds), a numeric
value column and, optionally, ``series_id``. The value column is ``column`` when given, else the
first of ``value``, ``mean`` or ``last`` the frame has. A frame with a ``series_id`` column is
analysed one series at a time: frame results keep a ``series_id`` column, and ``trend`` and
``time_to_threshold`` return a dict keyed by series id instead of a single result.

Nothing here runs SQL; the ``Store.trend``, ``Store.anomalies`` and ``Store.forecast`` methods fetch
the data and call these functions.

    from storage import analytics
    df = store.metrics("system.disk.percent", since="7d", every="10min")
    analytics.time_to_threshold(df, 90)       # {series_id: Forecast(...)}
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, TypeVar

import numpy as np
import pandas as pd

from storage.timeparse import parse_duration

__all__ = [
    "ANOMALY_COLUMNS",
    "DEFAULT_SUMMARY_AGGS",
    "Forecast",
    "Trend",
    "anomalies",
    "counter_rate",
    "results_frame",
    "rolling",
    "summarize",
    "time_to_threshold",
    "trend",
    "with_series_info",
]

SERIES_KEY = "series_id"
VALUE_COLUMNS = ("value", "mean", "last")
# Carried along so explanations can name the series ("system.disk.percent{mount=/} on web1").
_META_COLUMNS = ("metric", "host", "labels", "unit")
DEFAULT_SUMMARY_AGGS = ("mean", "min", "max", "p50", "p95", "p99")
ANOMALY_COLUMNS = ("ts", SERIES_KEY, "value", "baseline", "score")

_PLAIN_AGGS = ("mean", "min", "max", "sum", "count", "first", "last", "median", "std")
_ROLLING_AGGS = ("mean", "min", "max", "sum", "count", "median", "std")
_PERCENTILE = re.compile(r"^p(\d+(?:\.\d+)?)$")

# 0.6745 is the 0.75 quantile of the standard normal: it scales the MAD so that, for normal data,
# the robust z-score reads like an ordinary one (Iglewicz & Hoaglin). 1.2533 = sqrt(pi/2) does the
# same for the mean absolute deviation, the fallback when more than half the values are identical.
_MAD_SCALE = 0.6745
_MEAN_AD_SCALE = 1.2533
_WEEKLY_HISTORY = timedelta(days=21)
_DAILY_HISTORY = timedelta(days=2)
_HORIZON_DAYS = 100 * 365.25  # beyond this a linear extrapolation says nothing useful
_ONE_DAY = pd.Timedelta(days=1)
_ONE_HOUR = pd.Timedelta(hours=1)
_HUMAN_UNITS = (("year", 365.25 * 86400), ("day", 86400), ("hour", 3600), ("minute", 60))

R = TypeVar("R")
Direction = Literal["up", "down"]


# --- results -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Trend:
    """How a series moved over a window ``(start, end]`` and how it compares with earlier windows.

    ``slope_per_hour`` is the least-squares slope of value against time inside the window.
    ``change_vs_previous_pct`` compares the window mean with the mean of the window of equal length
    just before it, ``change_vs_week_ago_pct`` with the same window seven days earlier, both as
    ``(mean - earlier) / |earlier| * 100``. A figure whose data is missing (no samples in that window,
    fewer than two samples for a slope, an earlier mean of zero) is None, and ``explanation`` says why.
    """

    start: datetime
    end: datetime
    points: int
    mean: float | None
    slope_per_hour: float | None
    previous_mean: float | None
    change_vs_previous_pct: float | None
    week_ago_mean: float | None
    change_vs_week_ago_pct: float | None
    explanation: str


@dataclass(frozen=True)
class Forecast:
    """When a straight line fitted to recent values reaches ``threshold``.

    ``crosses_at``/``eta`` are None when the line never gets there (flat, or moving away from the
    threshold), or when there are too few samples to fit; ``eta`` is zero when the latest value is
    already past it. ``slope_per_day`` and ``r2`` (the share of the variance the line explains, 1 =
    a perfect line) describe the fit; ``explanation`` says all of it in one sentence.
    """

    threshold: float
    direction: Direction
    latest: float
    crosses_at: datetime | None
    eta: timedelta | None
    slope_per_day: float | None
    r2: float | None
    points: int
    explanation: str


# --- windows -------------------------------------------------------------------------------------


def summarize(
    frame: pd.DataFrame,
    every: str | timedelta,
    aggs: str | Sequence[str] = DEFAULT_SUMMARY_AGGS,
    *,
    column: str | None = None,
) -> pd.DataFrame:
    """Aggregates per bucket of ``every``: columns ts (bucket start), [series_id] and one per agg.

    Buckets are aligned to the Unix epoch, like ``Store.metrics`` buckets, so the two line up; empty
    buckets are left out. ``aggs`` takes mean, min, max, sum, count, first, last, median, std and
    percentiles written ``p50``, ``p95``, ``p99.9`` (linear interpolation between samples).
    """
    step = pd.Timedelta(parse_duration(every, name="every"))
    names = _check_aggs(aggs, _PLAIN_AGGS)
    data = _prepare(frame, column)
    keys = _keys(data)
    grouped = data.assign(bucket=data["ts"].dt.floor(step)).groupby([*keys, "bucket"], sort=True)["value"]
    out = pd.DataFrame({name: _group_agg(grouped, name) for name in names}).reset_index()
    return out.rename(columns={"bucket": "ts"})[["ts", *keys, *names]]


def rolling(
    frame: pd.DataFrame, window: str | timedelta = "15min", agg: str = "mean", *, column: str | None = None
) -> pd.DataFrame:
    """A time-based rolling aggregate: at each sample, ``agg`` over the samples in ``(ts - window, ts]``.

    The window is a span of time, not a count of rows, so gaps in the data shrink it rather than
    reach further back. Returns ts, [series_id] and a column named after ``agg`` (mean, min, max,
    sum, count, median, std or a percentile like ``p95``).
    """
    span = pd.Timedelta(parse_duration(window, name="window"))
    (name,) = _check_aggs(agg, _ROLLING_AGGS)

    def one(part: pd.DataFrame) -> pd.DataFrame:
        values = pd.Series(part["value"].to_numpy(), index=pd.DatetimeIndex(part["ts"]))
        result = _rolling_agg(values.rolling(span, min_periods=1), name)
        return pd.DataFrame({"ts": part["ts"].to_numpy(), name: result.to_numpy()})

    return _per_series_frame(_prepare(frame, column), one)


def counter_rate(
    frame: pd.DataFrame, per: str | timedelta = "1s", *, column: str | None = None
) -> pd.DataFrame:
    """The rate of increase of a monotonically increasing counter, per ``per``: columns ts, [series_id], rate.

    Each rate is (increase since the previous sample) / (time since it), stamped at the later sample.
    A value lower than the one before means the counter was reset (a restart): the new value is
    counted from zero, as Prometheus' ``rate()`` does, so a reset never produces a negative rate.
    Query counters with ``agg="last"`` so each bucket holds a real counter reading.
    """
    unit_seconds = parse_duration(per, name="per").total_seconds()

    def one(part: pd.DataFrame) -> pd.DataFrame:
        part = part.drop_duplicates("ts", keep="last")
        delta = part["value"].diff()
        increase = delta.where(delta >= 0, part["value"].clip(lower=0))
        seconds = part["ts"].diff().dt.total_seconds()
        rate = increase / seconds * unit_seconds
        return pd.DataFrame({"ts": part["ts"], "rate": rate}).iloc[1:].reset_index(drop=True)

    return _per_series_frame(_prepare(frame, column), one)


# --- trends --------------------------------------------------------------------------------------


def trend(
    frame: pd.DataFrame,
    window: str | timedelta = "1h",
    *,
    column: str | None = None,
    now: datetime | None = None,
) -> Trend | dict[Hashable, Trend]:
    """Slope and % change of the window ``(now - window, now]`` against earlier windows.

    ``now`` defaults to the newest sample (of each series). The earlier windows are the one of equal
    length just before, and the same window a week earlier; the frame has to reach back that far
    for those comparisons, otherwise they are None and the explanation says the history is missing.
    """
    span = pd.Timedelta(parse_duration(window, name="window"))
    data = _prepare(frame, column)
    return _per_series_result(data, lambda part: _trend_one(part, span, _reference(part, now)))


def _trend_one(part: pd.DataFrame, span: pd.Timedelta, end: pd.Timestamp) -> Trend:
    current = _between(part, end - span, end)
    previous = _between(part, end - 2 * span, end - span)
    week_end = end - pd.Timedelta(days=7)
    week_ago = _between(part, week_end - span, week_end)
    mean, previous_mean, week_ago_mean = (_mean(window["value"]) for window in (current, previous, week_ago))
    slope = _slope(current, _ONE_HOUR)
    vs_previous = _pct_change(mean, previous_mean)
    vs_week = _pct_change(mean, week_ago_mean)
    notes = [
        _describe_current(mean, slope, len(current), span),
        _describe_change(vs_previous, mean, previous_mean, f"the previous {_human(span)}"),
        _describe_change(vs_week, mean, week_ago_mean, f"the same {_human(span)} a week earlier"),
    ]
    return Trend(
        start=_py_datetime(end - span),
        end=_py_datetime(end),
        points=len(current),
        mean=mean,
        slope_per_hour=slope,
        previous_mean=previous_mean,
        change_vs_previous_pct=vs_previous,
        week_ago_mean=week_ago_mean,
        change_vs_week_ago_pct=vs_week,
        explanation=_prefixed(_series_name(part), "; ".join(notes)),
    )


def _describe_current(mean: float | None, slope: float | None, points: int, span: pd.Timedelta) -> str:
    if mean is None:
        return f"no samples in the last {_human(span)}"
    shape = f"slope {_signed(slope)}/hour" if slope is not None else "too few samples for a slope"
    return f"mean {_fmt(mean)} over the last {_human(span)} ({points} samples, {shape})"


def _describe_change(change: float | None, mean: float | None, earlier: float | None, what: str) -> str:
    if change is not None:
        return f"{_signed(change)} % vs {what} (mean {_fmt(earlier)})"
    if mean is None:
        return f"no change vs {what}: the current window is empty"
    if earlier is None:
        return f"no change vs {what}: no samples there (history missing)"
    return f"no % change vs {what}: its mean is 0"


def _pct_change(value: float | None, earlier: float | None) -> float | None:
    if value is None or earlier is None or earlier == 0:
        return None
    return (value - earlier) / abs(earlier) * 100


# --- anomalies -----------------------------------------------------------------------------------


def anomalies(frame: pd.DataFrame, threshold: float = 3.5, *, column: str | None = None) -> pd.DataFrame:
    """Points far from their seasonal norm: columns ts, [series_id], value, baseline, score.

    The score is the robust z-score ``0.6745 * (value - median) / MAD`` (MAD = median absolute
    deviation from the median), which one outlier cannot inflate the way it inflates a standard
    deviation. Median and MAD come from the point's season, so a peak that happens every day at the
    same hour is normal at that hour and still unusual at another one:

    - hour of day and day of week, with at least 3 weeks of history;
    - hour of day (UTC), with at least 2 days;
    - all the values otherwise.

    Where the MAD is 0 (more than half the season's values are equal) the score falls back to
    ``(value - median) / (1.2533 * mean absolute deviation)``; where that is 0 too, only a value that
    differs from the median is flagged (with an infinite score). Points with ``|score| > threshold``
    are returned, sorted by time; ``frame.attrs["seasonality"]`` tells which baseline each series got.
    """
    if not threshold > 0:
        raise ValueError(f"threshold: must be greater than zero, got {threshold!r}")
    data = _prepare(frame, column)
    seasons: dict[Hashable, str] = {}

    def one(part: pd.DataFrame) -> pd.DataFrame:
        seasonality = _seasonality(part["ts"])
        seasons[_series_of(part)] = seasonality
        baseline, score = _robust_scores(part["value"], _season_keys(part["ts"], seasonality))
        scored = pd.DataFrame(
            {"ts": part["ts"], "value": part["value"], "baseline": baseline, "score": score}
        )
        return scored[scored["score"].abs() > threshold].reset_index(drop=True)

    flagged = _per_series_frame(data, one).sort_values("ts", kind="stable").reset_index(drop=True)
    flagged.attrs["seasonality"] = seasons if SERIES_KEY in data else seasons[None]
    return flagged


def _seasonality(ts: pd.Series) -> str:
    history = ts.iloc[-1] - ts.iloc[0]
    if history >= _WEEKLY_HISTORY:
        return "day-of-week and hour-of-day"
    if history >= _DAILY_HISTORY:
        return "hour-of-day"
    return "global"


def _season_keys(ts: pd.Series, seasonality: str) -> list[pd.Series]:
    if seasonality == "global":
        return [pd.Series(0, index=ts.index)]
    hours = ts.dt.hour
    return [ts.dt.day_of_week, hours] if seasonality.startswith("day-of-week") else [hours]


def _robust_scores(values: pd.Series, keys: list[pd.Series]) -> tuple[pd.Series, pd.Series]:
    """(median of each value's season, robust z-score of the value against that season)."""
    median = values.groupby(keys).transform("median")
    deviation = values - median
    mad = deviation.abs().groupby(keys).transform("median")
    mean_ad = deviation.abs().groupby(keys).transform("mean")
    with np.errstate(divide="ignore", invalid="ignore"):
        by_mad = _MAD_SCALE * deviation / mad
        by_mean_ad = deviation / (_MEAN_AD_SCALE * mean_ad)
        # No spread at all: a value equal to the median is normal, any other is infinitely far off.
        degenerate = pd.Series(np.where(deviation == 0, 0.0, np.sign(deviation) * np.inf), index=values.index)
    score = by_mad.where(mad > 0, by_mean_ad.where(mean_ad > 0, degenerate))
    return median, score


# --- forecast ------------------------------------------------------------------------------------


def time_to_threshold(
    frame: pd.DataFrame,
    threshold: float,
    lookback: str | timedelta | None = None,
    *,
    column: str | None = None,
    now: datetime | None = None,
    direction: Direction = "up",
    label: str | None = None,
    unit: str | None = None,
) -> Forecast | dict[Hashable, Forecast]:
    """When the value reaches ``threshold``, from a straight line fitted over the last ``lookback``.

    The line is the least-squares fit (``numpy.polyfit``, degree 1) of value against time over
    ``(now - lookback, now]`` (all the frame when ``lookback`` is None); ``now`` defaults to the
    newest sample. ``direction="up"`` waits for the value to rise to the threshold (disk used),
    ``"down"`` for it to fall to it (disk free). The crossing is where the line meets the threshold;
    a flat line or one heading away never does, and the explanation says so.

    ``label`` and ``unit`` word the explanation; by default they come from the frame's metric, host,
    labels and unit columns when it has them.
    """
    if direction not in ("up", "down"):
        raise ValueError(f"direction: must be 'up' or 'down', got {direction!r}")
    span = pd.Timedelta(parse_duration(lookback, name="lookback")) if lookback is not None else None
    data = _prepare(frame, column)

    def one(part: pd.DataFrame) -> Forecast:
        end = _reference(part, now)
        recent = _between(part, end - span, end) if span is not None else part[part["ts"] <= end]
        words = _Wording(
            label if label is not None else _series_name(part),
            unit if unit is not None else _series_unit(part),
        )
        return _forecast_one(recent, float(threshold), direction, end, words)

    return _per_series_result(data, one)


@dataclass(frozen=True)
class _Wording:
    label: str
    unit: str

    def amount(self, value: float, signed: bool = False) -> str:
        number = _signed(value) if signed else _fmt(value)
        return f"{number} {self.unit}" if self.unit else number

    def rate(self, per_day: float) -> str:
        return f"{self.amount(per_day, signed=True)}/day"


@dataclass(frozen=True)
class _Line:
    """value = slope_per_day * (days after ``end``) + at_end, with its R²."""

    slope_per_day: float
    at_end: float
    r2: float


def _forecast_one(
    recent: pd.DataFrame, threshold: float, direction: Direction, end: pd.Timestamp, words: _Wording
) -> Forecast:
    latest = float(recent["value"].iloc[-1]) if len(recent) else float("nan")
    line = _fit_line(recent, end) if len(recent) else None
    eta, note = _crossing(recent, line, latest, threshold, direction, end, words)
    return Forecast(
        threshold=threshold,
        direction=direction,
        latest=latest,
        crosses_at=_py_datetime(end + eta) if eta is not None else None,
        eta=_py_timedelta(eta) if eta is not None else None,
        slope_per_day=line.slope_per_day if line else None,
        r2=line.r2 if line else None,
        points=len(recent),
        explanation=_prefixed(words.label, note),
    )


def _crossing(
    recent: pd.DataFrame,
    line: _Line | None,
    latest: float,
    threshold: float,
    direction: Direction,
    end: pd.Timestamp,
    words: _Wording,
) -> tuple[pd.Timedelta | None, str]:
    """(time from ``end`` until the line meets the threshold, or None; the sentence that says why)."""
    if recent.empty:
        return None, "no samples to fit a line to"
    if latest >= threshold if direction == "up" else latest <= threshold:
        return pd.Timedelta(0), f"already at {words.amount(latest)}, past {words.amount(threshold)}"
    if line is None:
        return None, f"needs at least 2 samples at different times to fit a line, has {len(recent)}"
    fitted_span = _human(end - recent["ts"].iloc[0])
    fit = f"{words.rate(line.slope_per_day)} over the last {fitted_span} (R²={line.r2:.2f})"
    if not (line.slope_per_day > 0 if direction == "up" else line.slope_per_day < 0):
        why = "flat" if line.slope_per_day == 0 else f"moving away from {words.amount(threshold)}"
        return None, f"{fit}: {why}, never crosses"
    days = max((threshold - line.at_end) / line.slope_per_day, 0.0)
    if days > _HORIZON_DAYS:
        years = _HORIZON_DAYS / 365.25
        return None, f"{fit}: would take more than {years:.0f} years to reach {words.amount(threshold)}"
    eta = pd.Timedelta(days=days).round("s")  # finer would be false precision for a forecast
    return eta, f"{fit}: reaches {words.amount(threshold)} in {_human(eta)}, around {_when(end + eta, eta)}"


def _fit_line(recent: pd.DataFrame, end: pd.Timestamp) -> _Line | None:
    days = ((recent["ts"] - end) / _ONE_DAY).to_numpy(dtype="float64")
    values = recent["value"].to_numpy(dtype="float64")
    if len(np.unique(days)) < 2:
        return None
    slope, intercept = _least_squares(days, values)
    return _Line(slope, intercept, _r_squared(values, slope * days + intercept))


def _least_squares(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(slope, intercept) of the least-squares line; exactly flat for constant values, where polyfit
    leaves rounding noise like -7e-17 that would read as "falling"."""
    if np.ptp(y) == 0:
        return 0.0, float(y[0])
    slope, intercept = np.polyfit(x, y, 1)
    return float(slope), float(intercept)


def _r_squared(values: np.ndarray, fitted: np.ndarray) -> float:
    residual = float(np.sum((values - fitted) ** 2))
    total = float(np.sum((values - values.mean()) ** 2))
    if total == 0:  # constant values: a flat line explains them fully (scikit-learn's convention)
        return 1.0 if residual == 0 else 0.0
    return 1 - residual / total


# --- per-series tables for the Store -------------------------------------------------------------


def results_frame(
    results: Trend | Forecast | Mapping[Hashable, Trend] | Mapping[Hashable, Forecast],
    result_type: type[Trend] | type[Forecast],
    frame: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """``trend``/``time_to_threshold`` results as a table: one row per series, a column per field.

    With ``frame`` (the input frame), the series' metric, host and labels are added, so the table
    reads on its own; its columns are the same whether or not ``results`` is empty.
    """
    by_series = results if isinstance(results, Mapping) else {None: results}
    fields = [field.name for field in dataclasses.fields(result_type)]
    rows = [{SERIES_KEY: key, **dataclasses.asdict(value)} for key, value in by_series.items()]
    table = pd.DataFrame(rows, columns=[SERIES_KEY, *fields])
    return with_series_info(table, frame) if frame is not None else table


def with_series_info(table: pd.DataFrame, frame: pd.DataFrame) -> pd.DataFrame:
    """``table`` (keyed by series_id) with the metric, host and labels columns of ``frame`` put in front."""
    meta = [name for name in ("metric", "host", "labels") if name in frame.columns]
    if SERIES_KEY not in table.columns or SERIES_KEY not in frame.columns or not meta:
        return table
    info = frame[[SERIES_KEY, *meta]].drop_duplicates(SERIES_KEY)
    merged = table.merge(info, on=SERIES_KEY, how="left")
    front = [name for name in ("ts", *meta, SERIES_KEY) if name in merged.columns]
    return merged[front + [name for name in merged.columns if name not in front]]


# --- input ---------------------------------------------------------------------------------------


def _prepare(frame: pd.DataFrame, column: str | None) -> pd.DataFrame:
    """ts (UTC), value (float), [series_id] and any metadata columns, sorted, rows without a value dropped."""
    if not isinstance(frame, pd.DataFrame):
        raise TypeError(f"expected a pandas DataFrame, got {type(frame).__name__}")
    if frame.empty:
        raise ValueError("frame is empty: there are no samples to analyse")
    if "ts" not in frame.columns:
        raise ValueError(
            f"frame has no 'ts' column (it has {_names(frame.columns)}); "
            "expected a tidy frame like Store.metrics returns: ts, value[, series_id]"
        )
    name = _value_column(frame, column)
    data = pd.DataFrame({"ts": _utc(frame["ts"]), "value": _numeric(frame[name], name)}, index=frame.index)
    for extra in (SERIES_KEY, *_META_COLUMNS):
        if extra in frame.columns:
            data[extra] = frame[extra]
    data = data.dropna(subset=["ts", "value"])
    if data.empty:
        raise ValueError(f"column {name!r} holds no numeric values with a time")
    order = [SERIES_KEY, "ts"] if SERIES_KEY in data.columns else ["ts"]
    return data.sort_values(order, kind="stable").reset_index(drop=True)


def _value_column(frame: pd.DataFrame, column: str | None) -> str:
    if column is not None:
        if column not in frame.columns:
            raise ValueError(f"column {column!r} is not in the frame; it has {_names(frame.columns)}")
        return column
    for name in VALUE_COLUMNS:
        if name in frame.columns:
            return name
    raise ValueError(
        f"frame has none of the value columns {', '.join(VALUE_COLUMNS)} (it has {_names(frame.columns)}); "
        "name one with column="
    )


def _utc(stamps: pd.Series) -> pd.Series:
    try:
        if pd.api.types.is_numeric_dtype(stamps) and not pd.api.types.is_bool_dtype(stamps):
            return pd.to_datetime(stamps, unit="ms", utc=True)
        return pd.to_datetime(stamps, utc=True)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"ts: not a time column ({exc})") from None


def _numeric(values: pd.Series, name: str) -> pd.Series:
    try:
        return pd.to_numeric(values).astype("float64")
    except (ValueError, TypeError) as exc:
        raise ValueError(f"column {name!r} must be numeric ({exc})") from None


def _check_aggs(aggs: str | Sequence[str], allowed: Sequence[str]) -> tuple[str, ...]:
    names = (aggs,) if isinstance(aggs, str) else tuple(aggs)
    if not names:
        raise ValueError("aggs: name at least one aggregate")
    for name in names:
        match = _PERCENTILE.match(name)
        if name not in allowed and not (match and 0 <= float(match.group(1)) <= 100):
            raise ValueError(
                f"aggregate {name!r} is not supported; choose from {', '.join(allowed)} "
                "or a percentile such as p50, p95, p99"
            )
    return names


# --- small helpers -------------------------------------------------------------------------------


def _keys(data: pd.DataFrame) -> list[str]:
    return [SERIES_KEY] if SERIES_KEY in data.columns else []


def _series_of(part: pd.DataFrame) -> Hashable:
    if SERIES_KEY not in part.columns:
        return None
    key = part[SERIES_KEY].iloc[0]
    return key.item() if isinstance(key, np.generic) else key


def _per_series_frame(data: pd.DataFrame, one: Callable[[pd.DataFrame], pd.DataFrame]) -> pd.DataFrame:
    """``one`` applied to each series, the results stacked with a series_id column after ts."""
    if SERIES_KEY not in data.columns:
        return one(data).reset_index(drop=True)
    parts = []
    for _, part in data.groupby(SERIES_KEY, sort=True):
        out = one(part).reset_index(drop=True)
        out.insert(1, SERIES_KEY, pd.Series([_series_of(part)] * len(out), dtype=data[SERIES_KEY].dtype))
        parts.append(out)
    # Concatenating empty frames is deprecated in pandas; keep one so the columns survive.
    kept = [part for part in parts if not part.empty] or parts[:1]
    return pd.concat(kept, ignore_index=True)


def _per_series_result(data: pd.DataFrame, one: Callable[[pd.DataFrame], R]) -> R | dict[Hashable, R]:
    if SERIES_KEY not in data.columns:
        return one(data)
    return {_series_of(part): one(part) for _, part in data.groupby(SERIES_KEY, sort=True)}


def _reference(part: pd.DataFrame, now: datetime | None) -> pd.Timestamp:
    """The end of the analysed window: ``now`` (taken as UTC when naive), else the newest sample."""
    if now is None:
        return part["ts"].iloc[-1]
    stamp = pd.Timestamp(now)
    return stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp.tz_convert("UTC")


def _between(part: pd.DataFrame, start: pd.Timestamp, end: pd.Timestamp) -> pd.DataFrame:
    """The rows with ``start < ts <= end``."""
    return part[(part["ts"] > start) & (part["ts"] <= end)]


def _mean(values: pd.Series) -> float | None:
    return float(values.mean()) if len(values) else None


def _slope(window: pd.DataFrame, per: pd.Timedelta) -> float | None:
    """Least-squares slope of value against time, in value units per ``per``; None under 2 distinct times."""
    if window["ts"].nunique() < 2:
        return None
    x = ((window["ts"] - window["ts"].iloc[0]) / per).to_numpy(dtype="float64")
    return _least_squares(x, window["value"].to_numpy(dtype="float64"))[0]


def _group_agg(grouped: Any, name: str) -> pd.Series:
    percentile = _PERCENTILE.match(name)
    if percentile:
        return grouped.quantile(float(percentile.group(1)) / 100)
    return getattr(grouped, name)()


def _rolling_agg(window: Any, name: str) -> pd.Series:
    percentile = _PERCENTILE.match(name)
    if percentile:
        return window.quantile(float(percentile.group(1)) / 100)
    return getattr(window, name)()


def _series_name(part: pd.DataFrame) -> str:
    """``metric{label=value} on host`` from the frame's metadata columns, or "" when it has none."""
    if "metric" not in part.columns:
        return ""
    first = part.iloc[0]
    labels = first["labels"] if "labels" in part.columns and isinstance(first["labels"], Mapping) else {}
    name = str(first["metric"]) + (
        "{" + ",".join(f"{k}={v}" for k, v in sorted(labels.items())) + "}" if labels else ""
    )
    return f"{name} on {first['host']}" if "host" in part.columns and first["host"] else name


def _series_unit(part: pd.DataFrame) -> str:
    if "unit" not in part.columns or pd.isna(part["unit"].iloc[0]):
        return ""
    return str(part["unit"].iloc[0])


def _prefixed(label: str, text: str) -> str:
    return f"{label}: {text}" if label else text


def _names(columns: pd.Index) -> str:
    return ", ".join(map(str, columns)) or "no columns"


def _fmt(value: float | None) -> str:
    """A number as people read it: 1.8, 90, 79.98, 0.001234, 12,345."""
    if value is None:
        return "n/a"
    if value == 0:
        return "0"
    return f"{value:,.0f}" if abs(value) >= 1000 else f"{value:.4g}"


def _signed(value: float | None) -> str:
    return "+" + _fmt(value) if value is not None and value > 0 else _fmt(value)


def _human(span: pd.Timedelta | timedelta) -> str:
    """A duration the way people say it: "1 hour", "90 minutes", "36 hours", "9 days", "2.5 years".

    The largest unit that gives at least 2 (or exactly 1), rounded to whole units (years to tenths).
    """
    seconds = pd.Timedelta(span).total_seconds()
    for unit, size in _HUMAN_UNITS:
        amount = seconds / size
        if amount >= 2 or amount == 1:
            shown = round(amount, 1) if unit == "year" else round(amount)
            return f"{shown:g} {unit}" + ("" if shown == 1 else "s")
    return f"{seconds:g} seconds"


def _when(moment: pd.Timestamp, eta: pd.Timedelta) -> str:
    return (
        moment.strftime("%Y-%m-%d") if eta >= pd.Timedelta(days=2) else moment.strftime("%Y-%m-%d %H:%M UTC")
    )


def _py_datetime(stamp: pd.Timestamp) -> datetime:
    return stamp.round("us").to_pydatetime()


def _py_timedelta(delta: pd.Timedelta) -> timedelta:
    return delta.round("us").to_pytimedelta()
