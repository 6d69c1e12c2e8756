"""The durable spool against real stores (SQLite and MariaDB): spooled while down, replayed once back."""

from __future__ import annotations

import logging
import socket
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from sqlalchemy import text

from collectors.base import Collection, Reading
from collectors.system import SystemCollector
from storage import Store, load_settings
from storage.engine import create_store_engine
from tasks import spool as spool_module
from tasks.app_jobs import collect_app
from tasks.context import JobContext
from tasks.jobs import collect_system
from tasks.spool import Spool, is_store_unreachable, write_samples
from tests.support import small_disk

BASE = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


def batch(index: int, rows: int = 3) -> pd.DataFrame:
    """One collection batch: ``rows`` series sampled at one time (ms precision), ``index`` s after BASE."""
    at = BASE + timedelta(seconds=index, milliseconds=index)
    return pd.DataFrame(
        {
            "ts": [at] * rows,
            "metric": ["test.spool.value"] * rows,
            "host": ["h1"] * rows,
            "labels": [{"n": str(n)} for n in range(rows)],
            "unit": ["%"] * rows,
            "value": [float(index * 10 + n) for n in range(rows)],
        }
    )


def down_store() -> Store:
    """A store whose server is not there: port 1 on localhost refuses at once."""
    return Store(create_store_engine("mysql+pymysql://root@127.0.0.1:1/vitals?connect_timeout=1"))


def all_samples(store: Store) -> pd.DataFrame:
    query = text(
        "SELECT s.metric, s.labels, p.ts, p.value FROM samples p JOIN series s ON s.id = p.series_id "
        "ORDER BY p.ts, p.value"
    )
    with store.engine.connect() as conn:
        return pd.DataFrame(conn.execute(query).fetchall(), columns=["metric", "labels", "ts", "value"])


def spool_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage() for r in caplog.records if r.name == "vitals.spool" and r.levelno >= logging.WARNING
    ]


# -- store down -> spooled -> store back -> replayed --------------------------------------------


def test_down_store_spools_then_replays_in_order_once(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    spool = Spool(tmp_path / "spool")
    down = down_store()
    with caplog.at_level("WARNING", logger="vitals.spool"):
        for index in range(3):
            assert spool.write(down, batch(index)) == 0  # no exception: spooled
    down.close()
    assert len(spool_warnings(caplog)) == 3
    assert "Can't connect" in spool_warnings(caplog)[0] and str(spool.directory) in spool_warnings(caplog)[0]
    assert spool_warnings(caplog)[0] == spool_warnings(caplog)[2]  # the same words: limited to one
    assert spool.pending().files == 3 and spool.pending().bytes > 0

    written_ts: list[int] = []
    original_write = store.write

    def recording_write(frame: pd.DataFrame) -> int:
        ts = frame["ts"]
        as_ms = ts if pd.api.types.is_integer_dtype(ts) else pd.to_datetime(ts, utc=True).dt.as_unit("ms")
        written_ts.extend(pd.Series(as_ms).astype("int64").tolist())
        return original_write(frame)

    monkeypatch.setattr(store, "write", recording_write)
    assert spool.write(store, batch(3)) == 3  # backlog first, then the new batch
    assert spool.pending().files == 0
    expected_ms = [int(pd.Timestamp(batch(i)["ts"].iloc[0]).value // 1_000_000) for i in range(4)]
    assert sorted(set(written_ts)) == expected_ms
    assert written_ts == sorted(written_ts)  # replayed oldest first, the new batch last

    stored = all_samples(store)
    assert len(stored) == 12
    assert sorted(stored["ts"].unique().tolist()) == expected_ms  # ts exact to the millisecond
    assert sorted(stored["value"].tolist()) == sorted(v for i in range(4) for v in batch(i)["value"])


def test_sqlite_store_directory_gone_then_back(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    from storage import connect

    home = tmp_path / "store"
    store = connect(f"sqlite:///{home / 'vitals.db'}")
    spool_dir = tmp_path / "spool"
    collector = SystemCollector()
    try:
        assert collect_system(store, collector, spool_dir) > 0
        home.rename(tmp_path / "store.away")
        store.engine.dispose()  # pooled connections would keep the moved file open
        with caplog.at_level("WARNING", logger="vitals.spool"):
            assert collect_system(store, collector, spool_dir) == 0
        (message,) = spool_warnings(caplog)
        assert "unable to open database file" in message
        (tmp_path / "store.away").rename(home)
        assert collect_system(store, collector, spool_dir) > 0
        assert list(spool_dir.glob("*.parquet")) == []
        times = all_samples(store).groupby("metric")["ts"].nunique()
        assert times["system.memory.percent"] == 3  # every run's sample, each once
    finally:
        store.close()


# -- a batch written twice is stored once ---------------------------------------------------------


def count_rows(store: Store) -> tuple[int, int]:
    with store.engine.connect() as conn:
        total = conn.execute(text("SELECT COUNT(*) FROM samples")).scalar_one()
        distinct = conn.execute(
            text("SELECT COUNT(*) FROM (SELECT DISTINCT series_id, ts FROM samples) d")
        ).scalar_one()
    return int(total), int(distinct)


def test_a_redone_task_and_a_replayed_file_duplicate_nothing(store: Store, tmp_path: Path) -> None:
    """A killed worker's task is redone (acks_late): the same batch arrives again, maybe via the spool."""
    frame = batch(0)
    store.write(frame)
    store.write(frame)  # the redone task writes the same frame
    spool = Spool(tmp_path / "spool")
    spool.append(frame)  # and a crash between a replay's commit and its delete leaves the file
    assert spool.replay(store) is True
    assert spool.pending().files == 0
    assert count_rows(store) == (3, 3)
    assert spool.write(store, frame) == 3  # handed to the store, ignored there
    assert count_rows(store) == (3, 3)


# -- bad spool files and bounds -------------------------------------------------------------------


def test_corrupt_and_truncated_files_are_set_aside_once(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "spool")
    good = spool.append(batch(1))
    truncated = spool.append(batch(2))
    truncated.write_bytes(truncated.read_bytes()[:40])  # a torn write from a dying disk
    garbage = spool.directory / "00000000000000000001-1-000000.parquet"  # sorts first
    garbage.write_bytes(b"not parquet at all")
    wrong_shape = spool.directory / "00000000000000000002-1-000000.parquet"
    pq.write_table(pa.table({"x": [1]}), wrong_shape)
    with caplog.at_level("WARNING", logger="vitals.spool"):
        assert spool.replay(store) is True
        assert spool.replay(store) is True  # nothing left to retry: no loop, no new warning
    warnings = spool_warnings(caplog)
    assert len(warnings) == 3
    assert all("moved to" in message and "corrupt" in message for message in warnings)
    assert not good.exists()
    assert sorted(p.name for p in (spool.directory / "corrupt").iterdir()) == sorted(
        [garbage.name, wrong_shape.name, truncated.name]
    )
    assert len(all_samples(store)) == 3  # the good file made it


def test_temp_files_of_an_interrupted_write_are_not_replayed(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.directory.mkdir()
    (spool.directory / ".tmp-00000000000000000001-1-000000.parquet").write_bytes(b"half")
    assert spool.files() == []
    assert spool.pending().files == 0


def test_the_spool_is_bounded_by_dropping_the_oldest(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    spool = Spool(tmp_path / "spool", max_files=3)
    paths = []
    with caplog.at_level("WARNING", logger="vitals.spool"):
        for index in range(5):
            paths.append(spool.append(batch(index)))
    assert spool.files() == paths[2:]
    warnings = spool_warnings(caplog)
    assert len(warnings) == 2 and "dropped the 1 oldest" in warnings[0]

    by_bytes = Spool(tmp_path / "spool2", max_bytes=1)
    by_bytes.append(batch(0))
    newest = by_bytes.append(batch(1))
    assert by_bytes.files() == [newest]  # the newest file always stays


def test_a_bad_frame_raises_and_is_not_spooled(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    with pytest.raises(ValueError, match="missing column"):
        spool.write(down_store(), pd.DataFrame({"ts": [BASE], "value": [1.0]}))
    assert spool.pending().files == 0


def test_a_spooled_frame_keeps_what_the_store_needs(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    frame = pd.DataFrame({"ts": ["2026-01-02T03:04:05.678Z"], "metric": ["m"], "value": [1.5]})
    path = spool.append(frame)
    back = pq.read_table(path).to_pandas()
    assert back["ts"].tolist() == [int(pd.Timestamp("2026-01-02T03:04:05.678Z").value // 1_000_000)]
    assert back["host"].tolist() == [socket.gethostname()]  # the collecting host, not the replaying one
    assert back["labels"].tolist() == ["{}"]
    assert back["unit"].tolist() == [""]


def test_which_errors_mean_unreachable() -> None:
    from sqlalchemy import exc

    assert is_store_unreachable(exc.OperationalError("x", {}, Exception("gone away")))
    assert is_store_unreachable(exc.InterfaceError("x", {}, Exception("closed")))
    assert not is_store_unreachable(exc.IntegrityError("x", {}, Exception("dup")))
    assert not is_store_unreachable(ValueError("bad frame"))


def test_write_samples_keeps_one_spool_per_directory(tmp_path: Path) -> None:
    assert spool_module.spool_for(tmp_path / "a") is spool_module.spool_for(tmp_path / "a")
    assert write_samples(down_store(), batch(0), tmp_path / "a") == 0
    assert spool_module.spool_for(tmp_path / "a").pending().files == 1


# -- the app job ----------------------------------------------------------------------------------


def test_collect_app_stores_sane_store_and_spool_metrics(store: Store, tmp_path: Path) -> None:
    settings = load_settings(data_dir=tmp_path)
    Spool(settings.spool_dir).append(batch(0))  # one batch waiting
    context = JobContext(store=store)
    assert collect_app(context, settings) > 0
    # The pending batch was replayed before the readings (taken while it was waiting) were written.
    latest = {row.metric: row.value for row in store.latest("vitals.spool.files").itertuples()}
    assert latest == {"vitals.spool.files": 1.0}
    size = store.latest("vitals.store.size_bytes")["value"].iloc[0]
    assert 10_000 < size < 10 * 1024**3
    names = set(store.metric_names())
    assert {"vitals.store.size_bytes", "vitals.spool.files", "vitals.spool.bytes"} <= names
    if store.dialect == "mysql":
        assert {
            "vitals.store.pool.checked_out",
            "vitals.store.pool.overflow",
            "vitals.store.pool.size",
        } <= names
        assert store.latest("vitals.store.pool.checked_out")["value"].iloc[0] >= 0
    kept = context.state["app_metrics"]
    collect_app(context, settings)
    assert context.state["app_metrics"] is kept  # one collector per process


def test_collect_system_reading_time_survives_the_spool(tmp_path: Path) -> None:
    class Fixed(SystemCollector):
        def collect(self) -> Collection:
            return Collection("fixed", readings=[Reading("system.memory.percent", 42.0, {}, "%")])

    spool_dir = tmp_path / "spool"
    assert collect_system(down_store(), Fixed(), spool_dir) == 0
    (path,) = spool_dir.glob("*.parquet")
    assert pq.read_table(path).to_pandas()["value"].tolist() == [42.0]


def test_an_outage_does_not_reread_the_backlog_on_every_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """While the store stays down, each write asks the store once and reads no spooled file: a call
    in minute sixty of an outage costs what one in minute one did."""
    spool = Spool(tmp_path / "spool")
    for index in range(50):
        spool.append(batch(index))
    reads: list[Path] = []
    read_file = spool_module._read_file

    def counting_read(path: Path) -> pd.DataFrame:
        reads.append(path)
        return read_file(path)

    monkeypatch.setattr(spool_module, "_read_file", counting_read)
    down = down_store()
    try:
        assert spool.write(down, batch(50)) == 0
    finally:
        down.close()
    assert reads == [] and len(spool.files()) == 51


def test_a_full_disk_drops_new_samples_with_a_clear_error_and_corrupts_nothing(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with small_disk(tmp_path / "disk", "64k") as disk:
        spool, down = Spool(disk / "spool"), down_store()
        with caplog.at_level("WARNING", logger="vitals.spool"):
            for index in range(100):  # ~2 KB a file (4 KB on tmpfs): full after about fifteen
                assert spool.write(down, batch(index, rows=20)) == 0  # never raises
        full = [message for message in spool_warnings(caplog) if "cannot take new data" in message]
        assert full, spool_warnings(caplog)[-3:]
        assert "No space left on device" in full[0] and "samples are dropped" in full[0]
        assert "Can't connect" in full[0]  # and why it had to spool at all
        names = [path.name for path in spool.directory.iterdir()]
        assert not [name for name in names if name.startswith(".")]  # no half-written file left
        files = spool.files()
        assert 5 <= len(files) < 100
        spooled_rows = sum(len(spool_module._read_file(path)) for path in files)  # each one whole
        assert spool.replay(store)  # the store is back: everything that was spooled goes in
        assert len(all_samples(store)) == spooled_rows
        caplog.clear()
        with caplog.at_level("WARNING", logger="vitals.spool"):
            assert spool.write(down, batch(200)) == 0  # room again: spooled as usual
        assert spool.files() and not [m for m in spool_warnings(caplog) if "cannot take" in m]
        down.close()


def test_a_long_backlog_is_caught_up_over_several_calls_in_order(
    make_store: Callable[..., Store], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = make_store("sqlite")
    directory = tmp_path / "spool"
    for index in range(3):
        Spool(directory).append(batch(index))
    out_of_time = Spool(directory, replay_budget_seconds=-1.0)  # spent before the first batch
    with caplog.at_level("INFO", logger="vitals.spool"):
        assert out_of_time.write(store, batch(3)) == 0  # queued behind the backlog, not ahead of it
    (record,) = [r for r in caplog.records if r.name == "vitals.spool"]
    assert record.levelno == logging.INFO and "backlog of 3 files" in record.getMessage()
    assert len(out_of_time.files()) == 4
    assert Spool(directory).replay(store) is True
    assert len(all_samples(store)) == 12


# -- event batches --------------------------------------------------------------------------------


def test_event_batches_are_spooled_and_replayed_to_their_writer(
    store: Store, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    stored: list[dict[str, object]] = []

    def write_deadlocks(target: Store, records: list[dict[str, object]]) -> int:
        with target.engine.connect() as conn:  # fails like a real event write when the store is down
            conn.execute(text("SELECT 1"))
        new = [record for record in records if record not in stored]  # idempotent, as required
        stored.extend(new)
        return len(new)

    spool_module.register_event_writer("test.deadlock", write_deadlocks)
    at = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    first = [{"digest": "a1", "at": at, "victim": 2, "locks": ["x", "y"]}]
    second = [{"digest": "b2", "at": at + timedelta(seconds=1), "victim": 1, "locks": []}]
    spool_dir = tmp_path / "spool"
    with caplog.at_level("WARNING", logger="vitals.spool"):
        assert spool_module.write_events(down_store(), "test.deadlock", first, spool_dir) is None
    assert "waits in the spool" in spool_warnings(caplog)[0]
    assert stored == []
    # The store is back: the spooled batch goes first, with its datetimes intact, then the new one.
    assert spool_module.write_events(store, "test.deadlock", second, spool_dir) == 1
    assert stored == [*first, *second]
    assert list((spool_dir / "events").glob("*.jsonl")) == []
    with pytest.raises(ValueError, match="no event writer registered"):
        spool_module.write_events(store, "test.unknown", first, spool_dir)


def test_a_torn_event_file_is_set_aside(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    spool_module.register_event_writer("test.noop", lambda _store, _records: 0)
    spool = Spool(tmp_path / "spool")
    (spool.directory / "events").mkdir(parents=True)
    (spool.directory / "events" / "00000000000000000001-1-000000.jsonl").write_bytes(b'{"kind": "test.no')
    with caplog.at_level("WARNING", logger="vitals.spool"):
        assert spool.replay(down_store()) is True
        assert spool.replay(down_store()) is True
    assert len(spool_warnings(caplog)) == 1
    assert (spool.directory / "corrupt" / "00000000000000000001-1-000000.jsonl").exists()
