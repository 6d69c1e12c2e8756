"""Deadlocks: the "LATEST DETECTED DEADLOCK" section of ``SHOW ENGINE INNODB STATUS`` as a record."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

__all__ = ["Deadlock", "parse_deadlock"]


@dataclass(frozen=True)
class Deadlock:
    """The latest deadlock InnoDB reports; ``fingerprint`` is the same every time the same one is read."""

    detected_at: datetime | None
    victim: str | None
    transactions: list[dict[str, Any]]
    raw_text: str
    fingerprint: str


_SECTION = re.compile(r"LATEST DETECTED DEADLOCK\n-+\n(?P<body>.*?)\n-{3,}\n[A-Z][A-Z /]+\n", re.DOTALL)
_TRX_HEADER = re.compile(r"^\*\*\* \((?P<n>\d+)\) TRANSACTION:\s*$", re.MULTILINE)
_TRX_ID = re.compile(r"^TRANSACTION (?P<id>\d+)", re.MULTILINE)
_THREAD = re.compile(r"^(?:MySQL|MariaDB) thread id (?P<id>\d+),.*$", re.MULTILINE)
_LOCK_HEADING = re.compile(
    r"^\*\*\* (?:\(\d+\) )?(?P<what>HOLDS THE LOCK\(S\)|WAITING FOR THIS LOCK TO BE GRANTED|CONFLICTING WITH):\s*$"
)
_LOCK_LINE = re.compile(r"^(?P<kind>RECORD|TABLE) LOCKS? ")
_VICTIM = re.compile(r"^\*\*\* WE ROLL BACK TRANSACTION \((?P<n>\d+)\)", re.MULTILINE)
_LOCK_FIELDS = re.compile(
    r"(?:index (?P<index>\S+) of )?table (?P<table>`[^`]*`(?:\.`[^`]*`)?)\s+trx id (?P<trx>\d+)\s+(?:lock[_ ]mode )?(?P<mode>.*)$"
)
_SECTION_KEYS = {
    "HOLDS THE LOCK(S)": "holds",
    "WAITING FOR THIS LOCK TO BE GRANTED": "waits_for",
    "CONFLICTING WITH": "conflicts_with",
}


def parse_deadlock(status_text: str, utc_offset: timedelta = timedelta(0)) -> Deadlock | None:
    """The "LATEST DETECTED DEADLOCK" section of ``SHOW ENGINE INNODB STATUS``, or None if there is none.

    InnoDB prints the time in the server's local time: ``utc_offset`` (local minus UTC) turns it into UTC.
    Each transaction: number, trx_id, thread_id, query, and its locks (holds, waits_for, conflicts_with);
    MariaDB prints only the waited and conflicting locks, so "holds" also gets the conflicting locks
    that belong to that transaction's trx id.
    """
    section = _SECTION.search(status_text.replace("\r\n", "\n"))
    if section is None:
        return None
    body = section.group("body").strip("\n")
    victim = _VICTIM.search(body)
    transactions = _parse_transactions(body)
    for trx in transactions:
        trx["victim"] = victim is not None and str(trx["number"]) == victim.group("n")
    return Deadlock(
        detected_at=_deadlock_time(body, utc_offset),
        victim=victim.group("n") if victim else None,
        transactions=transactions,
        raw_text=body,
        fingerprint=hashlib.sha256(" ".join(body.split()).encode()).hexdigest(),
    )


def _deadlock_time(body: str, utc_offset: timedelta) -> datetime | None:
    try:
        local = datetime.strptime(body.lstrip()[:19], "%Y-%m-%d %H:%M:%S")
    except ValueError:
        return None
    return (local - utc_offset).replace(tzinfo=UTC)


def _parse_transactions(body: str) -> list[dict[str, Any]]:
    headers = list(_TRX_HEADER.finditer(body))
    victim = _VICTIM.search(body)
    end_of_last = victim.start() if victim else len(body)
    transactions = []
    for position, header in enumerate(headers):
        end = headers[position + 1].start() if position + 1 < len(headers) else end_of_last
        transactions.append(_parse_transaction(int(header.group("n")), body[header.end() : end]))
    by_trx = {trx["trx_id"]: trx for trx in transactions}
    for trx in transactions:
        for lock in trx["conflicts_with"]:
            holder = by_trx.get(lock.get("trx_id"))
            if holder is not None and lock not in holder["holds"]:
                holder["holds"].append(lock)
    return transactions


def _parse_transaction(number: int, text: str) -> dict[str, Any]:
    trx_id = _TRX_ID.search(text)
    thread = _THREAD.search(text)
    query_lines: list[str] = []
    locks: dict[str, list[dict[str, Any]]] = {"holds": [], "waits_for": [], "conflicts_with": []}
    current: str | None = None
    after_thread = False
    for line in text.split("\n"):
        heading = _LOCK_HEADING.match(line)
        if heading:
            current, after_thread = _SECTION_KEYS[heading.group("what")], False
        elif thread and line == thread.group(0):
            after_thread = True
        elif after_thread and current is None:
            query_lines.append(line)
        elif current is not None and _LOCK_LINE.match(line):
            locks[current].append(_parse_lock(line))
    return {
        "number": number,
        "trx_id": trx_id.group("id") if trx_id else None,
        "thread_id": int(thread.group("id")) if thread else None,
        "query": "\n".join(query_lines).strip() or None,
        **locks,
    }


def _parse_lock(line: str) -> dict[str, Any]:
    kind = _LOCK_LINE.match(line)
    fields = _LOCK_FIELDS.search(line)
    lock: dict[str, Any] = {"kind": kind.group("kind").lower() if kind else None, "text": line.strip()}
    if fields:
        lock.update(
            table=fields.group("table"),
            index=fields.group("index"),
            trx_id=fields.group("trx"),
            mode=fields.group("mode").strip(),
        )
    return lock
