"""Log archive actions: operators archive, verify and restore; admins delete hot rows and archives.

Each call checks the role on the server and leaves an audit row whatever the outcome, so a page,
a REST route and a hand-posted callback all get the same answer.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from storage import Store
from storage.log_archives import ArchiveError
from storage.users import Role
from tasks.actions.gate import Actor, audited

__all__ = [
    "ArchiveCriteria",
    "ArchiveError",
    "archive_logs",
    "delete_archive",
    "delete_archived_rows",
    "restore_archive",
    "verify_archive",
]


@dataclass(frozen=True)
class ArchiveCriteria:
    """What to archive: the Logs page's current filters over a time range."""

    since: str | int = "24h"
    until: str | int | None = None
    query: str | None = None
    levels: tuple[str, ...] = ()
    channel: str | None = None
    host: str | None = None
    source: str | None = None
    request_id: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def archive_logs(store: Store, actor: Actor | None, directory: Path, criteria: ArchiveCriteria) -> str:
    """Write the matching entries to a new archive (operator). The hot rows stay."""
    before = {k: v for k, v in asdict(criteria).items() if v not in (None, (), {}, "")}
    with audited(store, actor, Role.OPERATOR, "logs.archive", "log entries", before=before) as after:
        result = store.logs.create_archive(
            directory=directory,
            query=criteria.query,
            levels=list(criteria.levels) or None,
            channel=criteria.channel,
            host=criteria.host,
            source=criteria.source,
            request_id=criteria.request_id,
            since=criteria.since,
            until=criteria.until,
            created_by=actor.username if actor else None,
        )
        if result is None:
            after["entries"] = 0
            return "Nothing matched: no archive was written."
        after.update(archive_id=result.id, entries=result.entries, bytes=result.bytes, sha256=result.sha256)
    return f"Archived {result.entries:,} entries ({result.bytes:,} bytes), archive #{result.id}."


def verify_archive(store: Store, actor: Actor | None, archive_id: int) -> tuple[bool, str]:
    """Check an archive's checksum and entry count (operator)."""
    with audited(store, actor, Role.OPERATOR, "logs.verify_archive", f"archive {archive_id}") as after:
        store.logs.archive(id=archive_id)  # KeyError for an unknown archive, audited as an error
        ok, reason = store.logs.verify_archive(id=archive_id)
        after.update(ok=ok, reason=reason)
    return ok, (
        f"Archive #{archive_id} verified: {reason}." if ok else f"Archive #{archive_id} failed: {reason}."
    )


def restore_archive(store: Store, actor: Actor | None, archive_id: int) -> str:
    """Put an archive's entries back into the hot table without duplicates (operator)."""
    with audited(store, actor, Role.OPERATOR, "logs.restore_archive", f"archive {archive_id}") as after:
        store.logs.archive(id=archive_id)
        restored = store.logs.restore_archive(id=archive_id)
        after["restored"] = restored
    if restored == 0:
        return f"Archive #{archive_id}: every entry is already in the hot table; nothing restored."
    return f"Restored {restored:,} entries from archive #{archive_id}."


def delete_archived_rows(store: Store, actor: Actor | None, archive_id: int) -> str:
    """Delete an archive's entries from the hot table, only after it verifies (admin)."""
    with audited(store, actor, Role.ADMIN, "logs.delete_hot_rows", f"archive {archive_id}") as after:
        store.logs.archive(id=archive_id)
        deleted = store.logs.delete_hot_rows(id=archive_id)
        after["deleted"] = deleted
    return f"Archive #{archive_id} verified; {deleted:,} entries removed from the hot table."


def delete_archive(store: Store, actor: Actor | None, archive_id: int) -> str:
    """Remove an archive file and its record (admin)."""
    with audited(store, actor, Role.ADMIN, "logs.delete_archive", f"archive {archive_id}") as after:
        row = store.logs.archive(id=archive_id)
        store.logs.delete_archive(id=archive_id)
        after.update(path=row["path"], entries=row["entries"])
    return f"Archive #{archive_id} deleted."
