"""Logs search, histogram, context, tail and archives on real files ingested by the real tailer,
on SQLite and MariaDB."""

from __future__ import annotations

import contextlib
import gzip
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

import storage
from collectors.logs import LogTailer
from storage.log_archives import ArchiveError
from storage.schema import log_archives, log_entries
from storage.users import Role
from tasks.actions.gate import Actor, PermissionDenied
from tasks.actions.logs import ArchiveCriteria, archive_logs, delete_archived_rows, restore_archive
from tasks.log_jobs import maintain_log_archives, tail_logs
from tests.support import small_disk

HOST = "test-host"
BASE = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
OPERATOR = Actor("otto", Role.OPERATOR)
ADMIN = Actor("ada", Role.ADMIN)
VIEWER = Actor("vera", Role.VIEWER)


def at(minutes: float) -> str:
    return (BASE + timedelta(minutes=minutes)).isoformat()


def jline(minutes: float, level: str, message: str, logger: str = "app", **extra: object) -> str:
    return json.dumps(
        {"timestamp": at(minutes), "level": level, "logger": logger, "message": message, **extra}
    )


def write(path: Path, *lines: str) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write("".join(line + "\n" for line in lines))


def ingest(store: storage.Store, *paths: Path) -> int:
    return tail_logs(store, LogTailer([str(p) for p in paths]), HOST)


WINDOW = {"since": at(-60), "until": at(600)}


@pytest.fixture
def corpus(store: storage.Store, tmp_path: Path) -> tuple[storage.Store, Path, Path]:
    app, db = tmp_path / "app.log", tmp_path / "db.log"
    write(
        app,
        jline(0, "info", "service started"),
        jline(1, "warning", "slow query took 2300 ms", logger="db.pool", request_id="r-1"),
        jline(2, "error", "connection refused by payments", request_id="r-1"),
        jline(3, "error", "timeout talking to payments", logger="http"),
        jline(4, "info", "SELECT * FROM users; DROP TABLE users; -- literal"),
        jline(5, "info", "<script>alert(1)</script> in a comment"),
        jline(6, "critical", 'quote " and NEAR(a b) and -x and stars*'),
    )
    write(db, "2026-03-01 12:30:00 31 [Warning] Aborted connection 31 to db: 'shop' user: 'app'")
    assert ingest(store, app, db) == 8
    return store, app, db


def messages(frame) -> list[str]:
    return frame["message"].tolist()


def test_search_finds_exactly_the_expected_lines(corpus) -> None:
    store, _app, db = corpus
    logs = store.logs
    assert messages(logs.search(query="payments", **WINDOW)) == [
        "timeout talking to payments", "connection refused by payments"
    ]  # fmt: skip
    assert messages(logs.search(query='"connection refused"', **WINDOW)) == ["connection refused by payments"]
    assert messages(logs.search(query='"refused connection"', **WINDOW)) == []
    assert messages(logs.search(query="payments", levels=["error"], channel="http", **WINDOW)) == [
        "timeout talking to payments"
    ]
    assert len(logs.search(levels=["warning", "critical"], **WINDOW)) == 3
    assert messages(logs.search(request_id="r-1", **WINDOW)) == [
        "connection refused by payments", "slow query took 2300 ms"
    ]  # fmt: skip
    assert messages(logs.search(source=str(db), **WINDOW)) == [
        "Aborted connection 31 to db: 'shop' user: 'app'"
    ]
    assert logs.search(source=str(db), **WINDOW)["level"].tolist() == ["warning"]
    assert messages(logs.search(host="elsewhere", **WINDOW)) == []
    assert messages(logs.search(query="nothingmatchesthis", **WINDOW)) == []


@pytest.mark.parametrize(
    "query",
    ["DROP TABLE users;", "<script>alert(1)</script>", 'quote "', "NEAR(a b)", "-x", "stars*", '"'],
)
def test_syntax_sql_and_html_are_found_literally(corpus, query: str) -> None:
    store, _, _ = corpus
    found = store.logs.search(query=query, **WINDOW)
    if query == '"':
        assert len(found) == 8  # a lone quote is no term at all: everything in range
        return
    assert len(found) == 1
    assert query.strip('"').strip() in found["message"].iloc[0] or query == 'quote "'


def test_cursor_and_offset_paging_agree(corpus) -> None:
    store, _, _ = corpus
    everything = store.logs.search(limit=100, **WINDOW)
    first = store.logs.search(limit=3, **WINDOW)
    last = first.iloc[-1]
    cursor = (int(last["ts"].timestamp() * 1000), int(last["id"]))
    second = store.logs.search(limit=3, cursor=cursor, **WINDOW)
    by_offset = store.logs.search(limit=3, offset=3, **WINDOW)
    assert second["id"].tolist() == by_offset["id"].tolist() == everything["id"].tolist()[3:6]
    assert store.logs.count(**WINDOW) == 8


def test_histogram_counts_match(corpus) -> None:
    store, _, _ = corpus
    frame = store.logs.histogram(since=at(0), until=at(60), buckets=6)
    assert frame.attrs["bucket_ms"] == 600_000
    counts = frame.groupby("level")["count"].sum().to_dict()
    assert counts == {"info": 3, "warning": 2, "error": 2, "critical": 1}
    first = frame[frame["ts"] == BASE]
    assert first.set_index("level")["count"].to_dict() == {"info": 3, "warning": 1, "error": 2, "critical": 1}
    narrowed = store.logs.histogram(query="payments", since=at(0), until=at(60), buckets=6)
    assert narrowed["count"].sum() == 2
    assert store.logs.levels(since=at(0), until=at(60))["error"] == 2


def test_context_lines_are_the_files_own_neighbours(store: storage.Store, tmp_path: Path) -> None:
    app, other = tmp_path / "app.log", tmp_path / "other.log"
    # Timestamps out of order on purpose: the file's order, not the time, decides the neighbours.
    for i in range(30):
        write(app, jline(30 - i, "info", f"app line {i}"))
        write(other, jline(i, "info", f"other line {i}"))
        if i % 7 == 0:
            ingest(store, app, other)
    ingest(store, app, other)
    target = store.logs.search(query='"app line 15"', since=at(-60), until=at(60))
    entry_id = int(target["id"].iloc[0])
    around = store.logs.context(id=entry_id, before=3, after=2)
    assert messages(around) == [f"app line {i}" for i in range(12, 18)]
    assert around["position"].tolist() == [-3, -2, -1, 0, 1, 2]
    edge = store.logs.context(id=int(store.logs.search(query='"app line 1"', since=at(-60), until=at(60))["id"].iloc[0]), before=5, after=0)  # fmt: skip
    assert messages(edge) == ["app line 0", "app line 1"]
    with pytest.raises(KeyError):
        store.logs.context(id=10**9)
    assert store.logs.entry(id=10**9) is None


def test_tail_shows_a_line_appended_to_the_file(store: storage.Store, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    write(log, "INFO:app:before the tail")
    ingest(store, log)
    start = store.logs.newest_id()
    write(log, "ERROR:app:appended while watching", "INFO:app:also new")
    ingest(store, log)
    assert messages(store.logs.tail(after_id=start)) == ["also new", "appended while watching"]
    assert messages(store.logs.tail(after_id=start, levels=["error"])) == ["appended while watching"]
    assert store.logs.count_after(after_id=start) == 2


def _rows(store: storage.Store) -> list[tuple]:
    with store.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(select(log_entries).order_by(log_entries.c.id))]


def test_archive_verify_delete_restore_returns_the_original_rows(corpus, tmp_path: Path) -> None:
    store, _, _ = corpus
    original = _rows(store)
    directory = tmp_path / "archives"
    message = archive_logs(
        store, OPERATOR, directory, ArchiveCriteria(since=WINDOW["since"], until=WINDOW["until"])
    )
    assert "Archived 8 entries" in message
    (archive,) = store.logs.archives()["id"].tolist()
    assert store.logs.verify_archive(id=archive) == (True, "checksum and entry count match")
    with pytest.raises(PermissionDenied):
        delete_archived_rows(store, OPERATOR, archive)  # admins delete
    assert "8 entries removed" in delete_archived_rows(store, ADMIN, archive)
    assert _rows(store) == []
    assert "Restored 8" in restore_archive(store, OPERATOR, archive)
    assert _rows(store) == original
    assert "nothing restored" in restore_archive(store, OPERATOR, archive)  # twice: no duplicates
    assert _rows(store) == original
    # The full-text index follows the restored rows.
    assert messages(store.logs.search(query='"connection refused"', **WINDOW)) == [
        "connection refused by payments"
    ]
    with pytest.raises(PermissionDenied):
        archive_logs(store, VIEWER, directory, ArchiveCriteria(since=WINDOW["since"], until=WINDOW["until"]))


def test_a_flipped_byte_or_a_truncated_file_is_caught_and_nothing_is_deleted(corpus, tmp_path: Path) -> None:
    store, _, _ = corpus
    result = store.logs.create_archive(directory=tmp_path / "a", **WINDOW)
    path = Path(result.path)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01
    path.write_bytes(bytes(data))
    ok, reason = store.logs.verify_archive(id=result.id)
    assert not ok and "checksum" in reason
    assert store.logs.archive(id=result.id)["status"] == "corrupt"
    with pytest.raises(ArchiveError, match="checksum"):
        store.logs.delete_hot_rows(id=result.id)
    with pytest.raises(ArchiveError):
        store.logs.restore_archive(id=result.id)
    assert len(_rows(store)) == 8
    second = store.logs.create_archive(directory=tmp_path / "b", **WINDOW)
    Path(second.path).write_bytes(Path(second.path).read_bytes()[:-20])
    assert store.logs.verify_archive(id=second.id)[0] is False
    Path(second.path).unlink()
    assert "missing" in store.logs.verify_archive(id=second.id)[1]
    assert len(_rows(store)) == 8


def test_full_disk_discards_the_archive_and_keeps_the_rows(corpus, tmp_path: Path) -> None:
    store, _, _ = corpus
    with small_disk(tmp_path / "disk", "64k") as disk:
        target = disk / "archives"
        target.mkdir()
        with (disk / "filler").open("wb") as filler, contextlib.suppress(OSError):
            filler.write(bytes(1024 * 1024))  # a real disk, and it is full
        with pytest.raises(OSError, match="No space"):
            store.logs.create_archive(directory=target, **WINDOW)
        assert list(target.iterdir()) == []  # nothing half-written left behind
    assert store.logs.archives().empty and len(_rows(store)) == 8


def test_scheduled_archiving_and_retention(store: storage.Store, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    now = datetime(2026, 3, 31, 12, 0, tzinfo=UTC)
    old = [now - timedelta(days=d) for d in (40, 40, 20, 3)]
    write(
        log,
        *(
            json.dumps({"timestamp": t.isoformat(), "level": "info", "message": f"m{i}"})
            for i, t in enumerate(old)
        ),
    )
    ingest(store, log)
    settings = storage.load_settings(data_dir=tmp_path / "data")
    now_ms = int(now.timestamp() * 1000)
    done = maintain_log_archives(store, settings, now_ms=now_ms)
    assert done["archived_days"] == 2 and done["archived_entries"] == 3
    assert done["hot_deleted"] == 2  # the 40-day-old entries, after their archive verified
    assert sorted(messages(store.logs.search(since=0))) == ["m2", "m3"]
    again = maintain_log_archives(store, settings, now_ms=now_ms)
    assert again["archived_entries"] == 0 and again["hot_deleted"] == 0
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(log_archives)).scalar_one() == 2
    # Archives are as old as their creation (the real clock): a year and more later they go.
    real_now_ms = int(datetime.now(UTC).timestamp() * 1000)
    later = maintain_log_archives(store, settings, now_ms=real_now_ms + 366 * 86_400_000)
    assert later["archives_removed"] >= 2
    for path in (settings.log_archive_dir).glob("*.gz"):
        with gzip.open(path, "rt") as handle:
            assert all(json.loads(line)["id"] for line in handle)
