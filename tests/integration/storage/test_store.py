"""``Store`` write and read paths, on SQLite and MariaDB alike."""

from __future__ import annotations

import math
import socket
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import func, select

from storage import Store
from storage.schema import samples, series

BASE = datetime(2024, 1, 1, tzinfo=UTC)  # on an hour boundary, so buckets of up to 1h start here
BASE_MS = 1_704_067_200_000
SINCE = "2023-12-31T00:00:00Z"
UNTIL = "2024-01-02T00:00:00Z"
RESULT_COLUMNS = ["ts", "metric", "host", "labels", "series_id"]


def frame(rows: list[tuple[int, float]], metric: str = "test.value", **columns: object) -> pd.DataFrame:
    """A tidy frame from (ms after BASE, value) pairs; extra keyword columns are broadcast."""
    data = pd.DataFrame(
        {
            "ts": [BASE_MS + offset for offset, _ in rows],
            "metric": metric,
            "value": [value for _, value in rows],
        }
    )
    for name, value in columns.items():
        data[name] = [value] * len(data) if isinstance(value, dict) else value
    return data


def stored_rows(store: Store) -> list[tuple[int, int, float]]:
    with store.engine.connect() as conn:
        return [
            tuple(row) for row in conn.execute(select(samples).order_by(samples.c.series_id, samples.c.ts))
        ]


def sample_count(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(samples)).scalar_one())


def series_count(store: Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(series)).scalar_one())


# --- write -------------------------------------------------------------------------------------


def test_write_round_trips_values_exactly(store: Store) -> None:
    values = [0.1, -3.5, 1e300, -1e-300, 123456.789012345, 0.0, 2**53 + 0.0, math.pi]
    written = store.write(frame([(i * 1000, v) for i, v in enumerate(values)], host="web1"))
    assert written == len(values)
    rows = stored_rows(store)
    assert [row[1] for row in rows] == [BASE_MS + i * 1000 for i in range(len(values))]
    assert [row[2] for row in rows] == values
    back = store.metrics("test.value", since=SINCE, until=UNTIL, every="1s", agg=("last", "max"))
    assert back["last"].tolist() == values
    assert back["max"].tolist() == values
    assert back["ts"].tolist() == [pd.Timestamp(BASE) + pd.Timedelta(seconds=i) for i in range(len(values))]


def test_write_twice_stores_no_duplicates_and_keeps_the_first_value(store: Store) -> None:
    batch = frame([(i * 1000, float(i)) for i in range(50)], host="web1", labels={"core": "0"})
    store.write(batch)
    store.write(batch)
    assert sample_count(store) == 50
    assert series_count(store) == 1

    # A rewrite of stored timestamps leaves them as they are; only the new one lands.
    store.write(frame([(0, 1.0), (1000, 2.0)], host="web2"))
    store.write(frame([(1000, 99.0), (2000, 3.0)], host="web2"))
    web2 = store.list_series(host="web2")["id"].iloc[0]
    rows = [(ts - BASE_MS, value) for series_id, ts, value in stored_rows(store) if series_id == web2]
    assert rows == [(0, 1.0), (1000, 2.0), (2000, 3.0)]


def test_a_fresh_store_object_reuses_existing_series(store: Store) -> None:
    store.write(frame([(0, 1.0)], host="web1", labels={"db": "0"}))
    again = Store(store.engine)  # empty series cache: must find the row, not insert a second one
    again.write(frame([(1000, 2.0)], host="web1", labels='{"db": 0}'))
    assert series_count(store) == 1
    assert sample_count(store) == 2


def test_labels_as_dict_or_json_string_map_to_the_same_series(store: Store) -> None:
    store.write(frame([(0, 1.0)], host="h", labels={"mount": "/", "fs": "ext4"}))
    store.write(frame([(1000, 2.0)], host="h", labels='{"fs": "ext4", "mount": "/"}'))
    store.write(frame([(2000, 3.0)], host="h", labels='{"fs":"ext4","mount":"/"}'))
    found = store.list_series(metric="test.value")
    assert len(found) == 1
    assert found.loc[0, "labels"] == {"fs": "ext4", "mount": "/"}
    assert sample_count(store) == 3


def test_mixed_label_column_splits_into_the_right_series(store: Store) -> None:
    labels = [{"q": "a"}, '{"q": "b"}', None, {"q": "a"}, '{"q":"b"}', {}, '{"q": "c"}', ""]
    data = frame([(i, float(i)) for i in range(len(labels))], host="h")
    data["labels"] = labels
    store.write(data)
    found = store.list_series(metric="test.value")
    assert sorted(map(str, found["labels"])) == sorted(map(str, [{}, {"q": "a"}, {"q": "b"}, {"q": "c"}]))
    by_labels = {
        str(row.labels): row.count
        for row in store.metrics("test.value", since=SINCE, until=UNTIL, every="1d", agg="count").itertuples()
    }
    assert by_labels == {"{}": 3, "{'q': 'a'}": 2, "{'q': 'b'}": 2, "{'q': 'c'}": 1}


def test_concatenated_frame_with_a_repeated_index(store: Store) -> None:
    first = frame([(0, 1.0), (1000, 2.0)], host="h")
    first["labels"] = [{"q": "a"}, {"q": "b"}]
    second = frame([(2000, 3.0), (3000, math.nan), (4000, 4.0)], host="h")
    second["labels"] = [{"q": "c"}, {"q": "a"}, {"q": "a"}]
    assert store.write(pd.concat([first, second])) == 4  # index 0, 1, 0, 1, 2
    result = store.metrics("test.value", since=SINCE, until=UNTIL, every="1d", agg=("count", "sum"))
    assert {row.labels["q"]: (row.count, row.sum) for row in result.itertuples()} == {
        "a": (2, 5.0),
        "b": (1, 2.0),
        "c": (1, 3.0),
    }


def test_many_distinct_json_label_strings(store: Store) -> None:
    data = frame([(i, float(i)) for i in range(3000)], host="h")
    data["labels"] = [f'{{"shard": "{i % 300}"}}' for i in range(3000)]
    store.write(data)
    found = store.list_series(metric="test.value")
    assert len(found) == 300
    assert sorted(int(labels["shard"]) for labels in found["labels"]) == list(range(300))
    counts = store.metrics("test.value", since=SINCE, until=UNTIL, every="1d", agg=("count", "min"))
    assert (counts["count"] == 10).all()
    # Each shard's smallest value is its own index: rows went to the series their labels name.
    assert all(int(row.labels["shard"]) == row.min for row in counts.itertuples())


def test_host_defaults_to_this_machine_and_unit_is_kept(store: Store) -> None:
    store.write(frame([(0, 1.0)]))
    assert store.list_series()["host"].tolist() == [socket.gethostname()]

    store.write(frame([(0, 1.0)], metric="redis.memory.used_bytes", host="h", unit="bytes"))
    assert store.list_series()[["metric", "host", "unit"]].values.tolist() == [
        ["redis.memory.used_bytes", "h", "bytes"],
        ["test.value", socket.gethostname(), ""],
    ]


def test_nan_and_infinite_values_are_skipped(store: Store) -> None:
    data = frame([(0, 1.0), (1000, math.nan), (2000, 3.0), (3000, math.inf), (4000, -math.inf)], host="h")
    data["value"] = data["value"].astype(object)
    data.loc[5] = [BASE_MS + 5000, "test.value", None, "h"]
    assert store.write(data) == 2
    assert [(ts - BASE_MS, value) for _, ts, value in stored_rows(store)] == [(0, 1.0), (2000, 3.0)]


def test_a_frame_of_only_nan_writes_nothing(store: Store) -> None:
    assert store.write(frame([(0, math.nan), (1000, math.nan)], host="h")) == 0
    assert store.write(frame([])) == 0
    assert sample_count(store) == 0
    assert series_count(store) == 0


EXPECTED_MS = BASE_MS + 3_723_456  # 2024-01-01T01:02:03.456Z
TIMESTAMP_FORMS = {
    "aware-utc": datetime(2024, 1, 1, 1, 2, 3, 456_000, tzinfo=UTC),
    "aware-+02": datetime(2024, 1, 1, 3, 2, 3, 456_000, tzinfo=timezone(timedelta(hours=2))),
    "naive-is-utc": datetime(2024, 1, 1, 1, 2, 3, 456_000),
    "pandas-utc": pd.Timestamp("2024-01-01 01:02:03.456", tz="UTC"),
    "pandas-naive": pd.Timestamp("2024-01-01 01:02:03.456"),
    "iso-z": "2024-01-01T01:02:03.456Z",
    "iso-offset": "2024-01-01T02:02:03.456+01:00",
    "iso-naive": "2024-01-01 01:02:03.456",
    "epoch-ms": EXPECTED_MS,
}


def test_timestamp_forms_land_on_the_same_millisecond(store: Store) -> None:
    # One write per form (a column holds one kind), each to its own host so each is its own series.
    for form, ts in TIMESTAMP_FORMS.items():
        store.write(pd.DataFrame({"ts": [ts], "metric": ["test.value"], "host": [form], "value": [7.0]}))
    hosts = store.list_series().set_index("id")["host"]
    landed = {hosts[series_id]: ts for series_id, ts, _ in stored_rows(store)}
    assert landed == dict.fromkeys(TIMESTAMP_FORMS, EXPECTED_MS)

    # A whole datetime column in another zone.
    stamps = pd.date_range("2024-01-01 02:00", periods=3, freq="500ms", tz="Europe/Berlin")  # 01:00Z
    store.write(
        pd.DataFrame({"ts": stamps, "metric": "test.value", "host": "berlin", "value": [1.0, 2.0, 3.0]})
    )
    berlin = store.list_series(host="berlin")["id"].iloc[0]
    assert [ts for series_id, ts, _ in stored_rows(store) if series_id == berlin] == [
        BASE_MS + 3_600_000,
        BASE_MS + 3_600_500,
        BASE_MS + 3_601_000,
    ]


def test_epoch_millis_as_floats(store: Store) -> None:
    # A ts column read from JSON or with a gap in it comes back as float64, not int64.
    store.write(
        pd.DataFrame({"ts": [float(EXPECTED_MS)], "metric": ["test.value"], "host": ["h"], "value": [7.0]})
    )
    assert [row[1] for row in stored_rows(store)] == [EXPECTED_MS]


def test_all_timestamp_forms_are_one_sample(store: Store) -> None:
    for ts in TIMESTAMP_FORMS.values():
        store.write(pd.DataFrame({"ts": [ts], "metric": ["test.value"], "host": ["h"], "value": [7.0]}))
    assert stored_rows(store) == [(store.list_series()["id"].iloc[0], EXPECTED_MS, 7.0)]


def test_write_refuses_a_frame_it_cannot_read(store: Store) -> None:
    for column in ("ts", "metric", "value"):
        data = frame([(0, 1.0)], host="h").drop(columns=[column])
        with pytest.raises(ValueError, match=rf"missing column\(s\) {column};"):
            store.write(data)
    data = frame([(0, 1.0)], host="h").drop(columns=["ts", "value"])
    with pytest.raises(ValueError, match=r"missing column\(s\) ts, value;"):
        store.write(data)
    assert series_count(store) == 0

    data = pd.DataFrame(
        {"ts": ["2024-01-01T00:00:00Z", "not a time"], "metric": "m", "host": "h", "value": 1.0}
    )
    with pytest.raises(ValueError, match="ts:"):
        store.write(data)
    assert sample_count(store) == 0


def test_write_100k_rows(store: Store) -> None:
    n_series, per_series = 10, 10_000
    rng = np.random.default_rng(42)
    data = pd.DataFrame(
        {
            "ts": np.tile(BASE_MS + np.arange(per_series, dtype="int64") * 1000, n_series),
            "metric": "system.cpu.percent",
            "host": np.repeat([f"web{i}" for i in range(n_series)], per_series),
            "value": rng.uniform(0, 100, n_series * per_series),
        }
    )
    assert store.write(data) == 100_000
    assert sample_count(store) == 100_000
    assert series_count(store) == n_series
    result = store.metrics("system.cpu.percent", since=SINCE, until=UNTIL, every="1d", agg=("count", "sum"))
    assert result["count"].tolist() == [per_series] * n_series
    expected_sums = data.groupby("host")["value"].sum()
    assert result.set_index("host")["sum"].to_dict() == pytest.approx(expected_sums.to_dict(), rel=1e-12)


# --- metrics -----------------------------------------------------------------------------------

# (ms after BASE, value): minute 0 has five samples, minute 1 two, minute 2 none, minute 3 one.
KNOWN = [(0, 1.0), (10_000, 2.0), (20_000, 3.0), (30_000, 4.0), (40_000, 10.0), (60_000, 5.0), (90_000, -1.0),
         (195_000, 7.0)]  # fmt: skip


def write_known(store: Store, host: str = "web1", labels: dict[str, str] | None = None) -> None:
    data = frame(KNOWN, metric="system.cpu.percent", host=host, labels=labels or {})
    store.write(data.sample(frac=1.0, random_state=7))  # shuffled: "last" must follow time, not row order


def test_metrics_buckets_hold_hand_computed_aggregates(store: Store) -> None:
    write_known(store)
    aggs = ("mean", "min", "max", "sum", "count", "last", "first", "median", "p95")
    result = store.metrics("system.cpu.percent", since=SINCE, until=UNTIL, every="1min", agg=aggs)
    assert list(result.columns) == [*RESULT_COLUMNS, *aggs]
    assert result["ts"].tolist() == [pd.Timestamp(BASE) + pd.Timedelta(minutes=m) for m in (0, 1, 3)]
    assert result["mean"].tolist() == [4.0, 2.0, 7.0]
    assert result["min"].tolist() == [1.0, -1.0, 7.0]
    assert result["max"].tolist() == [10.0, 5.0, 7.0]
    assert result["sum"].tolist() == [20.0, 4.0, 7.0]
    assert result["count"].tolist() == [5, 2, 1]
    assert result["last"].tolist() == [10.0, -1.0, 7.0]
    assert result["first"].tolist() == [1.0, 5.0, 7.0]
    assert result["median"].tolist() == [3.0, 2.0, 7.0]
    # Linear interpolation: [1,2,3,4,10] at 0.95 -> 4 + 0.8 * 6; [-1, 5] at 0.95 -> -1 + 0.95 * 6.
    assert result["p95"].tolist() == pytest.approx([8.8, 4.7, 7.0])
    assert set(result["metric"]) == {"system.cpu.percent"}
    assert set(result["host"]) == {"web1"}
    assert result["series_id"].nunique() == 1


def test_metrics_wider_buckets(store: Store) -> None:
    write_known(store)
    result = store.metrics(
        "system.cpu.percent", since=SINCE, until=UNTIL, every="2min", agg=("count", "sum", "p50")
    )
    assert result["ts"].tolist() == [pd.Timestamp(BASE), pd.Timestamp(BASE) + pd.Timedelta(minutes=2)]
    assert result["count"].tolist() == [7, 1]
    assert result["sum"].tolist() == [24.0, 7.0]
    assert result["p50"].tolist() == [3.0, 7.0]


def test_metrics_default_agg_is_mean_and_timestamps_are_utc(store: Store) -> None:
    write_known(store)
    result = store.metrics("system.cpu.percent", since=SINCE, until=UNTIL, every="1h")
    assert list(result.columns) == [*RESULT_COLUMNS, "mean"]
    assert result["mean"].tolist() == [pytest.approx(31.0 / 8)]

    result = store.metrics("system.cpu.percent", since=SINCE, until=UNTIL, every="1min")
    assert isinstance(result["ts"].dtype, pd.DatetimeTZDtype)
    assert str(result["ts"].dt.tz) == "UTC"
    assert result["ts"].iloc[0].isoformat() == "2024-01-01T00:00:00+00:00"


def test_metrics_host_and_label_filters(store: Store) -> None:
    write_known(store, host="web1", labels={"mount": "/", "fs": "ext4"})
    write_known(store, host="web1", labels={"mount": "/data", "fs": "ext4"})
    write_known(store, host="web2", labels={"mount": "/", "fs": "xfs"})
    window: dict[str, Any] = {"since": SINCE, "until": UNTIL, "every": "1h", "agg": "count"}

    everything = store.metrics("system.cpu.percent", **window)
    assert len(everything) == 3
    assert everything["count"].tolist() == [8, 8, 8]

    web1 = store.metrics("system.cpu.percent", host="web1", **window)
    assert set(web1["host"]) == {"web1"}
    assert sorted(labels["mount"] for labels in web1["labels"]) == ["/", "/data"]

    root = store.metrics("system.cpu.percent", labels={"mount": "/"}, **window)
    assert sorted(root["host"]) == ["web1", "web2"]
    assert all(labels["mount"] == "/" for labels in root["labels"])

    one = store.metrics("system.cpu.percent", host="web1", labels={"mount": "/"}, **window)
    assert len(one) == 1
    assert one.loc[0, "labels"] == {"mount": "/", "fs": "ext4"}

    assert store.metrics("system.cpu.percent", labels={"fs": "xfs"}, **window)["host"].tolist() == ["web2"]


def test_metrics_range_is_since_inclusive_until_exclusive(store: Store) -> None:
    # The value is the offset, so min/max show which edge samples made it in.
    store.write(frame([(-1, -1.0), (0, 0.0), (9_999, 9_999.0), (10_000, 10_000.0)], host="h"))
    for since, until in [
        ("2024-01-01T00:00:00Z", "2024-01-01T00:00:10Z"),
        (BASE, BASE + timedelta(seconds=10)),
        (BASE_MS, BASE_MS + 10_000),
    ]:
        result = store.metrics(
            "test.value", since=since, until=until, every="1h", agg=("count", "min", "max")
        )
        assert result[["count", "min", "max"]].values.tolist() == [[2, 0.0, 9_999.0]], (since, until)


def test_metrics_automatic_step_keeps_to_max_points(store: Store) -> None:
    # One hour of 1 s samples, starting 30 s past a minute so buckets do not line up with the range.
    start_ms = BASE_MS + 30_000
    store.write(frame([(30_000 + i * 1000, 1.0) for i in range(3600)], host="h"))
    since, until = start_ms, start_ms + 3_600_000
    for max_points in (10, 60, 100, 720, 1500):
        result = store.metrics("test.value", since=since, until=until, agg="count", max_points=max_points)
        assert 0 < len(result) <= max_points, max_points
        assert result["count"].sum() == 3600
        steps = result["ts"].diff().dropna().unique()
        assert len(steps) == 1  # evenly spaced buckets
    default = store.metrics("test.value", since=since, until=until, agg="count")
    assert len(default) <= 1500
    assert default["ts"].diff().dropna().unique().tolist() == [pd.Timedelta(seconds=5)]


def test_metrics_unknown_metric_suggests_a_close_name(store: Store) -> None:
    write_known(store)
    for misspelt in ("sytem.cpu.percent", "system.cpu.percnt", "system.cpu"):
        with pytest.raises(
            ValueError, match=rf"unknown metric '{misspelt}'; did you mean 'system.cpu.percent'\?"
        ):
            store.metrics(misspelt, since=SINCE, until=UNTIL)
    with pytest.raises(ValueError, match=r"^unknown metric 'zzz'$"):  # nothing close: no wild guess
        store.metrics("zzz", since=SINCE, until=UNTIL)


def test_metrics_refuses_an_empty_range_or_a_bad_step(store: Store) -> None:
    write_known(store)
    for since, until in [
        ("2024-01-02T00:00:00Z", "2024-01-01T00:00:00Z"),
        ("2024-01-01T00:00:00Z", "2024-01-01T00:00:00Z"),
        ("1h", "2h"),
    ]:
        with pytest.raises(ValueError, match=r"until \(.*\) must be after since"):
            store.metrics("system.cpu.percent", since=since, until=until)

    for every, message in [
        ("0s", "every: must be greater than zero"),
        (timedelta(0), "every: must be greater than zero"),
        ("soon", "every: 'soon' is not a duration"),
        ("5 minutes", "every: '5 minutes' is not a duration"),
        ("0.1ms", "every: must be at least 1 ms"),
    ]:
        with pytest.raises(ValueError, match=message):
            store.metrics("system.cpu.percent", since=SINCE, until=UNTIL, every=every)  # type: ignore[arg-type]


def test_metrics_unsupported_aggregate_lists_the_choices(store: Store) -> None:
    write_known(store)
    with pytest.raises(
        ValueError, match="agg: unsupported 'avg'; choose from mean, min, max, sum, count, "
    ) as info:
        store.metrics("system.cpu.percent", since=SINCE, until=UNTIL, agg=("mean", "avg"))
    for name in ("last", "first", "median", "p50", "p90", "p95", "p99"):
        assert name in str(info.value)
    with pytest.raises(ValueError, match="agg: unsupported 'p42', 'average'"):
        store.metrics("system.cpu.percent", since=SINCE, until=UNTIL, agg=["p42", "average"])
    with pytest.raises(ValueError, match="agg: name at least one aggregate"):
        store.metrics("system.cpu.percent", since=SINCE, until=UNTIL, agg=())


def test_metrics_known_metric_without_data_in_range_is_an_empty_frame(store: Store) -> None:
    write_known(store)
    for aggs in [("mean",), ("count", "max"), ("mean", "last", "p95")]:
        result = store.metrics(
            "system.cpu.percent", since="2023-06-01T00:00:00Z", until="2023-06-02T00:00:00Z", agg=aggs
        )
        assert result.empty, aggs
        assert list(result.columns) == [*RESULT_COLUMNS, *aggs]


def test_metrics_filters_matching_no_series_give_an_empty_frame(store: Store) -> None:
    write_known(store, host="web1")
    by_host = store.metrics("system.cpu.percent", since=SINCE, until=UNTIL, host="db9", agg=("mean", "p95"))
    assert by_host.empty
    assert list(by_host.columns) == [*RESULT_COLUMNS, "mean", "p95"]
    assert str(by_host["ts"].dt.tz) == "UTC"
    by_labels = store.metrics("system.cpu.percent", since=SINCE, until=UNTIL, labels={"mount": "/nope"})
    assert by_labels.empty
    assert list(by_labels.columns) == [*RESULT_COLUMNS, "mean"]


def test_metrics_relative_range_reads_recent_samples(store: Store) -> None:
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    store.write(
        pd.DataFrame(
            {
                "ts": [now_ms - 2 * 3_600_000, now_ms - 120_000, now_ms - 60_000],
                "metric": "system.memory.percent",
                "host": "h",
                "value": [1.0, 2.0, 4.0],
            }
        )
    )
    result = store.metrics("system.memory.percent", since="15m", every="1h", agg=("count", "sum"))
    assert result["count"].sum() == 2
    assert result["sum"].sum() == 6.0


# --- latest and list_series --------------------------------------------------------------------


def test_latest_returns_the_newest_recent_value_per_series(store: Store) -> None:
    now = pd.Timestamp.now(tz="UTC").floor("s")
    recent = [now - pd.Timedelta(minutes=3), now - pd.Timedelta(minutes=1)]
    store.write(
        pd.DataFrame({"ts": recent, "metric": "redis.hit_rate", "host": "web1", "value": [0.5, 0.75]})
    )
    store.write(
        pd.DataFrame({"ts": recent, "metric": "redis.hit_rate", "host": "web2", "value": [0.9, 0.25]})
    )
    stale = now - pd.Timedelta(hours=1)
    store.write(pd.DataFrame({"ts": [stale], "metric": "redis.hit_rate", "host": "web3", "value": [0.1]}))

    latest = store.latest("redis.hit_rate")
    assert list(latest.columns) == [*RESULT_COLUMNS, "value"]
    assert dict(zip(latest["host"], latest["value"], strict=True)) == {"web1": 0.75, "web2": 0.25}
    assert latest["ts"].tolist() == [recent[1], recent[1]]
    assert str(latest["ts"].dt.tz) == "UTC"

    with_stale = store.latest("redis.hit_rate", max_age="2h")
    assert dict(zip(with_stale["host"], with_stale["value"], strict=True)) == {
        "web1": 0.75,
        "web2": 0.25,
        "web3": 0.1,
    }
    assert store.latest("redis.hit_rate", host="web2")["value"].tolist() == [0.25]
    assert store.latest("redis.hit_rate", host="web3").empty


def test_latest_unknown_metric_and_bad_max_age(store: Store) -> None:
    latest = store.latest("no.such.metric")
    assert latest.empty
    assert list(latest.columns) == [*RESULT_COLUMNS, "value"]

    with pytest.raises(ValueError, match="max_age: "):
        store.latest("redis.hit_rate", max_age="forever")


def test_list_series_filters_and_order(store: Store) -> None:
    store.write(frame([(0, 1.0)], metric="system.disk.percent", host="web2", labels={"mount": "/"}, unit="%"))
    store.write(
        frame([(0, 1.0)], metric="system.disk.percent", host="web1", labels={"mount": "/data"}, unit="%")
    )
    store.write(frame([(0, 1.0)], metric="system.disk.percent", host="web1", labels={"mount": "/"}, unit="%"))
    store.write(frame([(0, 1.0)], metric="celery.queue.length", host="web1", labels={"queue": "default"}))

    everything = store.list_series()
    assert list(everything.columns) == ["id", "metric", "host", "labels", "unit"]
    assert everything[["metric", "host"]].values.tolist() == [
        ["celery.queue.length", "web1"],
        ["system.disk.percent", "web1"],
        ["system.disk.percent", "web1"],
        ["system.disk.percent", "web2"],
    ]
    assert everything["labels"].tolist()[1:3] == [{"mount": "/data"}, {"mount": "/"}]  # by id within a host
    assert everything["unit"].tolist() == ["", "%", "%", "%"]
    assert everything["id"].is_unique

    disk = store.list_series(metric="system.disk.percent")
    assert len(disk) == 3
    assert store.list_series(host="web2")["labels"].tolist() == [{"mount": "/"}]
    root = store.list_series(metric="system.disk.percent", labels={"mount": "/"})
    assert root["host"].tolist() == ["web1", "web2"]
    assert store.list_series(labels={"queue": "default"})["metric"].tolist() == ["celery.queue.length"]
    assert store.list_series(metric="nope").empty
    assert store.metric_names() == ["celery.queue.length", "system.disk.percent"]


def test_an_empty_store(store: Store) -> None:
    empty = store.list_series()
    assert empty.empty
    assert list(empty.columns) == ["id", "metric", "host", "labels", "unit"]
    assert store.metric_names() == []

    with pytest.raises(
        ValueError, match=r"unknown metric 'system\.cpu\.percent'; the store has no metrics yet"
    ):
        store.metrics("system.cpu.percent")


def test_frames_concatenated_with_and_without_unit_or_labels_write(store: Store) -> None:
    # Concatenating frames that lack some optional columns leaves NaN in them; NaN unit once made
    # INSERT OR IGNORE skip the series row silently on its NOT NULL constraint.
    stamps = pd.date_range("2026-11-20", periods=3, freq="5min", tz="UTC")
    frame = pd.concat(
        [
            pd.DataFrame({"ts": stamps, "metric": "cpu", "host": "web1", "value": [1.0, 2.0, 3.0]}),
            pd.DataFrame(
                {
                    "ts": stamps,
                    "metric": "disk",
                    "host": "web1",
                    "labels": [{"mount": "/"}] * 3,
                    "unit": "%",
                    "value": [4.0, 5.0, 6.0],
                }
            ),
        ],
        ignore_index=True,
    )
    assert store.write(frame) == 6
    series = store.list_series().set_index("metric")
    assert series.loc["cpu", "unit"] == "" and series.loc["cpu", "labels"] == {}
    assert series.loc["disk", "unit"] == "%" and series.loc["disk", "labels"] == {"mount": "/"}
