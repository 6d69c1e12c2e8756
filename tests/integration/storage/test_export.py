"""Exports to CSV and Parquet through ``Store.export``, on SQLite and MariaDB.

Values and UTC timestamps survive the round trip exactly; large exports are written in chunks;
every wrong input gets a clear error and leaves no file behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

import storage
from storage import export as export_module
from storage.export import ExportError

BASE = pd.Timestamp("2026-01-05T00:00:00Z")
SINCE = "2026-01-05T00:00:00Z"
UNTIL = "2026-01-05T06:00:00Z"


def _seed(store: storage.Store) -> pd.DataFrame:
    """Two CPU series (one with sub-second timestamps), one memory series: every 10 minutes for 6 h."""
    rows = []
    for i in range(36):
        at = BASE + pd.Timedelta(minutes=10 * i)
        rows.append((at, "system.cpu.core.percent", "web1", {"core": "0"}, "%", 10.0 + i / 3))
        rows.append(
            (
                at + pd.Timedelta(milliseconds=250),
                "system.cpu.core.percent",
                "web1",
                {"core": "1"},
                "%",
                0.1 * i,
            )
        )
        rows.append((at, "system.memory.percent", "db1", {}, "%", 50.0 + i))
    frame = pd.DataFrame(rows, columns=["ts", "metric", "host", "labels", "unit", "value"])
    store.write(frame)
    return frame


def _leftovers(directory: Path) -> list[str]:
    return sorted(path.name for path in directory.iterdir())


def _keyed(frame: pd.DataFrame) -> pd.DataFrame:
    frame = frame.assign(
        labels=frame["labels"].map(lambda v: json.dumps(v, sort_keys=True, separators=(",", ":")))
    )
    return frame.sort_values(["metric", "labels", "ts"]).reset_index(drop=True)


def test_csv_round_trip_keeps_values_and_utc_timestamps(store: storage.Store, tmp_path: Path) -> None:
    seeded = _seed(store)
    target = tmp_path / "cpu.csv"
    result = store.export(
        ["system.cpu.core.percent", "system.memory.percent"], target, since=SINCE, until=UNTIL
    )
    assert (result.path, result.rows, result.bytes) == (target, 108, target.stat().st_size)

    text = target.read_text()
    lines = text.splitlines()
    assert lines[0] == "ts,metric,host,labels,unit,value"
    assert lines[1] == '2026-01-05T00:00:00.000Z,system.cpu.core.percent,web1,"{""core"":""0""}",%,10.0'
    assert '2026-01-05T00:00:00.250Z,system.cpu.core.percent,web1,"{""core"":""1""}",%,0.0' in lines

    back = pd.read_csv(target, parse_dates=["ts"], keep_default_na=False)
    assert str(back["ts"].dt.tz) == "UTC"
    expected = _keyed(seeded)
    back = back.sort_values(["metric", "labels", "ts"]).reset_index(drop=True)
    assert (back["ts"] == expected["ts"]).all()
    assert back["value"].tolist() == expected["value"].tolist()  # exact, not approximately
    assert back["labels"].tolist() == expected["labels"].tolist()
    assert set(back["host"]) == {"web1", "db1"}


def test_parquet_round_trip_is_typed_and_zstd_compressed(store: storage.Store, tmp_path: Path) -> None:
    seeded = _seed(store)
    target = tmp_path / "all.parquet"
    result = store.export(
        ["system.cpu.core.percent", "system.memory.percent"], target, since=SINCE, until=UNTIL
    )
    assert result.rows == 108

    back = pd.read_parquet(target)
    assert str(back["ts"].dtype) == "datetime64[ms, UTC]"
    assert back["value"].dtype == np.float64
    expected = _keyed(seeded)
    back = back.sort_values(["metric", "labels", "ts"]).reset_index(drop=True)
    assert (back["ts"] == expected["ts"]).all()
    assert back["value"].tolist() == expected["value"].tolist()
    meta = pq.ParquetFile(target).metadata
    assert meta.row_group(0).column(0).compression == "ZSTD"
    assert json.loads(meta.metadata[b"vitals"])["metrics"] == [
        "system.cpu.core.percent",
        "system.memory.percent",
    ]


def test_bucketed_export_uses_the_aggregate_and_whole_second_stamps(
    store: storage.Store, tmp_path: Path
) -> None:
    _seed(store)
    target = tmp_path / "mem.csv"
    store.export("system.memory.percent", target, since=SINCE, until=UNTIL, every="1h", agg="max")
    back = pd.read_csv(target)
    assert back["ts"].tolist()[:2] == ["2026-01-05T00:00:00Z", "2026-01-05T01:00:00Z"]
    # six samples per hour, 50 + i: the max of hour h is 50 + 6h + 5
    assert back["value"].tolist() == [55.0 + 6 * hour for hour in range(6)]


def test_export_can_filter_by_host_and_use_an_explicit_format(store: storage.Store, tmp_path: Path) -> None:
    _seed(store)
    target = tmp_path / "no-suffix"
    result = store.export(
        ["system.cpu.core.percent", "system.memory.percent"],
        target,
        since=SINCE,
        until=UNTIL,
        host="db1",
        format="parquet",
    )
    back = pd.read_parquet(target)
    assert result.rows == 36 and set(back["host"]) == {"db1"}


def test_sidecar_describes_the_export(store: storage.Store, tmp_path: Path) -> None:
    _seed(store)
    target = tmp_path / "cpu.parquet"
    result = store.export(
        "system.cpu.core.percent", target, since=SINCE, until=UNTIL, every="30min", agg="mean"
    )
    assert result.meta_path == tmp_path / "cpu.parquet.meta.json"
    meta = json.loads(result.meta_path.read_text())
    assert meta["file"] == "cpu.parquet" and meta["format"] == "parquet" and meta["compression"] == "zstd"
    assert meta["rows"] == result.rows == 24 and meta["bytes"] == result.bytes
    assert meta["columns"] == ["ts", "metric", "host", "labels", "unit", "value"]
    assert meta["query"] == {
        "metrics": ["system.cpu.core.percent"],
        "since": "2026-01-05T00:00:00.000Z",
        "until": "2026-01-05T06:00:00.000Z",
        "step_ms": 1_800_000,
        "agg": "mean",
        "host": None,
        "series": 2,
    }
    assert meta["tiers"] == ["raw"]
    assert pd.Timestamp(meta["exported_at"]).tzinfo is not None
    assert meta["vitals_version"] and meta["vitals_version"] != "unknown"


def test_raw_export_sidecar_has_no_step(store: storage.Store, tmp_path: Path) -> None:
    _seed(store)
    meta = json.loads(
        store.export(
            "system.memory.percent", tmp_path / "m.csv", since=SINCE, until=UNTIL
        ).meta_path.read_text()
    )
    assert (meta["query"]["step_ms"], meta["query"]["agg"], meta["tiers"]) == (None, None, ["raw"])


def test_chunked_export_of_200k_points(store: storage.Store, tmp_path: Path) -> None:
    n_per_series, hosts = 50_000, ["a", "b", "c", "d"]
    start = pd.Timestamp("2026-02-01T00:00:00Z")
    ts = start + pd.to_timedelta(np.arange(n_per_series) * 10, unit="s")
    frames = [
        pd.DataFrame(
            {"ts": ts, "metric": "load.test", "host": host, "value": np.arange(n_per_series) * 0.5 + k}
        )
        for k, host in enumerate(hosts)
    ]
    store.write(pd.concat(frames, ignore_index=True))
    expected_sum = sum(float((np.arange(n_per_series) * 0.5 + k).sum()) for k in range(len(hosts)))

    for name in ("big.parquet", "big.csv"):
        result = export_module.export_metrics(
            store,
            "load.test",
            tmp_path / name,
            since=start,
            until=start + pd.Timedelta(days=7),
            chunk_points=7_000,
        )
        assert result.rows == 200_000
        back = (
            pd.read_parquet(result.path)
            if name.endswith("parquet")
            else pd.read_csv(result.path, parse_dates=["ts"])
        )
        assert len(back) == 200_000
        assert back.groupby("host")["ts"].apply(lambda s: s.is_monotonic_increasing and s.is_unique).all()
        assert back["value"].sum() == pytest.approx(expected_sum)
        assert back["ts"].min() == start and back["ts"].max() == ts[-1]
    assert pq.ParquetFile(tmp_path / "big.parquet").metadata.num_row_groups >= 200_000 // 14_000


def test_streamed_csv_equals_the_file(store: storage.Store, tmp_path: Path) -> None:
    _seed(store)
    query = export_module.prepare_export(
        store, ["system.cpu.core.percent"], since=SINCE, until=UNTIL, chunk_points=5
    )
    streamed = b"".join(export_module.iter_csv(store, query))
    written = store.export("system.cpu.core.percent", tmp_path / "c.csv", since=SINCE, until=UNTIL)
    assert streamed == written.path.read_bytes()


# --- wrong input --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "parameter", "message"),
    [
        ({"metrics": "system.cpu.core.percnt"}, "metric", "did you mean 'system.cpu.core.percent'?"),
        ({"metrics": []}, "metric", "name at least one metric"),
        ({"since": UNTIL, "until": SINCE}, "until", "must be after since"),
        ({"since": "yesterday"}, "since", "since: 'yesterday' is neither a duration"),
        ({"every": "0s"}, "every", "every: must be greater than zero"),
        ({"every": "0"}, "every", "is not a duration"),
        ({"every": "5min", "agg": "average"}, "agg", "agg: unsupported 'average'; choose from mean"),
        ({"format": "xlsx"}, "format", "format: unsupported 'xlsx'; choose csv or parquet"),
        ({"path": "out.xlsx"}, "format", "cannot tell it from the file name 'out.xlsx'"),
        ({"path": "missing/out.csv"}, "path", "does not exist"),
        ({"path": "a-file/out.csv"}, "path", "is not a directory"),
        ({"path": "."}, "path", "is a directory"),
    ],
)
def test_wrong_input_is_a_clear_error_and_writes_nothing(
    store: storage.Store, tmp_path: Path, kwargs: dict, parameter: str, message: str
) -> None:
    _seed(store)
    out = tmp_path / "out"
    out.mkdir()
    (out / "a-file").write_text("not a directory")
    arguments = {
        "metrics": "system.cpu.core.percent",
        "path": "cpu.csv",
        "since": SINCE,
        "until": UNTIL,
        **kwargs,
    }
    arguments["path"] = out / arguments["path"]
    with pytest.raises(ExportError) as caught:
        store.export(**arguments)
    assert isinstance(caught.value, ValueError)
    assert caught.value.parameter == parameter
    assert message in str(caught.value)
    assert _leftovers(out) == ["a-file"]


def test_unwritable_location_is_a_clear_error(store: storage.Store) -> None:
    """/proc refuses new files even to root."""
    _seed(store)
    with pytest.raises(ExportError, match="path: ") as caught:
        store.export("system.memory.percent", "/proc/vitals-export.csv", since=SINCE, until=UNTIL)
    assert caught.value.parameter == "path"
    assert not Path("/proc/vitals-export.csv").exists()


def test_a_failure_midway_leaves_the_previous_file_and_no_temporary(
    store: storage.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _seed(store)
    out = tmp_path / "out"
    out.mkdir()
    target = out / "cpu.parquet"
    target.write_bytes(b"previous export")
    real_table = export_module._table
    calls = {"n": 0}

    def failing_table(piece):
        calls["n"] += 1
        if calls["n"] > 1:
            raise RuntimeError("database went away")
        return real_table(piece)

    monkeypatch.setattr(export_module, "_table", failing_table)
    with pytest.raises(RuntimeError, match="went away"):
        export_module.export_metrics(
            store,
            ["system.cpu.core.percent", "system.memory.percent"],
            target,
            since=SINCE,
            until=UNTIL,
            chunk_points=10,
        )
    assert target.read_bytes() == b"previous export"
    assert _leftovers(out) == ["cpu.parquet"]
