"""The store goes away mid-collection and comes back: no sample is lost, none is stored twice.

Uses a private MariaDB server started by this module (its own data directory and port), because
the shared server on 3306 must never be stopped. ``mariadbd`` is killed with SIGKILL, as a crash
or an OOM kill would, and restarted on the same data directory (InnoDB crash recovery included).
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pandas as pd
import pymysql
import pytest
from sqlalchemy import text

import storage
from collectors.system import SystemCollector
from storage import writes as storage_writes
from tasks import jobs
from tasks.jobs import collect_system
from tests.support import free_port, unavailable

STARTUP_TIMEOUT_SECONDS = 30.0
# Cycle 1 stores; cycle 2 is cut by the kill in the middle of its INSERT; 3-4 run with the store down;
# cycle 5 runs after the restart.
CYCLES_DOWN = 2


class PrivateMariaDB:
    """A throw-away mariadbd on a free port, root without password, that a test may kill."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="vitals-outage-"))
        self.datadir = self.base / "data"
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self._as_root = os.geteuid() == 0  # mariadbd refuses root without --user=mysql

    @property
    def url(self) -> str:
        return f"mysql+pymysql://root@127.0.0.1:{self.port}/vitals"

    def install(self) -> None:
        self.datadir.mkdir()
        if self._as_root:
            shutil.chown(self.base, "mysql", "mysql")
            shutil.chown(self.datadir, "mysql", "mysql")
        command = [
            "mariadb-install-db",
            "--no-defaults",
            f"--datadir={self.datadir}",
            "--auth-root-authentication-method=normal",
            "--skip-test-db",
        ]
        if self._as_root:
            command.append("--user=mysql")
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        command = [
            "mariadbd",
            "--no-defaults",
            f"--datadir={self.datadir}",
            f"--port={self.port}",
            f"--socket={self.base / 's.sock'}",
            "--bind-address=127.0.0.1",
            f"--log-error={self.base / 'err.log'}",
            "--innodb-buffer-pool-size=32M",
            "--innodb-log-file-size=8M",
            "--skip-log-bin",
        ]
        if self._as_root:
            command.append("--user=mysql")
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_TIMEOUT_SECONDS
        while time.monotonic() < deadline:
            assert self.process is not None
            if self.process.poll() is not None:
                raise RuntimeError(f"mariadbd exited at start-up: {self.error_log()[-2000:]}")
            try:
                pymysql.connect(host="127.0.0.1", port=self.port, user="root", connect_timeout=1).close()
                return
            except pymysql.err.OperationalError:
                time.sleep(0.05)
        raise RuntimeError(
            f"mariadbd not ready after {STARTUP_TIMEOUT_SECONDS} s: {self.error_log()[-2000:]}"
        )

    def kill(self) -> None:
        """SIGKILL, as a crash would: no shutdown, no flush."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
        self.process = None

    def error_log(self) -> str:
        path = self.base / "err.log"
        return path.read_text(errors="replace") if path.exists() else ""

    def cleanup(self) -> None:
        self.kill()
        shutil.rmtree(self.base, ignore_errors=True)


@pytest.fixture(scope="module")
def private_mariadb() -> Iterator[PrivateMariaDB]:
    """A private server for this module; about 1.5 s to install and start (module-scoped)."""
    if not (shutil.which("mariadbd") and shutil.which("mariadb-install-db")):
        unavailable("mariadbd / mariadb-install-db not installed (apt install mariadb-server)")
    server = PrivateMariaDB()
    started = time.monotonic()
    try:
        server.install()
        server.start()
        with pymysql.connect(host="127.0.0.1", port=server.port, user="root") as conn:
            conn.cursor().execute("CREATE DATABASE vitals CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci")
    except (OSError, subprocess.SubprocessError, RuntimeError, pymysql.MySQLError) as exc:
        server.cleanup()
        unavailable(f"could not start a private MariaDB server: {exc}")
    print(f"private MariaDB ready in {time.monotonic() - started:.2f} s")  # shown with -s
    yield server
    server.cleanup()


def stored_samples(store: storage.Store) -> pd.DataFrame:
    query = text(
        "SELECT s.metric, s.host, s.labels_hash, p.ts, p.value "
        "FROM samples p JOIN series s ON s.id = p.series_id"
    )
    with store.engine.connect() as conn:
        return pd.DataFrame(
            conn.execute(query).fetchall(), columns=["metric", "host", "labels", "ts", "value"]
        )


def test_killing_the_store_mid_collection_loses_and_duplicates_nothing(
    private_mariadb: PrivateMariaDB,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    collected: list[pd.DataFrame] = []
    original_frame = jobs.readings_frame

    def recording_frame(*args: object, **kwargs: object) -> pd.DataFrame:
        frame = original_frame(*args, **kwargs)  # type: ignore[arg-type]
        collected.append(frame)
        return frame

    monkeypatch.setattr(jobs, "readings_frame", recording_frame)
    spool_dir = tmp_path / "spool"
    store = storage.connect(private_mariadb.url)
    collector = SystemCollector()
    try:
        assert collect_system(store, collector, spool_dir) > 0
        time.sleep(0.3)  # so the second reading has CPU time to report: new series in cycle 2

        original_insert = storage_writes._insert_mysql_text

        def killed_mid_insert(*args: object) -> None:
            private_mariadb.kill()  # the new series are inserted, the transaction is still open
            original_insert(*args)  # type: ignore[arg-type]

        with caplog.at_level("WARNING", logger="vitals.spool"):
            monkeypatch.setattr(storage_writes, "_insert_mysql_text", killed_mid_insert)
            assert collect_system(store, collector, spool_dir) == 0  # spooled, no exception
            monkeypatch.setattr(storage_writes, "_insert_mysql_text", original_insert)
            for _ in range(CYCLES_DOWN):
                time.sleep(0.02)
                assert collect_system(store, collector, spool_dir) == 0
        warnings = [r for r in caplog.records if r.name == "vitals.spool"]
        assert len(warnings) == 1 + CYCLES_DOWN  # one per spooled run (a handler's limiter keeps one)
        assert "Error" in warnings[0].getMessage()  # PyMySQL's words for a connection cut mid-query
        assert f"waits in the spool {spool_dir}" in warnings[1].getMessage()
        assert len(list(spool_dir.glob("*.parquet"))) == 1 + CYCLES_DOWN
        assert set(collected[1]["metric"]) > set(collected[0]["metric"])  # cycle 2 made new series

        private_mariadb.start()
        assert collect_system(store, collector, spool_dir) > 0
        assert list(spool_dir.glob("*.parquet")) == []  # the backlog was replayed first
    finally:
        store.close()

    expected = pd.concat(collected, ignore_index=True)
    assert len(collected) == 1 + 1 + CYCLES_DOWN + 1
    reopened = storage.connect(private_mariadb.url, migrate=False)
    try:
        rows = stored_samples(reopened)
    finally:
        reopened.close()
    expected_keys = {
        (metric, pd.Timestamp(ts).value // 1_000_000)
        for metric, ts in zip(expected["metric"], expected["ts"], strict=True)
    }
    stored_keys = list(zip(rows["metric"], rows["ts"], strict=True))
    # Every cycle's time is there for every metric collected in it, and each (series, ts) once.
    assert not rows.duplicated(["metric", "host", "labels", "ts"]).any()
    assert {(metric, int(ts)) for metric, ts in stored_keys} == expected_keys
    assert len(rows) == len(expected)
    assert rows["ts"].nunique() == len(collected)
