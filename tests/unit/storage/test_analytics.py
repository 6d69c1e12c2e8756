"""Pandas analytics on small hand-made frames whose answers are worked out by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pandas as pd
import pytest

import storage
from storage.analytics import (
    ANOMALY_COLUMNS,
    Forecast,
    Trend,
    anomalies,
    counter_rate,
    results_frame,
    rolling,
    summarize,
    time_to_threshold,
    trend,
    with_series_info,
)

T0 = pd.Timestamp("2024-01-01T00:00:00Z")  # a Monday, on a day boundary


def series(minutes: list[float], values: list[float], **columns: object) -> pd.DataFrame:
    """A tidy frame: samples ``minutes`` after T0 with ``values``; keyword columns are broadcast."""
    frame = pd.DataFrame({"ts": [T0 + pd.Timedelta(minutes=m) for m in minutes], "value": values})
    for name, value in columns.items():
        frame[name] = [value] * len(frame) if isinstance(value, dict) else value
    return frame


def regular(values: list[float] | np.ndarray, step: str = "10min", start: pd.Timestamp = T0) -> pd.DataFrame:
    """``values`` at a fixed step from ``start``."""
    return pd.DataFrame({"ts": pd.date_range(start, periods=len(values), freq=step), "value": values})


def cycle(count: int) -> np.ndarray:
    """Ordinary noise with a known median (10) and MAD (1): 9, 10, 11, 9, 10, 11, ..."""
    return np.array([9.0, 10.0, 11.0] * (count // 3 + 1))[:count]


# --- input checks --------------------------------------------------------------------------------


def test_empty_frame_is_refused() -> None:
    with pytest.raises(ValueError, match="frame is empty"):
        trend(pd.DataFrame(columns=["ts", "value"]))


def test_missing_ts_column_is_named() -> None:
    with pytest.raises(ValueError, match=r"no 'ts' column.*it has time, value"):
        rolling(pd.DataFrame({"time": [T0], "value": [1.0]}))


def test_missing_value_column_is_named() -> None:
    frame = series([0, 1], [1.0, 2.0])
    with pytest.raises(ValueError, match="column 'p95' is not in the frame; it has ts, value"):
        summarize(frame, "1h", column="p95")
    with pytest.raises(ValueError, match="none of the value columns value, mean, last"):
        summarize(frame.rename(columns={"value": "reading"}), "1h")


def test_value_column_defaults_to_value_then_mean_then_last() -> None:
    frame = series([0, 10], [1.0, 3.0]).rename(columns={"value": "last"}).assign(mean=[10.0, 30.0])
    assert summarize(frame, "1h", "max")["max"].tolist() == [30.0]  # mean wins over last
    assert summarize(frame, "1h", "max", column="last")["max"].tolist() == [3.0]


def test_non_numeric_values_are_refused() -> None:
    with pytest.raises(ValueError, match="column 'value' must be numeric"):
        anomalies(series([0], ["high"]))  # type: ignore[list-item]


def test_not_a_frame_is_refused() -> None:
    with pytest.raises(TypeError, match="expected a pandas DataFrame, got list"):
        trend([1, 2, 3])


@pytest.mark.parametrize("window", ["15 minutes", "0s", "soon"])
def test_bad_window_strings_get_the_duration_message(window: str) -> None:
    with pytest.raises(ValueError, match="window: "):
        rolling(series([0], [1.0]), window)


def test_unknown_aggregate_lists_the_choices() -> None:
    with pytest.raises(ValueError, match="aggregate 'avg' is not supported; choose from mean, min"):
        summarize(series([0], [1.0]), "1h", ("mean", "avg"))


def test_naive_and_epoch_millisecond_times_are_taken_as_utc() -> None:
    naive = pd.DataFrame({"ts": [datetime(2024, 1, 1, 0, 5)], "value": [1.0]})
    millis = pd.DataFrame({"ts": [int(T0.timestamp() * 1000) + 300_000], "value": [1.0]})
    assert summarize(naive, "1h", "mean")["ts"].tolist() == [T0]
    assert summarize(millis, "1h", "mean")["ts"].tolist() == [T0]


# --- windows -------------------------------------------------------------------------------------


def test_summarize_buckets_with_percentiles() -> None:
    # 00:00-01:00 holds 1..5, 01:00-02:00 holds 10 and 20.
    frame = series([0, 10, 20, 30, 40, 60, 90], [1, 2, 3, 4, 5, 10, 20])
    out = summarize(frame, "1h")
    assert out.columns.tolist() == ["ts", "mean", "min", "max", "p50", "p95", "p99"]
    assert out["ts"].tolist() == [T0, T0 + pd.Timedelta(hours=1)]
    first, second = out.to_dict("records")
    # Linear interpolation: p95 of 1..5 sits 0.95 * 4 = 3.8 ranks in, i.e. 4 + 0.8.
    assert (first["mean"], first["min"], first["max"], first["p50"]) == (3, 1, 5, 3)
    assert first["p95"] == pytest.approx(4.8)
    assert first["p99"] == pytest.approx(4.96)
    assert (second["mean"], second["p50"], second["p95"]) == (15, 15, pytest.approx(19.5))


def test_summarize_aligns_buckets_to_the_epoch_and_skips_empty_ones() -> None:
    frame = series([7, 8, 200], [1.0, 3.0, 5.0])
    out = summarize(frame, "1h", ("count", "sum"))
    assert out["ts"].tolist() == [T0, T0 + pd.Timedelta(hours=3)]
    assert out[["count", "sum"]].to_numpy().tolist() == [[2, 4.0], [1, 5.0]]


def test_summarize_per_series() -> None:
    frame = pd.concat([series([0, 30], [1.0, 3.0], series_id=7), series([0], [100.0], series_id=2)])
    out = summarize(frame, "1h", "mean")
    assert out.columns.tolist() == ["ts", "series_id", "mean"]
    assert out[["series_id", "mean"]].to_numpy().tolist() == [[2, 100.0], [7, 2.0]]


def test_rolling_mean_is_time_based() -> None:
    # A 10-minute window ending at each sample holds (t-10min, t]: the gap before 60 leaves it alone.
    frame = series([0, 5, 10, 15, 60], [1.0, 2.0, 3.0, 4.0, 10.0])
    out = rolling(frame, "10min")
    assert out.columns.tolist() == ["ts", "mean"]
    assert out["mean"].tolist() == [1.0, 1.5, 2.5, 3.5, 10.0]


def test_rolling_max_and_percentile_per_series() -> None:
    frame = pd.concat(
        [series([0, 1, 2], [5.0, 1.0, 3.0], series_id=1), series([0, 1], [2.0, 4.0], series_id=2)]
    )
    assert rolling(frame, "2min", "max")["max"].tolist() == [5.0, 5.0, 3.0, 2.0, 4.0]
    assert rolling(frame, "1h", "p50")["p50"].tolist() == [5.0, 3.0, 3.0, 2.0, 3.0]
    assert rolling(frame, "1h", "p50")["series_id"].tolist() == [1, 1, 1, 2, 2]


def test_counter_rate_survives_a_reset() -> None:
    # 0 -> 60 -> 120, restart, 30 -> 90, one reading a minute.
    frame = series([0, 1, 2, 3, 4], [0.0, 60.0, 120.0, 30.0, 90.0])
    out = counter_rate(frame)
    assert out["ts"].tolist() == frame["ts"].tolist()[1:]
    # After the reset the counter started from 0, so it grew by 30 in that minute: 0.5/s, not -1.5/s.
    assert out["rate"].tolist() == [1.0, 1.0, 0.5, 1.0]
    assert counter_rate(frame, per="1min")["rate"].tolist() == [60.0, 60.0, 30.0, 60.0]


def test_counter_rate_never_goes_negative_and_handles_uneven_steps() -> None:
    frame = series([0, 2, 3, 13], [100.0, 220.0, 5.0, 5.0])
    rates = counter_rate(frame, per="1min")["rate"].tolist()
    assert rates == [60.0, 5.0, 0.0]
    assert min(rates) >= 0


def test_counter_rate_per_series() -> None:
    frame = pd.concat([series([0, 1], [0.0, 60.0], series_id=1), series([0, 1], [10.0, 4.0], series_id=2)])
    out = counter_rate(frame)
    assert out[["series_id", "rate"]].to_numpy().tolist() == [[1, 1.0], [2, 4 / 60]]


# --- trends --------------------------------------------------------------------------------------


def test_trend_slope_is_exact_on_a_straight_line() -> None:
    # 100 + 6/hour, a sample every 10 minutes for 3 hours.
    frame = regular([100 + 1.0 * i for i in range(19)])
    result = trend(frame, "1h")
    assert isinstance(result, Trend)
    assert result.slope_per_hour == pytest.approx(6.0)
    assert result.end == T0 + pd.Timedelta(hours=3)
    assert result.start == T0 + pd.Timedelta(hours=2)
    assert result.points == 6  # (02:00, 03:00]: 02:10 ... 03:00
    assert result.mean == pytest.approx(115.5)  # mean of 113..118
    assert result.previous_mean == pytest.approx(109.5)  # mean of 107..112
    assert result.change_vs_previous_pct == pytest.approx(6 / 109.5 * 100)


def test_trend_compares_with_the_previous_window_and_a_week_earlier() -> None:
    end = T0 + pd.Timedelta(days=7, hours=12)
    week_ago = regular([50.0] * 6, start=end - pd.Timedelta(days=7, minutes=50))
    previous = regular([100.0] * 6, start=end - pd.Timedelta(minutes=110))
    current = regular([110.0] * 6, start=end - pd.Timedelta(minutes=50))
    result = trend(pd.concat([week_ago, previous, current]), "1h")
    assert isinstance(result, Trend)
    assert (result.mean, result.previous_mean, result.week_ago_mean) == (110.0, 100.0, 50.0)
    assert result.change_vs_previous_pct == pytest.approx(10.0)
    assert result.change_vs_week_ago_pct == pytest.approx(120.0)
    assert result.slope_per_hour == pytest.approx(0.0)
    assert "+10 % vs the previous 1 hour (mean 100)" in result.explanation
    assert "+120 % vs the same 1 hour a week earlier (mean 50)" in result.explanation


def test_trend_says_when_history_is_missing_instead_of_inventing_it() -> None:
    result = trend(regular([1.0, 2.0, 3.0]), "1h")
    assert isinstance(result, Trend)
    assert result.previous_mean is None and result.change_vs_previous_pct is None
    assert result.week_ago_mean is None and result.change_vs_week_ago_pct is None
    assert "no change vs the previous 1 hour: no samples there (history missing)" in result.explanation
    assert "a week earlier: no samples there (history missing)" in result.explanation


def test_trend_of_a_zero_previous_mean_has_no_percent_change() -> None:
    frame = pd.concat([regular([0.0] * 6), regular([5.0] * 6, start=T0 + pd.Timedelta(hours=1))])
    result = trend(frame, "1h")
    assert isinstance(result, Trend)
    assert result.previous_mean == 0.0 and result.change_vs_previous_pct is None
    assert "its mean is 0" in result.explanation


def test_trend_with_one_sample_in_the_window_has_no_slope() -> None:
    result = trend(series([0, 120], [1.0, 2.0]), "1h")
    assert isinstance(result, Trend)
    assert result.points == 1 and result.slope_per_hour is None and result.mean == 2.0
    assert "too few samples for a slope" in result.explanation


def test_trend_window_can_end_at_a_given_time() -> None:
    result = trend(regular([1.0] * 6), "1h", now=T0 + pd.Timedelta(hours=5))
    assert isinstance(result, Trend)
    assert result.mean is None and result.points == 0
    assert "no samples in the last 1 hour" in result.explanation


def test_trend_per_series_returns_a_dict() -> None:
    frame = pd.concat(
        [regular([0.0, 1.0, 2.0]).assign(series_id=3), regular([5.0, 3.0, 1.0]).assign(series_id=9)]
    )
    result = trend(frame, "1h")
    assert isinstance(result, dict) and set(result) == {3, 9}
    assert result[3].slope_per_hour == pytest.approx(6.0)
    assert result[9].slope_per_hour == pytest.approx(-12.0)


# --- anomalies -----------------------------------------------------------------------------------


def test_a_planted_anomaly_is_found_with_its_score() -> None:
    values = cycle(144)  # one day at 10 minutes: global baseline
    values[70] = 50.0  # was a 10
    flagged = anomalies(regular(values))
    assert flagged.columns.tolist() == ["ts", "value", "baseline", "score"]
    assert flagged["ts"].tolist() == [T0 + pd.Timedelta(minutes=700)]
    # median 10, MAD 1 (47 zeros and 96 ones among the deviations): 0.6745 * 40 / 1.
    assert flagged["baseline"].tolist() == [10.0]
    assert flagged["score"].tolist() == [pytest.approx(0.6745 * 40)]
    assert flagged.attrs["seasonality"] == "global"


def test_a_normal_day_flags_nothing() -> None:
    flagged = anomalies(regular(cycle(144)))
    assert flagged.empty
    assert flagged.columns.tolist() == ["ts", "value", "baseline", "score"]


def test_low_values_are_anomalies_too() -> None:
    values = cycle(144)
    values[4] = -20.0
    flagged = anomalies(regular(values))
    assert flagged["score"].tolist() == [pytest.approx(0.6745 * -30)]


def daily_peak_week() -> np.ndarray:
    """7 days at 10 minutes: ordinary noise, and 50 every day from 12:00 to 13:00 UTC."""
    values = cycle(7 * 144)
    for day in range(7):
        values[day * 144 + 72 : day * 144 + 78] = 50.0
    return values


def test_a_daily_peak_is_normal_at_its_hour() -> None:
    flagged = anomalies(regular(daily_peak_week()))
    assert flagged.attrs["seasonality"] == "hour-of-day"
    assert flagged.empty


def test_the_same_peak_at_an_unusual_hour_is_flagged() -> None:
    values = daily_peak_week()
    values[3 * 144 + 18] = 50.0  # day 4 at 03:00
    flagged = anomalies(regular(values))
    assert flagged["ts"].tolist() == [T0 + pd.Timedelta(days=3, hours=3)]
    assert flagged["baseline"].tolist() == [10.0]


def test_without_two_days_of_history_the_baseline_is_global_and_the_peak_stands_out() -> None:
    flagged = anomalies(regular(daily_peak_week()[:144]))
    assert flagged.attrs["seasonality"] == "global"
    assert flagged["ts"].tolist() == [T0 + pd.Timedelta(hours=12, minutes=10 * i) for i in range(6)]


def test_three_weeks_of_history_add_the_day_of_week() -> None:
    # Hourly for 22 days: 10, except 50 every Monday at 09:00. Monday 09:00 is its own season.
    values = np.full(22 * 24, 10.0)
    stamps = pd.date_range(T0, periods=len(values), freq="1h")
    values[(stamps.day_of_week == 0) & (stamps.hour == 9)] = 50.0
    frame = pd.DataFrame({"ts": stamps, "value": values})
    flagged = anomalies(frame)
    assert flagged.attrs["seasonality"] == "day-of-week and hour-of-day"
    assert flagged.empty
    # The same data with an hour-of-day baseline (2 weeks) flags those Mondays.
    assert len(anomalies(frame[frame["ts"] < T0 + pd.Timedelta(days=14)])) == 2


def test_zero_mad_falls_back_to_the_mean_absolute_deviation() -> None:
    # median 5 and MAD 0; the mean absolute deviation from the median is 4 / 10.
    flagged = anomalies(regular([5.0] * 9 + [9.0]))
    assert flagged["value"].tolist() == [9.0]
    assert flagged["score"].tolist() == [pytest.approx(4 / (1.2533 * 0.4))]


def test_constant_values_flag_nothing() -> None:
    assert anomalies(regular([7.0] * 50)).empty


def test_anomalies_per_series_and_threshold() -> None:
    spiky = cycle(30)
    spiky[10] = 14.0  # 0.6745 * 4 = 2.7: flagged at 2.5, not at 3.5
    frame = pd.concat([regular(spiky).assign(series_id=1), regular(cycle(30)).assign(series_id=2)])
    assert anomalies(frame).empty
    flagged = anomalies(frame, threshold=2.5)
    assert flagged.columns.tolist() == list(ANOMALY_COLUMNS)
    assert flagged[["series_id", "value"]].to_numpy().tolist() == [[1, 14.0]]
    assert flagged.attrs["seasonality"] == {1: "global", 2: "global"}
    with pytest.raises(ValueError, match="threshold: must be greater than zero"):
        anomalies(frame, threshold=0)


# --- forecast ------------------------------------------------------------------------------------


def daily(values: list[float]) -> pd.DataFrame:
    return regular(values, step="1D")


def test_forecast_eta_on_a_straight_line() -> None:
    # 50, 52, ..., 70 on days 0..10: 2 a day, 20 short of 90, so 10 more days.
    result = time_to_threshold(daily([50.0 + 2 * day for day in range(11)]), 90, label="disk /", unit="%")
    assert isinstance(result, Forecast)
    assert result.slope_per_day == pytest.approx(2.0)
    assert result.r2 == pytest.approx(1.0)
    assert result.eta == timedelta(days=10)
    assert result.crosses_at == datetime(2024, 1, 21, tzinfo=UTC)
    assert result.latest == 70.0 and result.points == 11
    assert result.explanation == (
        "disk /: +2 %/day over the last 10 days (R²=1.00): reaches 90 % in 10 days, around 2024-01-21"
    )


def test_forecast_least_squares_by_hand() -> None:
    # x = 0..3 days, y = 1, 3, 2, 4: slope Sxy/Sxx = 4/5 = 0.8, the line is at 3.7 on day 3;
    # residuals -0.3, 0.9, -0.9, 0.3 so R² = 1 - 1.8/5 = 0.64; (10 - 3.7) / 0.8 = 7.875 days to 10.
    result = time_to_threshold(daily([1.0, 3.0, 2.0, 4.0]), 10)
    assert isinstance(result, Forecast)
    assert result.slope_per_day == pytest.approx(0.8)
    assert result.r2 == pytest.approx(0.64)
    assert result.eta is not None
    assert result.eta.total_seconds() == pytest.approx(7.875 * 86400, abs=1e-3)
    assert result.crosses_at == pytest.approx(
        T0 + pd.Timedelta(days=3 + 7.875), abs=timedelta(milliseconds=1)
    )
    assert "+0.8/day over the last 3 days (R²=0.64): reaches 10 in 8 days" in result.explanation


def test_forecast_flat_and_falling_lines_never_cross() -> None:
    flat = time_to_threshold(daily([40.0, 40.0, 40.0]), 90, unit="%")
    falling = time_to_threshold(daily([60.0, 55.0, 50.0]), 90, unit="%")
    assert isinstance(flat, Forecast) and isinstance(falling, Forecast)
    assert flat.crosses_at is None and flat.eta is None
    assert flat.explanation == "0 %/day over the last 2 days (R²=1.00): flat, never crosses"
    assert falling.crosses_at is None and falling.slope_per_day == pytest.approx(-5.0)
    assert "-5 %/day" in falling.explanation and "moving away from 90 %, never crosses" in falling.explanation


def test_forecast_already_past_the_threshold_has_eta_zero() -> None:
    result = time_to_threshold(daily([80.0, 88.0, 93.0]), 90, unit="%")
    assert isinstance(result, Forecast)
    assert result.eta == timedelta(0)
    assert result.crosses_at == T0 + pd.Timedelta(days=2)
    assert result.explanation == "already at 93 %, past 90 %"


def test_forecast_downwards_for_a_falling_value() -> None:
    # Free space 30, 28, ..., 20 (2 a day down): 10 is 5 days away.
    result = time_to_threshold(daily([30.0, 28.0, 26.0, 24.0, 22.0, 20.0]), 10, direction="down")
    assert isinstance(result, Forecast)
    assert result.eta == timedelta(days=5)
    rising = time_to_threshold(daily([1.0, 2.0]), 0.5, direction="down")
    assert isinstance(rising, Forecast) and rising.crosses_at is None


def test_forecast_lookback_fits_only_the_recent_past() -> None:
    # Flat at 10 for 20 days, then +1/day for the last 5: only the last 5 days should count.
    values = [10.0] * 20 + [10.0 + day for day in range(1, 6)]
    result = time_to_threshold(daily(values), 20, lookback="5d")
    assert isinstance(result, Forecast)
    assert result.points == 5 and result.slope_per_day == pytest.approx(1.0)
    assert result.eta == timedelta(days=5)


def test_forecast_eta_counts_from_now() -> None:
    frame = daily([50.0 + 2 * day for day in range(11)])
    result = time_to_threshold(frame, 90, now=datetime(2024, 1, 13, tzinfo=UTC))
    assert isinstance(result, Forecast)
    # The line reaches 90 on Jan 21 whichever day it is asked; from Jan 13 that is 8 days.
    assert result.crosses_at == datetime(2024, 1, 21, tzinfo=UTC)
    assert result.eta == timedelta(days=8)


def test_forecast_needs_two_samples() -> None:
    result = time_to_threshold(daily([50.0]), 90)
    assert isinstance(result, Forecast)
    assert result.crosses_at is None and result.slope_per_day is None and result.r2 is None
    assert result.explanation == "needs at least 2 samples at different times to fit a line, has 1"


def test_forecast_soon_says_the_time_of_day() -> None:
    frame = regular([80.0 + i for i in range(7)], step="1h")  # +1 an hour, 86 at 06:00
    result = time_to_threshold(frame, 90)
    assert isinstance(result, Forecast)
    assert result.eta == timedelta(hours=4)
    assert result.explanation.endswith("reaches 90 in 4 hours, around 2024-01-01 10:00 UTC")


def test_forecast_bad_direction_and_lookback() -> None:
    with pytest.raises(ValueError, match="direction: must be 'up' or 'down'"):
        time_to_threshold(daily([1.0, 2.0]), 5, direction="sideways")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="lookback: 'a week' is not a duration"):
        time_to_threshold(daily([1.0, 2.0]), 5, lookback="a week")


def test_forecast_per_series_names_each_series_and_tabulates() -> None:
    disk = daily([50.0 + 2 * day for day in range(11)])
    frame = pd.concat(
        [
            disk.assign(series_id=4, metric="system.disk.percent", host="web1", unit="%").assign(
                labels=[{"mount": "/"}] * len(disk)
            ),
            disk.assign(series_id=5, metric="system.disk.percent", host="web2", unit="%", value=40.0).assign(
                labels=[{"mount": "/data"}] * len(disk)
            ),
        ]
    )
    result = time_to_threshold(frame, 90)
    assert isinstance(result, dict) and set(result) == {4, 5}
    assert result[4].explanation.startswith("system.disk.percent{mount=/} on web1: +2 %/day")
    assert result[5].eta is None
    table = results_frame(result, Forecast, frame)
    assert table.columns.tolist()[:4] == ["metric", "host", "labels", "series_id"]
    assert table["host"].tolist() == ["web1", "web2"]
    assert table["eta"].tolist()[0] == pd.Timedelta(days=10)
    assert pd.isna(table["eta"].tolist()[1])


# --- tables --------------------------------------------------------------------------------------


def test_results_frame_keeps_its_columns_when_empty() -> None:
    frame = pd.DataFrame(columns=["ts", "metric", "host", "labels", "series_id", "mean"])
    table = results_frame({}, Trend, frame)
    assert table.empty
    assert table.columns.tolist() == [
        "metric",
        "host",
        "labels",
        "series_id",
        *[name for name in Trend.__dataclass_fields__],
    ]


def test_with_series_info_puts_the_series_first() -> None:
    flagged = pd.DataFrame({"ts": [T0], "series_id": [1], "value": [5.0], "baseline": [1.0], "score": [9.0]})
    meta = pd.DataFrame(
        {"ts": [T0, T0], "metric": ["m", "m"], "host": ["h", "h"], "labels": [{}, {}], "series_id": [1, 1]}
    )
    out = with_series_info(flagged, meta)
    assert out.columns.tolist() == [
        "ts",
        "metric",
        "host",
        "labels",
        "series_id",
        "value",
        "baseline",
        "score",
    ]
    assert len(out) == 1


def test_the_package_exports_the_analytics() -> None:
    for name in (
        "Forecast",
        "Trend",
        "anomalies",
        "counter_rate",
        "rolling",
        "summarize",
        "time_to_threshold",
        "trend",
    ):
        assert name in storage.__all__
        assert getattr(storage, name) is getattr(storage.analytics, name)
    assert storage.__all__ == sorted(storage.__all__)
