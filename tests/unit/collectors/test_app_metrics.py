"""The store/app collector with plain engines and files (no storage, no server needed)."""

from __future__ import annotations

import logging
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.pool import NullPool, QueuePool

from collectors.app_metrics import APP_METRICS, AppMetricsCollector, sqlite_store_bytes
from collectors.base import Collection
from collectors.catalog import METRIC_CATALOG


def by_metric(collection: Collection) -> dict[str, float]:
    return {reading.metric: reading.value for reading in collection.readings}


def test_sqlite_size_counts_the_file_and_its_wal(tmp_path: Path) -> None:
    database = tmp_path / "vitals.db"
    database.write_bytes(b"x" * 4096)
    assert sqlite_store_bytes(database) == 4096
    Path(f"{database}-wal").write_bytes(b"y" * 1000)
    assert sqlite_store_bytes(database) == 5096
    assert sqlite_store_bytes(tmp_path / "absent.db") == 0


def test_sqlite_engine_size_and_queue_pool(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'v.db'}", poolclass=QueuePool, pool_size=3)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE t (x INTEGER)"))
    held = engine.connect()
    try:
        values = by_metric(AppMetricsCollector(engine).collect())
    finally:
        held.close()
        engine.dispose()
    assert values["vitals.store.size_bytes"] >= 4096
    assert values["vitals.store.pool.checked_out"] == 1
    assert values["vitals.store.pool.size"] == 3
    assert values["vitals.store.pool.overflow"] < 0  # room left before overflowing
    assert "vitals.spool.files" not in values  # no spool dir given


def test_pools_without_counters_emit_what_they_have(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'v.db'}", poolclass=NullPool)
    values = by_metric(AppMetricsCollector(engine).collect())
    assert not any(name.startswith("vitals.store.pool.") for name in values)
    memory = create_engine("sqlite://")
    assert "vitals.store.size_bytes" not in by_metric(AppMetricsCollector(memory).collect())


def test_spool_counts_only_finished_batches(tmp_path: Path) -> None:
    spool = tmp_path / "spool"
    spool.mkdir()
    (spool / "00000000000000000001-1-000000.parquet").write_bytes(b"a" * 100)
    (spool / "00000000000000000002-1-000001.parquet").write_bytes(b"b" * 50)
    (spool / ".tmp-00000000000000000003-1-000002.parquet").write_bytes(b"c" * 999)  # being written
    (spool / "corrupt").mkdir()
    (spool / "corrupt" / "00000000000000000000-1-000000.parquet").write_bytes(b"d" * 999)  # set aside
    engine = create_engine("sqlite://")
    values = by_metric(AppMetricsCollector(engine, spool).collect())
    assert values["vitals.spool.files"] == 2
    assert values["vitals.spool.bytes"] == 150
    # The oldest name says 1 ns after the epoch: decades behind, a stale store at a glance.
    assert values["vitals.spool.oldest_age_seconds"] > 50 * 365 * 86400
    empty = by_metric(AppMetricsCollector(engine, tmp_path / "never-made").collect())
    assert empty["vitals.spool.files"] == 0 and empty["vitals.spool.bytes"] == 0
    assert empty["vitals.spool.oldest_age_seconds"] == 0


def test_spool_age_of_a_fresh_batch_is_small(tmp_path: Path) -> None:
    name = f"{time.time_ns() - 2_000_000_000:020d}-1-000000.parquet"  # written 2 s ago
    (tmp_path / name).write_bytes(b"x")
    values = by_metric(AppMetricsCollector(create_engine("sqlite://"), tmp_path).collect())
    assert 1.5 < values["vitals.spool.oldest_age_seconds"] < 60


def test_an_unreachable_store_loses_only_its_size(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    engine = create_engine("mysql+pymysql://root@127.0.0.1:1/x", connect_args={"connect_timeout": 1})
    with caplog.at_level(logging.WARNING, logger="vitals.collectors"):
        collection = AppMetricsCollector(engine, tmp_path).collect()
    values = by_metric(collection)
    assert [error.split(":")[0] for error in collection.errors] == ["store size"]
    assert "vitals.store.size_bytes" not in values
    assert values["vitals.store.pool.checked_out"] == 0
    assert values["vitals.spool.files"] == 0
    assert any("store size" in record.getMessage() for record in caplog.records)


def test_every_metric_is_in_the_catalog_with_a_unit_and_description() -> None:
    for name, (unit, description) in APP_METRICS.items():
        assert METRIC_CATALOG[name] == (unit, description)
        assert name.startswith("vitals.") and description
    assert APP_METRICS["vitals.store.size_bytes"][0] == "B"
