"""The shell's time range choices and how charts draw missing data."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from dashboard.timerange import resolve_range_choice
from storage.timeparse import utc_now


def test_a_preset_is_that_long_before_now():
    start, end = resolve_range_choice("6h")
    assert abs((end - start) - timedelta(hours=6)) < timedelta(seconds=1)


def test_a_custom_end_date_includes_that_whole_day():
    start, end = resolve_range_choice("custom", ["2026-11-01", "2026-11-01"])
    assert (start, end) == (datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 11, 2, tzinfo=UTC))


def test_a_custom_range_never_reaches_past_now():
    today = utc_now().date().isoformat()
    _, end = resolve_range_choice("custom", ["2026-01-01", today])
    assert end <= utc_now()


def test_an_incomplete_or_reversed_custom_range_falls_back_to_the_last_hour():
    for custom in (["2026-11-05", ""], ["2026-11-05", "2026-11-01"], None):
        start, end = resolve_range_choice("custom", custom)
        assert abs((end - start) - timedelta(hours=1)) < timedelta(seconds=1)
    start, end = resolve_range_choice("nonsense")
    assert abs((end - start) - timedelta(hours=1)) < timedelta(seconds=1)


def test_charts_break_the_line_where_data_is_missing():
    import pandas as pd

    from dashboard.figures import gap_threshold_ms, series_xy

    stamps = pd.date_range("2026-11-23T10:00:00Z", periods=20, freq="5s").append(
        pd.DatetimeIndex([pd.Timestamp("2026-11-23T10:10:00Z")])
    )  # twenty readings, then the collector stopped for about nine minutes
    frame = pd.DataFrame({"ts": stamps, "series_id": 1, "mean": [float(i) for i in range(21)]})
    gap = gap_threshold_ms(frame)
    x, y = series_xy(frame, "mean", gap)
    assert y[:20] == [float(i) for i in range(20)] and y[20] is None and x[20] is None and y[21] == 20.0
    appended_x, _ = series_xy(frame.iloc[20:], "mean", 15_000, after_ms=int(stamps[19].timestamp() * 1000))
    assert appended_x[0] is None  # an append after a gap starts a new line too


# -- drag-zoom -------------------------------------------------------------------------------------


def test_a_drag_zoom_is_read_as_a_utc_window_and_a_double_click_as_reset():
    from dashboard.timerange import zoom_from_relayout, zoomed_window

    event = zoom_from_relayout(
        {"xaxis.range[0]": "2026-01-05 10:00:00.5", "xaxis.range[1]": "2026-01-05 10:30:00"}
    )
    assert event == {"since": "2026-01-05T10:00:00.500000+00:00", "until": "2026-01-05T10:30:00+00:00"}
    assert zoom_from_relayout({"xaxis.autorange": True}) is False
    for not_a_zoom in (None, {}, {"autosize": True}, {"yaxis.range[0]": 1, "yaxis.range[1]": 2}):
        assert zoom_from_relayout(not_a_zoom) is None
    assert (
        zoom_from_relayout({"xaxis.range[0]": "2026-01-05 10:30", "xaxis.range[1]": "2026-01-05 10:00"})
        is None
    )
    assert zoomed_window([]) is None
    window = zoomed_window(
        [{"since": "2026-01-01T00:00:00+00:00", "until": "2026-01-02T00:00:00+00:00"}, event]
    )
    assert window is not None
    since, until = window
    assert (since.isoformat(), until.isoformat()) == (
        "2026-01-05T10:00:00.500000+00:00",
        "2026-01-05T10:30:00+00:00",
    )
