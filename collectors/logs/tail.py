"""Tail log files by (inode, offset) checkpoints, so rotation and restarts lose and duplicate nothing.

``LogTailer.poll(checkpoints)`` reads what was appended since each file's checkpoint and returns,
per file, the parsed records together with the checkpoint that covers exactly them. It writes
nothing and keeps no position of its own: the caller stores records and checkpoint in one
transaction (compare-and-set against ``previous``), so a crash between reading and storing re-reads
the same bytes, and two processes tailing the same host cannot both store one line.

What the tailer handles:

* rename rotation (``app.log`` -> ``app.log.1``, new ``app.log``): the checkpoint's inode is looked
  up among the rotated names; the old file is read to its end (including lines written to it after
  our last read, and a last line without a newline) before the new file is started at 0;
* copytruncate (same inode, but shorter than the offset or starting with other bytes): the copy is
  found among the rotated names by the checkpoint's fingerprint of the first bytes (as Vector's file
  source does) and read from the checkpoint to its end, then the truncated file from 0; with no copy
  the truncated file starts at 0 and what the copy took since the last poll is lost;
* a last line without its newline yet: left unread until it is complete;
* bounded reads: at most ``max_bytes`` per file per poll, so a huge file is consumed over several.

The checkpoint holds a hash of the file's first bytes (``head``), so whichever process polls next,
not only the one that read last, knows a file truncated and rewritten past the old offset.

Known limits: a file replaced by one with the same inode number and the same first bytes is taken
for the same file; lines written between copytruncate's copy and its truncate are in neither file and
lost, as with every copytruncate reader.
"""

from __future__ import annotations

import fnmatch
import glob
import hashlib
import logging
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from collectors.logs.parse import LogRecord, now_ms, parse_lines

__all__ = ["DEFAULT_MAX_BYTES", "Checkpoint", "LogBatch", "LogTailer", "expand_patterns"]

log = logging.getLogger("vitals.collectors.logs")

DEFAULT_MAX_BYTES = 4 * 1024 * 1024
# How much of a file's start identifies it (a copy starts with the same bytes; so does a file after
# a rotation only if its first lines are byte-for-byte the old ones, which timestamps make unlikely).
HEAD_BYTES = 1024
# Rotated or compressed siblings: never tailed on their own (they are the old inode of another file).
_ROTATED_NAME = re.compile(
    r"(?:\.\d+|[.-]\d{8,14}|\.old)(?:\.(?:gz|bz2|xz|zst|lz4|z))?$|\.(?:gz|bz2|xz|zst|lz4|z)$"
)


class Checkpoint(NamedTuple):
    """How far a file was read: the inode being read, the byte offset after the last stored line,
    and a hash of the file's first bytes then (``""``: not known, e.g. a checkpoint from before)."""

    inode: int
    offset: int
    head: str = ""


@dataclass
class LogBatch:
    """Records read from one configured path, and the checkpoint to store with them."""

    path: str  # the configured file: checkpoint key and the entries' source
    previous: Checkpoint | None  # the stored checkpoint these bytes follow (compare-and-set)
    checkpoint: Checkpoint
    records: list[LogRecord] = field(default_factory=list)
    more: bool = False  # the byte budget ran out before the end of the file


@dataclass
class _Chunk:
    lines: list[str]
    offset: int  # offset after the consumed bytes
    at_end: bool  # everything up to the file's current size was consumed
    more: bool = False  # the budget ended before the file did: read again soon
    starts: list[int] = field(default_factory=list)  # byte offset of each line in the file


# Lines read from one physical file: (lines, their byte offsets, the file's inode).
_Segment = tuple[list[str], list[int], int]


def expand_patterns(patterns: Iterable[str]) -> list[str]:
    """Absolute paths of the regular files the glob patterns match now, rotated siblings left out."""
    found: dict[str, None] = {}
    for pattern in patterns:
        magic = glob.has_magic(pattern)
        matches = glob.glob(os.path.expanduser(pattern)) if magic else [pattern]
        for match in sorted(matches):
            path = os.path.abspath(os.path.expanduser(match))
            # A file named outright is tailed whatever its name; a glob skips rotated siblings.
            if (not magic or not _ROTATED_NAME.search(path)) and os.path.isfile(path):
                found[path] = None
    return list(found)


def _read_chunk(handle: int, offset: int, budget: int, final: bool) -> _Chunk:
    """Complete lines from ``offset`` within ``budget`` bytes of an open file descriptor.

    A trailing partial line is left for later unless ``final`` (the file will not grow any more) or
    a single line is longer than the whole budget (it would otherwise block the file forever).
    """
    size = os.fstat(handle).st_size
    if offset >= size:
        return _Chunk([], offset, True)
    data = os.pread(handle, min(budget, size - offset), offset)
    at_end = offset + len(data) >= size
    cut = data.rfind(b"\n") + 1
    if (final and at_end) or (cut == 0 and len(data) >= budget):
        cut = len(data)
    consumed = data[:cut]
    lines = consumed.decode("utf-8", errors="replace").split("\n")
    # A decoded "\n" is always the byte 0x0A and vice versa, so the byte pieces line up with the lines.
    starts = []
    position = offset
    for piece in consumed.split(b"\n"):
        starts.append(position)
        position += len(piece) + 1
    if lines and lines[-1] == "":
        lines.pop()
        starts.pop()
    return _Chunk(lines, offset + cut, at_end and cut == len(data), more=not at_end, starts=starts)


class LogTailer:
    """Reads appended lines of the configured files; stateless between polls but for its settings."""

    def __init__(
        self,
        patterns: Sequence[str],
        max_bytes: int = DEFAULT_MAX_BYTES,
        always: Sequence[str] = (),
    ) -> None:
        if max_bytes < 1:
            raise ValueError("max_bytes: must be at least 1")
        self.patterns = [*always, *patterns]
        self.max_bytes = max_bytes

    def files(self) -> list[str]:
        """The files tailed this cycle: globs are expanded again each time, so new files are picked up."""
        return expand_patterns(self.patterns)

    def poll(self, checkpoints: Mapping[str, tuple[int, int] | tuple[int, int, str]]) -> list[LogBatch]:
        """New records per file since ``checkpoints`` (path -> (inode, offset[, head])); files with nothing new are left out.

        Paths with a checkpoint that no longer match a pattern are still followed, so a rotated
        file whose new one is not created yet is still finished.
        """
        paths = dict.fromkeys(self.files())
        paths.update(dict.fromkeys(path for path in checkpoints if path in paths or self._configured(path)))
        batches = []
        for path in paths:
            stored = checkpoints.get(path)
            previous = Checkpoint(*stored) if stored is not None else None
            try:
                batch = self._read_path(path, previous)
            except OSError as exc:  # one unreadable file must not stop the others
                log.warning("cannot read log file %s: %s", path, exc)
                continue
            if batch is not None:
                batches.append(batch)
        return batches

    def _configured(self, path: str) -> bool:
        return any(
            fnmatch.fnmatch(path, os.path.abspath(os.path.expanduser(pattern))) for pattern in self.patterns
        )

    def _read_path(self, path: str, previous: Checkpoint | None) -> LogBatch | None:
        lines: list[_Segment] = []
        budget = self.max_bytes
        handle = _open(path)
        try:
            current = os.fstat(handle).st_ino if handle is not None else None
            position = previous
            if previous is not None and previous.inode != current:
                position, budget, done = self._finish_rotated(
                    path, previous, current is not None, lines, budget
                )
                if not done:
                    return _batch(path, previous, position, lines, more=budget <= 0)
            if handle is None or current is None:
                return _batch(path, previous, position, lines, more=False)
            truncated = position is not None and (
                os.fstat(handle).st_size < position.offset or not _starts_as(handle, position)
            )
            if position is not None and position.inode == current and truncated:
                copy = _copy_of(path, position)
                if copy is not None:
                    position, budget, done = self._finish_rotated(path, copy, True, lines, budget)
                    if not done:
                        return _batch(path, previous, position, lines, more=budget <= 0)
            if position is None or position.inode != current or truncated:
                position = Checkpoint(current, 0)  # new file, or truncated in place (copytruncate)
            chunk = _read_chunk(handle, position.offset, budget, final=False)
            lines.append((chunk.lines, chunk.starts, current))
            return _batch(path, previous, _checkpoint(handle, current, chunk.offset), lines, more=chunk.more)
        finally:
            if handle is not None:
                os.close(handle)

    def _finish_rotated(
        self, path: str, previous: Checkpoint, replaced: bool, lines: list[_Segment], budget: int
    ) -> tuple[Checkpoint | None, int, bool]:
        """Read the rest of the file ``path`` was before it rotated. Returns (position, budget left, done).

        Done means the old file is finished (or gone) and the new one should start at 0. While no
        new file exists the old one may still be written to, so it is read but not finished.
        """
        old = _open_inode(_rotation_candidates(path), previous.inode)
        if old is None:
            if replaced:
                log.warning("log file %s rotated and its old file is gone; unread lines of it are lost", path)
            return (None, budget, True) if replaced else (previous, budget, False)
        try:
            chunk = _read_chunk(old, previous.offset, budget, final=replaced)
            reached = _checkpoint(old, previous.inode, chunk.offset)
        finally:
            os.close(old)
        lines.append((chunk.lines, chunk.starts, previous.inode))
        budget -= chunk.offset - previous.offset
        if replaced and chunk.at_end:
            return None, budget, True
        return reached, budget, False


def _batch(
    path: str, previous: Checkpoint | None, position: Checkpoint | None, segments: list[_Segment], more: bool
) -> LogBatch | None:
    if position is None or (position == previous and not any(lines for lines, _, _ in segments)):
        return None
    now = now_ms()
    records: list[LogRecord] = []
    for lines, starts, inode in segments:  # parsed per file: a record never spans a rotation
        records.extend(parse_lines(lines, now, offsets=starts, inode=inode))
    return LogBatch(path, previous, position, records, more)


def _head(handle: int, offset: int) -> str:
    """The fingerprint of a file read up to ``offset``: a hash of its first bytes (at most
    HEAD_BYTES, never past ``offset``, so it only covers bytes already read and stored)."""
    if offset <= 0:
        return ""
    return hashlib.blake2b(os.pread(handle, min(offset, HEAD_BYTES), 0), digest_size=16).hexdigest()


def _checkpoint(handle: int, inode: int, offset: int) -> Checkpoint:
    return Checkpoint(inode, offset, _head(handle, offset))


def _starts_as(handle: int, position: Checkpoint) -> bool:
    """The open file still starts with the bytes it had at ``position`` (True when not known)."""
    return not position.head or _head(handle, position.offset) == position.head


def _copy_of(path: str, position: Checkpoint) -> Checkpoint | None:
    """After ``path`` was copied and truncated: the copy (a rotated sibling at least
    ``position.offset`` long that starts with the file's old first bytes), at the same offset.

    None when no such copy exists or the checkpoint has no fingerprint (the lines the copy took
    since that checkpoint are then lost)."""
    if not position.head:
        return None
    for candidate in _rotation_candidates(path):
        try:
            handle = os.open(candidate, os.O_RDONLY)
        except OSError:
            continue
        try:
            stat = os.fstat(handle)
            if (
                stat.st_ino != position.inode
                and stat.st_size >= position.offset
                and _starts_as(handle, position)
            ):
                return Checkpoint(stat.st_ino, position.offset, position.head)
        finally:
            os.close(handle)
    return None


def _open(path: str) -> int | None:
    try:
        return os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None


def _rotation_candidates(path: str) -> list[str]:
    """Where a renamed log usually goes: ``app.log.1``, ``app.log.0``, ``app.log-20240101``, ..."""
    found = [f"{path}.1", f"{path}.0"]
    for pattern in (f"{glob.escape(path)}.*", f"{glob.escape(path)}-*"):
        found.extend(sorted(glob.glob(pattern)))
    directory = os.path.dirname(path) or "."
    stem = os.path.basename(path).rsplit(".", 1)[0]
    found.extend(sorted(glob.glob(os.path.join(glob.escape(directory), f"{glob.escape(stem)}*"))))
    return [p for p in dict.fromkeys(found) if p != path and not p.endswith((".gz", ".bz2", ".xz", ".zst"))]


def _open_inode(candidates: Iterable[str], inode: int) -> int | None:
    """An open descriptor of the candidate file that has ``inode`` (checked after opening: no race)."""
    for candidate in candidates:
        try:
            if os.stat(candidate).st_ino != inode:
                continue
            handle = os.open(candidate, os.O_RDONLY)
        except OSError:
            continue
        if os.fstat(handle).st_ino == inode:
            return handle
        os.close(handle)
    return None
