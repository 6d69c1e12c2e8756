"""Log tailing into a real store (SQLite and MariaDB): every line exactly once, in order.

Files are written by the test the way applications and logrotate do it (append, rename rotation,
copytruncate, a line completed later), and collected with ``tasks.log_jobs.tail_logs`` between
the steps. A new ``LogTailer`` stands for a restarted process: all it has is the stored checkpoint.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import func, select

import storage
from collectors.logs.tail import LogTailer
from storage.logs import load_checkpoints, store_log_batch
from storage.schema import log_checkpoints, log_entries
from storage.timeparse import utc_now
from tasks.log_jobs import (
    JsonLinesFormatter,
    OwnLogHandler,
    install_own_log_handler,
    job_specs,
    make_tailer,
    remove_own_log_handler,
    tail_logs,
)
from tests.support import small_disk

HOST = "test-host"


def append(path: Path, *lines: str, newline: bool = True) -> None:
    with path.open("a", encoding="utf-8") as handle:
        handle.write("\n".join(lines) + ("\n" if newline else ""))


def stored_messages(store: storage.Store, source: Path | None = None) -> list[str]:
    """Messages in insertion order (id), optionally of one source."""
    statement = select(log_entries.c.message).order_by(log_entries.c.id)
    if source is not None:
        statement = statement.where(log_entries.c.source == str(source))
    with store.engine.connect() as conn:
        return list(conn.execute(statement).scalars())


def lines(prefix: str, start: int, stop: int) -> list[str]:
    return [f"INFO:app:{prefix} line {i}" for i in range(start, stop)]


def messages(prefix: str, start: int, stop: int) -> list[str]:
    return [f"{prefix} line {i}" for i in range(start, stop)]


def collect(store: storage.Store, tailer: LogTailer) -> int:
    return tail_logs(store, tailer, HOST)


def test_append_rotate_by_rename_and_new_file(store: storage.Store, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    tailer = LogTailer([str(tmp_path / "*.log")])
    append(log, *lines("a", 0, 5))
    assert collect(store, tailer) == 5
    append(log, *lines("a", 5, 8))
    assert collect(store, tailer) == 3
    append(log, *lines("a", 8, 10))  # written before the rotation, never read from app.log
    os.rename(log, tmp_path / "app.log.1")
    with (tmp_path / "app.log.1").open("a") as old:  # the app still writes to the renamed file
        old.write("\n".join(lines("a", 10, 12)) + "\n")
    append(log, *lines("b", 0, 4))  # the app reopened: the new file
    assert collect(store, tailer) == 8
    append(log, *lines("b", 4, 6))
    other = tmp_path / "other.log"  # a new file matching the glob is picked up
    append(other, "ERROR:other:first of other")
    assert collect(store, tailer) == 3
    assert collect(store, tailer) == 0

    assert stored_messages(store, log) == messages("a", 0, 12) + messages("b", 0, 6)
    assert stored_messages(store, other) == ["first of other"]
    checkpoints = load_checkpoints(store.engine, HOST)
    inode, offset, head = checkpoints[str(log)]
    assert (inode, offset) == (log.stat().st_ino, log.stat().st_size)
    assert head == hashlib.blake2b(log.read_bytes()[:1024], digest_size=16).hexdigest()


def test_rotated_file_is_finished_before_the_new_one_exists(store: storage.Store, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    tailer = LogTailer([str(log)])
    append(log, *lines("a", 0, 2))
    collect(store, tailer)
    os.rename(log, tmp_path / "app.log.1")
    append(tmp_path / "app.log.1", *lines("a", 2, 4))
    assert collect(store, tailer) == 2  # read from app.log.1 by its inode
    append(tmp_path / "app.log.1", *lines("a", 4, 5))
    append(log, *lines("b", 0, 1))
    assert collect(store, tailer) == 2
    assert stored_messages(store) == messages("a", 0, 5) + messages("b", 0, 1)


def test_copytruncate_starts_again_at_zero(store: storage.Store, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    tailer = LogTailer([str(log)])
    append(log, *lines("a", 0, 6))
    collect(store, tailer)
    inode = log.stat().st_ino
    (tmp_path / "app.log.1").write_bytes(log.read_bytes())  # copy ...
    with log.open("r+") as handle:  # ... then truncate in place
        handle.truncate(0)
    append(log, *lines("b", 0, 2))
    assert log.stat().st_ino == inode
    assert collect(store, tailer) == 2
    assert stored_messages(store) == messages("a", 0, 6) + messages("b", 0, 2)


def test_copytruncate_reads_what_the_copy_took_since_the_last_poll(
    store: storage.Store, tmp_path: Path
) -> None:
    log = tmp_path / "app.log"
    tailer = LogTailer([str(log)])
    append(log, *lines("a", 0, 6))
    collect(store, tailer)
    append(log, *lines("a", 6, 9))  # written after that poll: only the copy will have them
    (tmp_path / "app.log.1").write_bytes(log.read_bytes())
    os.truncate(log, 0)
    append(log, *lines("b", 0, 2))
    assert collect(store, tailer) == 5
    assert stored_messages(store) == messages("a", 0, 9) + messages("b", 0, 2)
    # The truncated file is known by its new first bytes: a second copytruncate is followed too.
    append(log, *lines("b", 2, 4))
    (tmp_path / "app.log.1").write_bytes(log.read_bytes())
    os.truncate(log, 0)
    assert collect(store, tailer) == 2
    assert stored_messages(store)[-4:] == messages("b", 0, 4)


def test_a_copytruncate_handled_by_one_process_is_not_read_again_by_another(
    store: storage.Store, tmp_path: Path
) -> None:
    # Two workers on one host tail the same file; each poll may be either's.
    log = tmp_path / "app.log"
    first, second = LogTailer([str(log)]), LogTailer([str(log)])
    append(log, *lines("a", 0, 6))
    collect(store, first)
    append(log, *lines("a", 6, 9))
    (tmp_path / "app.log.1").write_bytes(log.read_bytes())
    os.truncate(log, 0)
    append(log, *lines("b", 0, 12))  # past the old offset: only the first bytes tell
    assert collect(store, second) == 15
    append(log, *lines("b", 12, 14))
    assert collect(store, first) == 2  # knows from the stored checkpoint that it was handled
    assert stored_messages(store) == messages("a", 0, 9) + messages("b", 0, 14)


def test_a_copy_larger_than_the_budget_is_finished_over_several_polls(
    store: storage.Store, tmp_path: Path
) -> None:
    log = tmp_path / "app.log"
    tailer = LogTailer([str(log)], max_bytes=64)
    append(log, "INFO:app:first")
    collect(store, tailer)
    append(log, *lines("a", 0, 20))
    (tmp_path / "app.log-20261204").write_bytes(log.read_bytes())
    os.truncate(log, 0)
    append(log, *lines("b", 0, 2))
    for _ in range(10):
        collect(store, tailer)
    assert stored_messages(store) == ["first", *messages("a", 0, 20), *messages("b", 0, 2)]


def test_restart_from_the_stored_checkpoint_duplicates_nothing(store: storage.Store, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, *lines("a", 0, 3))
    collect(store, LogTailer([str(log)]))
    append(log, *lines("a", 3, 5))
    assert collect(store, LogTailer([str(log)])) == 2  # a new process: only the stored checkpoint
    assert collect(store, LogTailer([str(log)])) == 0
    assert stored_messages(store) == messages("a", 0, 5)


def test_a_stale_batch_is_not_stored_twice(store: storage.Store, tmp_path: Path) -> None:
    """Two processes that read the same bytes: the second one's compare-and-set fails."""
    log = tmp_path / "app.log"
    append(log, *lines("a", 0, 3))
    tailer = LogTailer([str(log)])
    first = tailer.poll(load_checkpoints(store.engine, HOST))
    second = tailer.poll(load_checkpoints(store.engine, HOST))
    for batches, expected in ((first, True), (second, False)):
        (batch,) = batches
        assert (
            store_log_batch(store.engine, HOST, batch.path, batch.records, batch.previous, batch.checkpoint)
            is expected
        )
    assert stored_messages(store) == messages("a", 0, 3)


def test_partial_line_waits_for_its_newline(store: storage.Store, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    tailer = LogTailer([str(log)])
    append(log, "INFO:app:complete", "INFO:app:half", newline=False)
    assert collect(store, tailer) == 1
    append(log, " done", "INFO:app:next")
    assert collect(store, tailer) == 2
    assert stored_messages(store) == ["complete", "half done", "next"]


def test_a_huge_file_is_read_over_several_cycles(store: storage.Store, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, *lines("a", 0, 400))
    tailer = LogTailer([str(log)], max_bytes=1024)
    batches = tailer.poll({})
    assert len(batches) == 1 and batches[0].more and len(batches[0].records) < 400
    total = sum(collect(store, tailer) for _ in range(40))
    assert total == 400
    assert stored_messages(store) == messages("a", 0, 400)


def test_tracebacks_and_formats_are_stored_parsed(store: storage.Store, tmp_path: Path) -> None:
    log = tmp_path / "mixed.log"
    append(
        log,
        json.dumps({"level": "error", "msg": "payment failed", "request_id": "req-7", "order": 42}),
        "2026-01-02 03:04:05,678 ERROR app.worker: crashed",
        "Traceback (most recent call last):",
        '  File "worker.py", line 3, in run',
        "ZeroDivisionError: division by zero",
        '10.0.0.1 - - [02/Jan/2026:03:04:05 +0000] "GET /health HTTP/1.1" 503 12 "-" "probe"',
    )
    assert collect(store, LogTailer([str(log)])) == 3
    frame = store.logs(since="3650d", until=utc_now() + timedelta(minutes=1)).sort_values("id")
    assert frame["level"].tolist() == ["error", "error", "error"]
    assert frame["request_id"].tolist()[0] == "req-7"
    assert frame["context"].tolist()[0] == {"order": 42}
    assert frame["message"].tolist()[1].endswith("ZeroDivisionError: division by zero")
    assert frame["channel"].tolist()[1:] == ["app.worker", "access"]  # the JSON line names none


def test_full_text_finds_tailed_lines(store: storage.Store, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "ERROR:db:connection timeout talking to payments", "INFO:web:GET /orders fine")
    collect(store, LogTailer([str(log)]))
    found = store.logs(query="timeout payments", since="1h", until=utc_now() + timedelta(minutes=1))
    assert found["message"].tolist() == ["connection timeout talking to payments"]
    assert found["source"].tolist() == [str(log)]
    assert found["host"].tolist() == [HOST]


def test_own_logs_are_tailed_through_the_job(
    store: storage.Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = storage.load_settings(data_dir=tmp_path / "data", log_paths=[])
    path = install_own_log_handler(settings)
    try:
        assert install_own_log_handler(settings) == path  # idempotent
        try:
            raise ValueError("kaboom")
        except ValueError:
            logging.getLogger("vitals.test").exception("own log line with a traceback")
    finally:
        remove_own_log_handler()
    spec = next(spec for spec in job_specs(settings) if spec.name == "vitals.tail_logs")
    assert spec.name == "vitals.tail_logs" and spec.interval_seconds == settings.logs_interval_seconds
    monkeypatch.setattr("socket.gethostname", lambda: HOST)
    from tasks.context import JobContext

    assert spec.body(JobContext(store=store)) == 1
    frame = store.logs(query="kaboom", since="1h", until=utc_now() + timedelta(minutes=1))
    assert frame["level"].tolist() == ["error"]
    assert frame["channel"].tolist() == ["vitals.test"]
    assert frame["source"].tolist() == [str(path)]
    assert "Traceback" in frame["message"].tolist()[0]
    assert make_tailer(settings).files() == [str(path)]


def test_json_formatter_round_trips_through_the_parser() -> None:
    from collectors.logs.parse import parse_line

    record = logging.LogRecord("vitals.x", logging.WARNING, __file__, 1, "disk %s%% full", (91,), None)
    record.request_id = "r-1"
    parsed = parse_line(JsonLinesFormatter().format(record))
    assert (parsed.level, parsed.channel, parsed.message, parsed.request_id) == (
        "warning",
        "vitals.x",
        "disk 91% full",
        "r-1",
    )
    assert parsed.ts == int(record.created * 1000)


def test_own_log_on_a_full_disk_says_so_once_and_resumes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with small_disk(tmp_path / "disk", "16k") as disk:
        filler = disk / "filler"
        handler = OwnLogHandler(disk / "vitals.log", encoding="utf-8")
        handler.setFormatter(JsonLinesFormatter())
        logger = logging.getLogger("test.own_log.full")
        logger.addHandler(handler)
        logger.propagate = False
        try:
            with open(filler, "wb") as out, contextlib.suppress(OSError):
                out.write(b"x" * 64 * 1024)  # fill what the log file left
            for n in range(200):
                logger.warning("line %d %s", n, "y" * 200)
            said = capsys.readouterr().err
            assert said.count("cannot write") == 1 and "No space left on device" in said, said[:500]
            assert "Traceback" not in said
            filler.unlink()
            logger.warning("after the disk has room")
            handler.flush()
            assert "after the disk has room" in (disk / "vitals.log").read_text(errors="replace")
        finally:
            logger.removeHandler(handler)
            handler.close()


def test_checkpoint_rows_are_per_path_and_host(store: storage.Store, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "one")
    tail_logs(store, LogTailer([str(log)]), "host-a")
    tail_logs(store, LogTailer([str(log)]), "host-b")  # another host tails its own copy
    with store.engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(log_checkpoints)).scalar_one() == 2
    assert stored_messages(store) == ["one", "one"]


def test_a_glob_matching_rotated_names_reads_each_line_once(store: storage.Store, tmp_path: Path) -> None:
    logs = tmp_path / "logs"  # tmp_path also holds the SQLite store's files
    logs.mkdir()
    log = logs / "app.log"
    (logs / "app.log.2.gz").write_bytes(b"\x1f\x8b not text")
    tailer = LogTailer([str(logs / "*")])
    append(log, *lines("a", 0, 3))
    collect(store, tailer)
    os.rename(log, logs / "app.log.1")
    append(logs / "app.log.1", *lines("a", 3, 4))
    append(log, *lines("b", 0, 2))
    collect(store, tailer)
    collect(store, tailer)
    assert tailer.files() == [str(log)]
    assert stored_messages(store) == messages("a", 0, 4) + messages("b", 0, 2)


def test_a_line_longer_than_the_budget_is_stored_in_pieces(store: storage.Store, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, "x" * 2500, "INFO:app:after")
    tailer = LogTailer([str(log)], max_bytes=1000)
    for _ in range(5):
        collect(store, tailer)
    stored = stored_messages(store)
    assert "".join(stored[:-1]) == "x" * 2500 and stored[-1] == "after"


def test_unencodable_text_is_stored_replaced(store: storage.Store, tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    append(log, '{"level": "error", "msg": "bad \\ud800 surrogate"}', "INFO:app:next")
    assert collect(store, LogTailer([str(log)])) == 2
    assert stored_messages(store) == ["bad ? surrogate", "next"]
