"""``Store.trend``, ``Store.anomalies`` and ``Store.forecast`` on stored data, on SQLite and MariaDB alike."""

from __future__ import annotations

from datetime import timedelta

import numpy as np
import pandas as pd
import pytest

from storage import Store
from storage.timeparse import utc_now

DISK = "system.disk.percent"


def now_floored(step: str) -> pd.Timestamp:
    """Now, rounded down to ``step``, so stored samples sit exactly on the store's bucket boundaries."""
    return pd.Timestamp(utc_now()).floor(step)


def write(store: Store, stamps: pd.DatetimeIndex, values: np.ndarray, metric: str, **columns: object) -> None:
    frame = pd.DataFrame({"ts": stamps, "metric": metric, "value": values, "host": "web1"})
    for name, value in columns.items():
        frame[name] = [value] * len(frame) if isinstance(value, dict) else value
    assert store.write(frame) == len(frame)


# --- forecast ------------------------------------------------------------------------------------


def write_growing_disk(store: Store) -> pd.Timestamp:
    """Disk use growing 1 %/day for 10 days at 10 minutes, from 70 %; returns when it reaches 90 %."""
    end = now_floored("10min")
    start = end - pd.Timedelta(days=10)
    stamps = pd.date_range(start, end, freq="10min")
    days = (stamps - start) / pd.Timedelta(days=1)
    write(store, stamps, 70.0 + days.to_numpy(), DISK, labels={"mount": "/"}, unit="%")
    return start + pd.Timedelta(days=20)


def test_forecast_disk_full_eta(store: Store) -> None:
    crosses = write_growing_disk(store)
    result = store.forecast(DISK, threshold=90, lookback="7d")
    assert len(result) == 1
    row = result.iloc[0]
    assert (row["metric"], row["host"], row["labels"]) == (DISK, "web1", {"mount": "/"})
    assert row["slope_per_day"] == pytest.approx(1.0, rel=1e-6)
    assert row["r2"] == pytest.approx(1.0, abs=1e-9)
    assert abs(row["crosses_at"] - crosses) < pd.Timedelta(minutes=1)
    # About 10 days left, counted from the moment of the call.
    expected_eta = crosses - pd.Timestamp(utc_now())
    assert abs(row["eta"] - expected_eta) < pd.Timedelta(minutes=1)
    assert row["explanation"].startswith(
        f"{DISK}{{mount=/}} on web1: +1 %/day over the last 7 days (R²=1.00)"
    )
    assert "reaches 90 % in 10 days" in row["explanation"]


def test_forecast_when_already_past_and_when_never(store: Store) -> None:
    write_growing_disk(store)
    past = store.forecast(DISK, threshold=75).iloc[0]
    assert past["eta"] == pd.Timedelta(0)
    assert "already at" in past["explanation"]
    never = store.forecast(DISK, threshold=50, direction="down").iloc[0]
    assert pd.isna(never["crosses_at"]) and pd.isna(never["eta"])
    assert "moving away from 50 %" in never["explanation"]


def test_forecast_of_nothing_recorded_is_an_empty_table(store: Store) -> None:
    write_growing_disk(store)
    result = store.forecast(DISK, threshold=90, host="nowhere")
    assert result.empty
    assert {"series_id", "crosses_at", "eta", "slope_per_day", "r2", "explanation"} <= set(result.columns)
    with pytest.raises(ValueError, match=r"unknown metric 'system\.disk\.percnt'; did you mean"):
        store.forecast("system.disk.percnt", threshold=90)


# --- trend ---------------------------------------------------------------------------------------


def test_trend_on_stored_data(store: Store) -> None:
    end = now_floored("1min")
    # The last 2 hours rise 2 an hour from 100; the same hours a week ago sat at 50.
    recent = pd.date_range(end - pd.Timedelta(hours=2), end, freq="1min")
    hours = (recent - recent[0]) / pd.Timedelta(hours=1)
    write(store, recent, 100 + 2 * hours.to_numpy(), "mysql.threads_connected")
    week_ago = pd.date_range(
        end - pd.Timedelta(days=7, hours=2), end - pd.Timedelta(days=7, minutes=1), freq="1min"
    )
    write(store, week_ago, np.full(len(week_ago), 50.0), "mysql.threads_connected")

    result = store.trend("mysql.threads_connected", window="1h")
    assert len(result) == 1
    row = result.iloc[0]
    assert row["host"] == "web1"
    assert row["slope_per_hour"] == pytest.approx(2.0, rel=1e-6)
    # The last hour averages about 103 (its middle), the hour before about 101.
    assert row["mean"] == pytest.approx(103, abs=0.1)
    assert row["previous_mean"] == pytest.approx(101, abs=0.1)
    assert row["change_vs_previous_pct"] == pytest.approx(2 / 101 * 100, abs=0.15)
    assert row["week_ago_mean"] == 50.0
    assert row["change_vs_week_ago_pct"] == pytest.approx(106, abs=0.3)


def test_trend_without_last_weeks_data_says_so(store: Store) -> None:
    end = now_floored("1min")
    stamps = pd.date_range(end - pd.Timedelta(minutes=30), end, freq="1min")
    write(store, stamps, np.full(len(stamps), 7.0), "redis.hit_rate")
    row = store.trend("redis.hit_rate", window=timedelta(minutes=15)).iloc[0]
    assert row["mean"] == 7.0 and row["slope_per_hour"] == 0.0
    assert row["change_vs_previous_pct"] == 0.0
    assert row["week_ago_mean"] is None and row["change_vs_week_ago_pct"] is None
    assert "a week earlier: no samples there (history missing)" in row["explanation"]
    with pytest.raises(ValueError, match="window: 'an hour' is not a duration"):
        store.trend("redis.hit_rate", window="an hour")


# --- anomalies -----------------------------------------------------------------------------------


def test_anomalies_on_stored_data(store: Store) -> None:
    # 3 days at 5 minutes: noise of 9, 10, 11, a peak of 50 every day 12:00-13:00 UTC, and one 50 at 03:00.
    end = now_floored("5min")
    stamps = pd.date_range(end - pd.Timedelta(days=3), end, freq="5min")
    values = np.array([9.0, 10.0, 11.0] * len(stamps))[: len(stamps)]
    values[stamps.hour == 12] = 50.0
    odd = int(np.flatnonzero((stamps.hour == 3) & (stamps > end - pd.Timedelta(days=2)))[0])
    values[odd] = 50.0
    write(store, stamps, values, "celery.queue.length", labels={"queue": "default"})

    flagged = store.anomalies("celery.queue.length", since="4d", every="5min")
    assert flagged.columns.tolist() == [
        "ts",
        "metric",
        "host",
        "labels",
        "series_id",
        "value",
        "baseline",
        "score",
    ]
    assert flagged["ts"].tolist() == [stamps[odd]]
    assert flagged["value"].tolist() == [50.0]
    assert flagged["labels"].tolist() == [{"queue": "default"}]
    assert flagged["score"].iloc[0] > 20
    assert store.anomalies("celery.queue.length", since="4d", host="nowhere").empty
