"""Log archive actions: operators archive, verify and restore; admins delete hot rows and archives.

Each call checks the role on the server and leaves an audit row whatever the outcome, so a page,
a REST route and a hand-posted callback all get the same answer.
"""

from __future__ import annotations

import uuid
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from storage import Settings, Store
from storage import log_jobs as jobstore
from storage.log_archives import ArchiveError
from storage.logs import make_filter
from storage.users import Role
from tasks.actions.gate import Actor, audited

__all__ = [
    "ArchiveCriteria",
    "ArchiveError",
    "archive_logs",
    "cancel_job",
    "delete_archive",
    "delete_archived_rows",
    "job_view",
    "restore_archive",
    "start_archive",
    "start_delete_hot_rows",
    "start_restore",
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


# -- background jobs: the same role checks, the work in tasks.log_archive_jobs ---------------------


def _criteria_params(criteria: ArchiveCriteria) -> dict[str, Any]:
    """The criteria as ``store.logs.create_archive`` keywords (JSON-safe, for the job row)."""
    values = {k: v for k, v in asdict(criteria).items() if k != "extra" and v not in (None, (), "")}
    if "levels" in values:
        values["levels"] = list(values["levels"])
    return values


def _expected_entries(store: Store, criteria: ArchiveCriteria) -> int | None:
    """About how many entries the archive will hold, for the progress bar (a cheap count from the
    10-minute level counts when only time, level, host and source filter; None otherwise)."""
    if criteria.query or criteria.channel or criteria.request_id:
        return None
    frame = store.logs.histogram(
        levels=list(criteria.levels) or None, host=criteria.host, source=criteria.source,
        since=criteria.since, until=criteria.until, buckets=1,
    )  # fmt: skip
    return int(frame["count"].sum())


def _start(
    store: Store, settings: Settings, actor: Actor | None, needed: Role, kind: str,
    target: str, params: dict[str, Any], archive_id: int | None = None,
) -> jobstore.LogJob:  # fmt: skip
    from tasks import log_archive_jobs  # the runner: a thread here or a Celery worker

    job_id = uuid.uuid4().hex
    action = log_archive_jobs.AUDIT_ACTION[kind] + ".start"
    with audited(store, actor, needed, action, target, before=params) as after:
        job = jobstore.create_job(
            store.engine, job_id=job_id, kind=kind, username=actor.username if actor else None,
            params=params, archive_id=archive_id,
        )  # fmt: skip
        after["job"] = job_id
        log_archive_jobs.dispatch(store, settings, job_id)
    return job


def start_archive(
    store: Store, settings: Settings, actor: Actor | None, criteria: ArchiveCriteria
) -> jobstore.LogJob:
    """Start a background archive of the matching entries (operator). The hot rows stay."""
    make_filter(levels=list(criteria.levels) or None, since=criteria.since, until=criteria.until)  # 400s now
    params = {"criteria": _criteria_params(criteria), "expected": _expected_entries(store, criteria)}
    return _start(store, settings, actor, Role.OPERATOR, "archive", "log entries", params)


def start_restore(store: Store, settings: Settings, actor: Actor | None, archive_id: int) -> jobstore.LogJob:
    """Start a background restore of an archive into the hot table (operator)."""
    row = store.logs.archive(id=archive_id)  # KeyError for an unknown archive
    params = {"expected": int(row["entries"])}
    return _start(
        store, settings, actor, Role.OPERATOR, "restore", f"archive {archive_id}", params, archive_id
    )


def start_delete_hot_rows(
    store: Store, settings: Settings, actor: Actor | None, archive_id: int
) -> jobstore.LogJob:
    """Start deleting an archive's entries from the hot table, after it verifies (admin)."""
    row = store.logs.archive(id=archive_id)
    params = {"expected": int(row["entries"])}
    return _start(
        store, settings, actor, Role.ADMIN, "delete_hot", f"archive {archive_id}", params, archive_id
    )


def cancel_job(store: Store, actor: Actor | None, job_id: str) -> jobstore.LogJob:
    """Ask a running job to stop after its current batch (operator); LookupError when unknown.

    The job keeps nothing of its work: no partial archive, no half restore or delete."""
    job = jobstore.get_job(store.engine, job_id)
    if job is None:
        raise LookupError(f"job_id: no log job {job_id!r}")
    with audited(store, actor, Role.OPERATOR, "logs.cancel_job", f"job {job_id}") as after:
        after["requested"] = jobstore.request_cancel(store.engine, job_id)
    found = jobstore.get_job(store.engine, job_id)
    assert found is not None
    return found


def job_view(job: jobstore.LogJob) -> dict[str, Any]:
    """A job as JSON-ready fields (times in ISO 8601 UTC), for REST and the page."""
    view = asdict(job)
    view["created_at"], view["updated_at"] = job.created_at.isoformat(), job.updated_at.isoformat()
    return view
