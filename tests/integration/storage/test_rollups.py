"""Rollup tiers, tier selection and retention against a real store (SQLite and MariaDB)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import text

import storage
from storage import reads, rollups
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
    assert report.buckets_written == {"1m": 2 * 180, "5m": 2 * 36, "1h": 2 * 3}
    assert report.watermarks["1h"] == NOW_MS  # every complete hour is rolled up

    for tier, step in (("1m", "1min"), ("5m", "5min"), ("1h", "1h")):
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
    tables = ("rollup_1m", "rollup_5m", "rollup_1h")
    before = [_rows(store, table) for table in tables]
    again = refresh_rollups(store.engine, now_ms=ROLLUP_AT)
    assert again.buckets_written == {"1m": 0, "5m": 0, "1h": 0}
    assert [_rows(store, table) for table in tables] == before


def test_reads_pick_the_coarsest_tier_and_match_raw(store):
    frame = _seed(store)
    refresh_rollups(store.engine, now_ms=ROLLUP_AT)
    since, until = NOW - pd.Timedelta("3h"), NOW
    for every, tier in (("2min", "1m"), ("5min", "5m"), ("15min", "5m"), ("1h", "1h"), ("10s", "raw")):
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
    # Roll up only to 11:35; buckets after come from raw, and the 10-minute bucket at 11:30 is
    # split across the two sources.
    refresh_rollups(store.engine, now_ms=NOW_MS - 25 * MINUTE + 30_000)
    got = store.metrics(
        "test.gauge",
        since=NOW - pd.Timedelta("3h"),
        until=NOW,
        every="10min",
        agg=("mean", "count", "last"),
        labels={"disk": "b"},
    )
    assert got.attrs["tiers"] == ["5m", "raw"]
    expected = _expected(frame, "10min", "b")
    np.testing.assert_allclose(got["mean"], expected["mean"])
    np.testing.assert_allclose(got["last"], expected["last"])
    assert got["count"].tolist() == expected["count"].tolist()


def test_plan_segments():
    marks = {"1m": 10 * HOUR + 32 * MINUTE, "5m": 10 * HOUR + 30 * MINUTE, "1h": 10 * HOUR}
    assert plan_segments(0, 12 * HOUR, HOUR, marks) == [
        Segment("1h", 0, 10 * HOUR),
        Segment("5m", 10 * HOUR, 10 * HOUR + 30 * MINUTE),
        Segment("1m", 10 * HOUR + 30 * MINUTE, 10 * HOUR + 32 * MINUTE),
        Segment("raw", 10 * HOUR + 32 * MINUTE, 12 * HOUR),
    ]
    assert plan_segments(0, 12 * HOUR, 5 * MINUTE, marks) == [
        Segment("5m", 0, 10 * HOUR + 30 * MINUTE),
        Segment("1m", 10 * HOUR + 30 * MINUTE, 10 * HOUR + 32 * MINUTE),
        Segment("raw", 10 * HOUR + 32 * MINUTE, 12 * HOUR),
    ]
    assert plan_segments(0, 12 * HOUR, 2 * MINUTE, marks) == [
        Segment("1m", 0, 10 * HOUR + 32 * MINUTE),
        Segment("raw", 10 * HOUR + 32 * MINUTE, 12 * HOUR),
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
    assert deleted["5m"] == 2 * 18
    assert deleted["1h"] == 2 * 1  # 10:00-11:00 still holds data inside the window: kept
    assert _rows(store, "samples") == 2 * 540


def test_tier_summary_reports_each_tier(store):
    _seed(store, hours=2)
    refresh_rollups(store.engine, now_ms=ROLLUP_AT)
    summary = tier_summary(store.engine, storage.load_settings()).set_index("tier")
    assert list(summary.index) == ["raw", "1m", "5m", "1h"]
    if store.dialect == "sqlite":
        assert summary.loc["raw", "rows"] == 2 * 720
        assert summary.loc["1m", "rows"] == 2 * 120
    assert summary.loc["raw", "oldest"] == (NOW - pd.Timedelta("2h")).to_pydatetime()
    assert summary.loc["1h", "complete_until"] == NOW.to_pydatetime()
    assert summary.loc["raw", "keep_days"] == 14


def test_small_batches_build_the_same_tiers(store, monkeypatch):
    """Statements sized to a handful of buckets (many slices and watermark moves) give the same rows."""
    _seed(store, hours=2)
    refresh_rollups(store.engine, now_ms=ROLLUP_AT)
    whole = {tier: _table(store, tier) for tier in ("rollup_1m", "rollup_5m", "rollup_1h")}
    with store.engine.begin() as conn:
        for table in ("rollup_1m", "rollup_5m", "rollup_1h", "rollup_state"):
            conn.execute(text(f"DELETE FROM {table}"))
    monkeypatch.setattr(rollups, "_BUCKETS_PER_STATEMENT", 7)
    report = refresh_rollups(store.engine, now_ms=ROLLUP_AT)
    assert report.buckets_written == {"1m": 2 * 120, "5m": 2 * 24, "1h": 2 * 2}
    for table, rows in whole.items():
        pd.testing.assert_frame_equal(_table(store, table), rows, check_exact=False)


def _table(store: storage.Store, table: str) -> pd.DataFrame:
    with store.engine.connect() as conn:
        return pd.DataFrame(
            conn.execute(text(f"SELECT * FROM {table} ORDER BY series_id, bucket")).mappings().all()
        )


def test_a_tier_added_later_is_built_from_the_finer_tiers_history(store):
    """An upgraded store (minute and hour tiers already built) fills the 5-minute tier from the start."""
    frame = _seed(store)
    refresh_rollups(store.engine, now_ms=ROLLUP_AT)
    with store.engine.begin() as conn:
        conn.execute(text("DELETE FROM rollup_5m"))
        conn.execute(text("DELETE FROM rollup_state WHERE tier = '5m'"))
    report = refresh_rollups(store.engine, now_ms=ROLLUP_AT)
    assert report.buckets_written == {"1m": 0, "5m": 2 * 36, "1h": 0}
    got = store.metrics(
        "test.gauge",
        since=NOW - pd.Timedelta("3h"),
        until=NOW,
        every="15min",
        agg=("mean", "last"),
        labels={"disk": "a"},
    )
    assert got.attrs["tiers"] == ["5m"]
    expected = _expected(frame, "15min", "a")
    np.testing.assert_allclose(got["mean"], expected["mean"])
    np.testing.assert_allclose(got["last"], expected["last"])


def test_late_samples_reach_every_tier_through_the_5_minute_one(store):
    _seed(store)
    refresh_rollups(store.engine, now_ms=ROLLUP_AT)
    late = NOW - pd.Timedelta("150min") + pd.Timedelta("5s")
    store.write(
        pd.DataFrame(
            {"ts": [late], "metric": "test.gauge", "host": "h1", "labels": [{"disk": "b"}], "value": [-500.0]}
        )
    )
    refresh_rollups(store.engine, now_ms=ROLLUP_AT)
    for every in ("5min", "1h"):
        got = store.metrics(
            "test.gauge",
            since=NOW - pd.Timedelta("3h"),
            until=NOW,
            every=every,
            agg=("min", "count"),
            labels={"disk": "b"},
        )
        assert got["min"].min() == -500.0, every
        assert got["count"].sum() == 1081, every


def test_the_default_step_keeps_the_whole_answer_under_the_point_budget(store):
    _seed(store)
    refresh_rollups(store.engine, now_ms=ROLLUP_AT)
    since, until = NOW - pd.Timedelta("3h"), NOW
    # Two series, 40 points in all: 20 each, so 10 minutes (18 buckets), read from the 5m tier.
    got = store.metrics("test.gauge", since=since, until=until, max_total_points=40)
    assert len(got) <= 40 and got.groupby("series_id").size().tolist() == [18, 18]
    assert set(got.groupby("series_id")["ts"].diff().dropna()) == {pd.Timedelta("10min")}
    assert got.attrs["tiers"] == ["5m"]
    # The per-series cap still applies when the budget is large.
    capped = store.metrics("test.gauge", since=since, until=until, max_points=4, max_total_points=10**6)
    assert capped.groupby("series_id").size().tolist() == [3, 3]  # hourly
    assert capped.attrs["tiers"] == ["1h"]
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="max_total_points"):
            store.metrics("test.gauge", since=since, until=until, max_total_points=bad)


def test_sample_aggregates_read_raw_rows_in_pages(store, monkeypatch):
    frame = _seed(store, hours=1)
    monkeypatch.setattr(reads, "_RAW_PAGE_ROWS", 50)  # 360 rows a series: eight pages each
    got = store.metrics(
        "test.gauge",
        since=NOW - pd.Timedelta("1h"),
        until=NOW,
        every="10min",
        agg=("p95", "first", "count"),
        labels={"disk": "a"},
    )
    rows = frame[frame["labels"].map(lambda labels: labels["disk"]) == "a"].set_index("ts")["value"]
    np.testing.assert_allclose(got["p95"], rows.resample("10min").quantile(0.95))
    np.testing.assert_allclose(got["first"], rows.resample("10min").first())
    assert got["count"].tolist() == [60] * 6


def test_store_refresh_rollups_makes_a_notebook_backfill_fast(store):
    """A notebook writes history and rolls it up itself: no app, no maintenance job."""
    frame = _seed(store)
    before = store.metrics("test.gauge", since=NOW - pd.Timedelta("3h"), until=NOW, every="1h")
    assert before.attrs["tiers"] == ["raw"]
    report = store.refresh_rollups(until=NOW)
    assert report.watermarks == {"1m": NOW_MS - MINUTE, "5m": NOW_MS - 5 * MINUTE, "1h": NOW_MS - HOUR}
    report = store.refresh_rollups(until=pd.Timestamp(ROLLUP_AT, unit="ms", tz="UTC"))
    assert report.buckets_written == {"1m": 2, "5m": 2, "1h": 2}
    after = store.metrics(
        "test.gauge", since=NOW - pd.Timedelta("3h"), until=NOW, every="1h", labels={"disk": "a"}
    )
    assert after.attrs["tiers"] == ["1h"]
    np.testing.assert_allclose(after["mean"], _expected(frame, "1h", "a")["mean"])
    with pytest.raises(TypeError):
        store.refresh_rollups(NOW)  # options are keyword-only
    with pytest.raises(ValueError, match="until"):
        store.refresh_rollups(until="yesterday-ish")
