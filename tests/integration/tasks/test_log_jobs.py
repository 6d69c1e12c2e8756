"""Background log archive, restore and delete jobs on both dialects: run to the end, cancel (before
and during the work: nothing of it is kept), refusals by role, and the audit trail."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from sqlalchemy import func, select

import storage
from storage.engine import write_transaction
from storage.log_archives import ArchiveCancelled
from storage.logs import insert_log_rows
from storage.schema import audit_log, log_archives, log_entries
from storage.users import Role
from tasks import log_archive_jobs
from tasks.actions import logs as actions
from tasks.actions.gate import Actor, PermissionDenied

OPERATOR = Actor("otto", Role.OPERATOR)
ADMIN = Actor("ada", Role.ADMIN)
START_MS = 1_772_366_400_000  # 2026-03-01T12:00:00Z
ENTRIES = 2_500  # more than one restore batch (2,000), so a cancel can land between batches


@pytest.fixture
def filled(store: storage.Store, tmp_path: Path) -> tuple[storage.Store, storage.Settings]:
    rows = [
        (START_MS + i * 1000, "error" if i % 5 == 0 else "info", "app", f"line {i}", None, None, 7, i * 10)
        for i in range(ENTRIES)
    ]
    with write_transaction(store.engine) as conn:
        insert_log_rows(conn, "h1", "/var/log/app.log", rows)
    settings = storage.load_settings(data_dir=tmp_path / "data", secret_key="log-jobs-test-secret-0123456789")
    return store, settings


def _hot(store: storage.Store) -> int:
    with store.engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(log_entries)).scalar_one())


def _wait(store: storage.Store, job_id: str) -> storage.log_jobs.LogJob:
    for _ in range(400):
        job = store.logs.job(id=job_id)
        if job is not None and job.finished:
            return job
        time.sleep(0.025)
    raise AssertionError(f"job {job_id} did not finish")


WINDOW = actions.ArchiveCriteria(since=START_MS, until=START_MS + ENTRIES * 1000)


def test_archive_delete_restore_as_jobs_return_the_original_rows(filled) -> None:
    store, settings = filled
    made = _wait(store, actions.start_archive(store, settings, OPERATOR, WINDOW).id)
    assert made.status == "done" and made.result is not None and made.result["entries"] == ENTRIES
    assert made.params["expected"] == ENTRIES and made.progress["total"] == ENTRIES
    archive_id = made.archive_id
    assert archive_id is not None and store.logs.archive(id=archive_id)["entries"] == ENTRIES
    with pytest.raises(PermissionDenied):
        actions.start_delete_hot_rows(store, settings, OPERATOR, archive_id)  # admins delete
    deleted = _wait(store, actions.start_delete_hot_rows(store, settings, ADMIN, archive_id).id)
    assert deleted.status == "done" and deleted.result is not None
    assert deleted.result["deleted"] == ENTRIES and _hot(store) == 0
    restored = _wait(store, actions.start_restore(store, settings, OPERATOR, archive_id).id)
    assert restored.result is not None and restored.result["restored"] == ENTRIES and _hot(store) == ENTRIES
    assert {job.kind for job in store.logs.jobs(limit=3)} == {"restore", "delete_hot", "archive"}
    with store.engine.connect() as conn:
        audited = {row[0] for row in conn.execute(select(audit_log.c.action, audit_log.c.outcome))}
    assert {"logs.archive.start", "logs.archive", "logs.delete_hot_rows", "logs.restore_archive"} <= audited


def test_a_job_cancelled_while_queued_does_nothing(filled) -> None:
    store, settings = filled
    job = storage.log_jobs.create_job(
        store.engine, job_id="queued1", kind="archive", username="otto",
        params={"criteria": {"since": START_MS, "until": START_MS + ENTRIES * 1000}},
    )  # fmt: skip
    assert actions.cancel_job(store, OPERATOR, job.id).cancel_requested
    log_archive_jobs.run_job(store, settings, job.id)
    assert store.logs.job(id=job.id).status == "cancelled"
    assert store.logs.archives().empty and not list(settings.log_archive_dir.glob("*"))
    with pytest.raises(LookupError):
        actions.cancel_job(store, OPERATOR, "no-such-job")


def test_cancel_between_batches_keeps_nothing(filled, tmp_path: Path) -> None:
    store, _ = filled
    with pytest.raises(ArchiveCancelled):
        store.logs.create_archive(
            directory=tmp_path / "a", since=START_MS, until="now", progress=lambda n: True
        )
    assert not [p for p in (tmp_path / "a").iterdir()]  # the partial file is gone
    made = store.logs.create_archive(directory=tmp_path / "a", since=START_MS, until="now")
    assert made is not None
    with pytest.raises(ArchiveCancelled):
        store.logs.delete_hot_rows(id=made.id, progress=lambda n: True)
    assert _hot(store) == ENTRIES  # the delete was rolled back
    store.logs.delete_hot_rows(id=made.id)
    with pytest.raises(ArchiveCancelled):
        store.logs.restore_archive(id=made.id, progress=lambda n: n >= 2_000)
    assert _hot(store) == 0  # the restore was rolled back
    with store.engine.connect() as conn:
        assert conn.execute(select(log_archives.c.hot_deleted_at)).scalar_one() is not None


def test_a_failed_job_says_why(filled) -> None:
    store, settings = filled
    made = _wait(store, actions.start_archive(store, settings, OPERATOR, WINDOW).id)
    assert made.archive_id is not None
    path = Path(store.logs.archive(id=made.archive_id)["path"])
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    failed = _wait(store, actions.start_delete_hot_rows(store, settings, ADMIN, made.archive_id).id)
    assert failed.status == "failed" and "checksum" in (failed.error or "") and _hot(store) == ENTRIES


def test_mariadb_walk_and_full_text_give_the_same_pages(filled, monkeypatch: pytest.MonkeyPatch) -> None:
    """MariaDB reads a word's first page along the time index within a row budget, and falls back to
    MATCH beyond it; both give the same rows and keyset pages (SQLite always uses FTS5)."""
    store, _ = filled
    pages = []
    for budget in (100_000, 50):  # the walk finishes / exceeds its budget and falls back
        monkeypatch.setattr(storage.logs, "WALK_ROWS_EXAMINED", budget)
        first = store.logs.search(query="line", levels=["error"], since=START_MS, until="now", limit=7)
        cursor = (int(first["ts"].iloc[-1].value // 1_000_000), int(first["id"].iloc[-1]))
        second = store.logs.search(
            query="line", levels=["error"], since=START_MS, until="now", limit=7, cursor=cursor
        )
        pages.append((list(first["message"]), list(second["message"])))
    newest = [f"line {i}" for i in range(ENTRIES - 5, -1, -5)]
    assert pages[0] == pages[1] == (newest[:7], newest[7:14])
    assert store.logs.search(query="lin", since=START_MS, until="now").empty  # whole words, as MATCH
