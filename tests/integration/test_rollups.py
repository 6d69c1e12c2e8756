"""Rollup tiers, tier selection and retention against a real store (SQLite and MariaDB)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

import storage
from storage.reads import Segment, plan_segments
from storage.retention import enforce_retention, tier_summary
from storage.rollups import refresh_rollups

MINUTE, HOUR = 60_000, 3_600_000
# A fixed, hour-aligned "now" keeps every expected bucket exact.
NOW = pd.Timestamp("2026-11-20T12:00:00Z")
NOW_MS = int(NOW.timestamp() * 1000)
ROLLUP_AT = NOW_MS + MINUTE  # late enough that the last minute counts as complete


def _seed(store: storage.Store, hours: int = 3, every: str = "10s") -> pd.DataFrame:
    stamps = pd.date_range(NOW - pd.Timedelta(hours=hours), NOW - pd.Timedelta("1ms"), freq=every)
    rng = np.random.default_rng(7)
    frame = pd.concat(
        [
            pd.DataFrame(
                {
                    "ts": stamps,
                    "metric": "test.gauge",
                    "host": "h1",
                    "labels": [{"disk": disk}] * len(stamps),
                    "value": rng.normal(50, 10, len(stamps)).round(3),
                }
            )
            for disk in ("a", "b")
        ],
        ignore_index=True,
    )
    store.write(frame)
    return frame


def _expected(frame: pd.DataFrame, step: str, disk: str) -> pd.DataFrame:
    rows = frame[frame["labels"].map(lambda labels: labels["disk"]) == disk].set_index("ts")["value"]
    grouped = rows.resample(step)
    return pd.DataFrame(
        {
            "mean": grouped.mean(),
            "min": grouped.min(),
            "max": grouped.max(),
            "sum": grouped.sum(),
            "count": grouped.count(),
            "last": grouped.last(),
        }
    ).dropna()


def _rows(store: storage.Store, table: str) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(text(f"SELECT COUNT(*) FROM {table}")).scalar_one())


def test_rollups_hold_exact_partials_for_complete_buckets(store):
    frame = _seed(store)
    report = refresh_rollups(store.engine, now_ms=ROLLUP_AT)
    assert report.buckets_written == {"1m": 2 * 180, "1h": 2 * 3}
    assert report.watermarks["1h"] == NOW_MS  # every complete hour is rolled up

    for tier, step in (("1m", "1min"), ("1h", "1h")):
        with store.engine.connect() as conn:
            stored = pd.DataFrame(
                conn.execute(
                    text(
                        f"SELECT r.bucket, r.count, r.sum, r.min, r.max, r.last FROM rollup_{tier} r "
                        "JOIN series s ON s.id = r.series_id WHERE s.labels_hash = (SELECT labels_hash FROM series "
                        "WHERE id = r.series_id) ORDER BY r.series_id, r.bucket"
                    )
                ).all()
            )
        first_series = stored.iloc[: len(stored) // 2]
        expected = _expected(frame, step, "a")
        assert first_series["count"].tolist() == expected["count"].tolist()
        np.testing.assert_allclose(first_series["sum"], expected["sum"])
        np.testing.assert_allclose(first_series["min"], expected["min"])
        np.testing.assert_allclose(first_series["max"], expected["max"])
        np.testing.assert_allclose(first_series["last"], expected["last"])


def test_refresh_is_idempotent(store):
    _seed(store)
    refresh_rollups(store.engine, now_ms=ROLLUP_AT)
    before = (_rows(store, "rollup_1m"), _rows(store, "rollup_1h"))
    again = refresh_rollups(store.engine, now_ms=ROLLUP_AT)
    assert again.buckets_written == {"1m": 0, "1h": 0}
    assert (_rows(store, "rollup_1m"), _rows(store, "rollup_1h")) == before


def test_reads_pick_the_coarsest_tier_and_match_raw(store):
    frame = _seed(store)
    refresh_rollups(store.engine, now_ms=ROLLUP_AT)
    since, until = NOW - pd.Timedelta("3h"), NOW
    for every, tier in (("5min", "1m"), ("1h", "1h"), ("10s", "raw")):
        got = store.metrics(
            "test.gauge",
            since=since,
            until=until,
            every=every,
            agg=("mean", "min", "max", "sum", "count", "last"),
            labels={"disk": "a"},
        )
        assert got.attrs["tiers"] == [tier]
        expected = _expected(frame, every, "a")
        assert got["ts"].tolist() == expected.index.tolist()
        for column in ("mean", "min", "max", "sum", "last"):
            np.testing.assert_allclose(got[column], expected[column], err_msg=f"{column} at {every}")
        assert got["count"].tolist() == expected["count"].tolist()


def test_a_range_past_the_watermark_merges_tier_and_raw_exactly(store):
    frame = _seed(store)
    # Roll up only to 11:30; buckets after come from raw, and the 10-minute bucket at 11:30 is
    # split across the two sources.
    refresh_rollups(store.engine, now_ms=NOW_MS - 30 * MINUTE + 30_000)
    got = store.metrics(
        "test.gauge",
        since=NOW - pd.Timedelta("3h"),
        until=NOW,
        every="10min",
        agg=("mean", "count", "last"),
        labels={"disk": "b"},
    )
    assert got.attrs["tiers"] == ["1m", "raw"]
    expected = _expected(frame, "10min", "b")
    np.testing.assert_allclose(got["mean"], expected["mean"])
    np.testing.assert_allclose(got["last"], expected["last"])
    assert got["count"].tolist() == expected["count"].tolist()


def test_plan_segments():
    marks = {"1m": 10 * HOUR + 30 * MINUTE, "1h": 10 * HOUR}
    assert plan_segments(0, 12 * HOUR, HOUR, marks) == [
        Segment("1h", 0, 10 * HOUR),
        Segment("1m", 10 * HOUR, 10 * HOUR + 30 * MINUTE),
        Segment("raw", 10 * HOUR + 30 * MINUTE, 12 * HOUR),
    ]
    assert plan_segments(0, 12 * HOUR, 5 * MINUTE, marks) == [
        Segment("1m", 0, 10 * HOUR + 30 * MINUTE),
        Segment("raw", 10 * HOUR + 30 * MINUTE, 12 * HOUR),
    ]
    assert plan_segments(0, 12 * HOUR, 5_000, marks) == [Segment("raw", 0, 12 * HOUR)]
    assert plan_segments(0, 12 * HOUR, 90_000, marks) == [Segment("raw", 0, 12 * HOUR)]  # not a whole minute
    assert plan_segments(0, 12 * HOUR, HOUR, {}) == [Segment("raw", 0, 12 * HOUR)]


def test_late_samples_are_corrected_not_ignored(store):
    _seed(store)
    refresh_rollups(store.engine, now_ms=ROLLUP_AT)
    late_ts = NOW - pd.Timedelta("2h") + pd.Timedelta("5s")  # inside an already rolled-up minute
    store.write(
        pd.DataFrame(
            {
                "ts": [late_ts],
                "metric": "test.gauge",
                "host": "h1",
                "labels": [{"disk": "a"}],
                "value": [10_000.0],
            }
        )
    )
    report = refresh_rollups(store.engine, now_ms=ROLLUP_AT)
    assert report.dirty_series == 1
    got = store.metrics(
        "test.gauge",
        since=NOW - pd.Timedelta("3h"),
        until=NOW,
        every="1h",
        agg=("max", "count"),
        labels={"disk": "a"},
    )
    assert got.attrs["tiers"] == ["1h"]
    assert got["max"].tolist()[1] == 10_000.0
    assert got["count"].tolist() == [360, 361, 360]
    assert refresh_rollups(store.engine, now_ms=ROLLUP_AT).dirty_series == 0


@pytest.mark.parametrize("batch_rows", [7, 5_000])
def test_retention_deletes_in_bounded_batches_and_keeps_unrolled_samples(store, batch_rows):
    _seed(store, hours=3)
    settings = storage.load_settings(retention_raw_days=1, retention_1m_days=1, retention_1h_days=1)
    # Nothing rolled up yet: raw samples must survive even though they are past retention.
    later = NOW_MS + 2 * 86_400_000
    assert enforce_retention(store.engine, settings, now_ms=later, batch_rows=batch_rows)["raw"] == 0
    assert _rows(store, "samples") == 2 * 1080

    refresh_rollups(store.engine, now_ms=ROLLUP_AT)
    # A day later, less 90 minutes: the first 90 minutes of data are past a 1-day retention.
    deleted = enforce_retention(
        store.engine, settings, now_ms=NOW_MS + 86_400_000 - 90 * MINUTE, batch_rows=batch_rows
    )
    assert deleted["raw"] == 2 * 540  # the first 90 minutes of both series
    assert deleted["1m"] == 2 * 90
    assert deleted["1h"] == 2 * 1  # 10:00-11:00 still holds data inside the window: kept
    assert _rows(store, "samples") == 2 * 540


def test_tier_summary_reports_each_tier(store):
    _seed(store, hours=2)
    refresh_rollups(store.engine, now_ms=ROLLUP_AT)
    summary = tier_summary(store.engine, storage.load_settings()).set_index("tier")
    assert list(summary.index) == ["raw", "1m", "1h"]
    if store.dialect == "sqlite":
        assert summary.loc["raw", "rows"] == 2 * 720
        assert summary.loc["1m", "rows"] == 2 * 120
    assert summary.loc["raw", "oldest"] == (NOW - pd.Timedelta("2h")).to_pydatetime()
    assert summary.loc["1h", "complete_until"] == NOW.to_pydatetime()
    assert summary.loc["raw", "keep_days"] == 14
