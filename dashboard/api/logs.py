"""Logs: search (cursor paging), one entry with its file context, levels, channels, and archives.

Archive changes go through ``tasks.actions.logs`` (role check + audit there): operators archive and
restore, admins delete.
"""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

import flask
import pandas as pd
from pydantic import BaseModel, Field

from dashboard.api.core import BadParameter, Query, TimeText, api, iso, responses, spec, validated
from dashboard.services import current_actor, services
from storage.logs import LOG_LEVELS
from tasks.actions import logs as actions

__all__ = [
    "log_archive_create",
    "log_archive_delete_hot_rows",
    "log_archive_download",
    "log_archive_restore",
    "log_archives",
    "log_cancel_job",
    "log_channels",
    "log_entry",
    "log_job",
    "log_levels",
    "log_search",
    "log_search_post",
]

TAGS = ["logs"]
_TIME = "A duration ago (`15m`, `24h`, `7d`), `now`, or an ISO 8601 time (UTC unless it has an offset)."


# -- models ---------------------------------------------------------------------------------------


class Criteria(Query):
    """The Logs page's filters."""

    q: str | None = Field(None, max_length=1000, description='Words (all must appear) and "quoted phrases".')
    level: list[str] | None = Field(
        None,
        description="Levels to include (repeat or comma-separate).",
        json_schema_extra={"items": {"enum": list(LOG_LEVELS)}},
    )
    channel: str | None = Field(None, max_length=191, description="Logger / channel, exactly.")
    host: str | None = Field(None, max_length=191, description="Host, exactly.")
    source: str | None = Field(None, max_length=255, description="Source file path, exactly.")
    request_id: str | None = Field(None, max_length=64, description="Request id, exactly.")
    since: TimeText = Field("24h", description=f"Start (inclusive). {_TIME}")
    until: TimeText | None = Field(None, description=f"End (exclusive). {_TIME} Default: now.")


class SearchQuery(Criteria):
    limit: int = Field(100, ge=1, le=1000, description="Entries per page.")
    cursor: str | None = Field(None, max_length=200, description="`next_cursor` of the previous page.")


class LogEntryOut(BaseModel):
    id: int
    ts: str
    host: str
    source: str
    level: str
    channel: str | None
    message: str
    context: Any = None
    request_id: str | None
    file_offset: int | None = None
    position: int | None = Field(None, description="In a context list: lines from the entry (0 = it).")


class SearchOut(BaseModel):
    entries: list[LogEntryOut]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page; null on the last page.")


class EntryQuery(Query):
    context: int = Field(0, ge=0, le=500, description="Lines of the same file to include before and after.")


class EntryOut(BaseModel):
    entry: LogEntryOut
    before: list[LogEntryOut]
    after: list[LogEntryOut]


class RangeQuery(Query):
    since: TimeText = Field("24h", description=f"Start (inclusive). {_TIME}")
    until: TimeText | None = Field(None, description=f"End (exclusive). {_TIME}")
    host: str | None = Field(None, max_length=191)


class LevelCount(BaseModel):
    level: str
    count: int


class LevelsOut(BaseModel):
    levels: list[LevelCount]


class ChannelsQuery(Query):
    since: TimeText = Field("7d", description=f"Seen since. {_TIME}")


class ChannelsOut(BaseModel):
    channels: list[str]


class ArchiveOut(BaseModel):
    id: int
    created_at: str
    from_ts: str
    to_ts: str
    entries: int
    bytes: int
    sha256: str | None
    status: str = Field(description="written, verified, corrupt or missing")
    verified_at: str | None
    hot_deleted_at: str | None
    created_by: str | None
    download: str


class ArchivesOut(BaseModel):
    archives: list[ArchiveOut]


class NoQuery(Query):
    """No parameters."""


class JobOut(BaseModel):
    id: str
    kind: str = Field(description="archive, restore or delete_hot")
    status: str = Field(description="queued, running, done, cancelled or failed")
    username: str | None
    archive_id: int | None
    created_at: str
    updated_at: str
    params: dict[str, Any]
    progress: dict[str, Any] = Field(description="done and (when known) total entries")
    result: dict[str, Any] | None
    error: str | None
    cancel_requested: bool


# -- helpers ----------------------------------------------------------------------------------------


def _levels(raw: list[str] | None) -> list[str] | None:
    if not raw:
        return None
    chosen = [part.strip().lower() for item in raw for part in item.split(",") if part.strip()]
    for level in chosen:
        if level not in LOG_LEVELS:
            raise BadParameter("level", f"level: {level!r} is not one of {', '.join(LOG_LEVELS)}")
    return chosen or None


def _criteria(args: Criteria) -> dict[str, Any]:
    return {
        "query": args.q,
        "levels": _levels(args.level),
        "channel": args.channel,
        "host": args.host,
        "source": args.source,
        "request_id": args.request_id,
        "since": args.since,
        "until": args.until,
    }


def _entry_dict(row: Any) -> dict[str, Any]:
    ts = row["ts"]
    offset = row.get("file_offset")
    position = row.get("position")
    return {
        "id": int(row["id"]),
        "ts": iso(ts.to_pydatetime() if isinstance(ts, pd.Timestamp) else ts),
        "host": row["host"],
        "source": row["source"],
        "level": row["level"],
        "channel": row["channel"],
        "message": row["message"],
        "context": row["context"],
        "request_id": row["request_id"],
        "file_offset": None if offset is None or offset != offset else int(offset),
        "position": None if position is None else int(position),
    }


def _encode_cursor(ts_ms: int, entry_id: int) -> str:
    return base64.urlsafe_b64encode(json.dumps([ts_ms, entry_id]).encode()).decode()


def _decode_cursor(text: str) -> tuple[int, int]:
    try:
        ts_ms, entry_id = json.loads(base64.urlsafe_b64decode(text.encode()))
        return int(ts_ms), int(entry_id)
    except (ValueError, TypeError, binascii.Error):
        raise BadParameter("cursor", "cursor: not a cursor this API returned") from None


def _run_search(args: SearchQuery) -> dict[str, Any]:
    cursor = _decode_cursor(args.cursor) if args.cursor else None
    try:
        frame = services().store.logs.search(**_criteria(args), limit=args.limit, cursor=cursor)
    except ValueError as exc:
        text = str(exc)
        parameter = text.split(":", 1)[0] if ":" in text else "q"
        parameter = {"until": "until", "since": "since", "level": "level"}.get(parameter, parameter)
        raise BadParameter(parameter, text) from None
    entries = [_entry_dict(row) for row in frame.to_dict("records")]
    next_cursor = None
    if len(entries) == args.limit:
        last = frame.iloc[-1]
        next_cursor = _encode_cursor(int(last["ts"].value // 1_000_000), int(last["id"]))
    return {"entries": entries, "next_cursor": next_cursor}


def _archive_dict(row: dict[str, Any]) -> dict[str, Any]:
    def when(value: Any) -> str | None:
        if value is None or (isinstance(value, float) and value != value) or value is pd.NaT:
            return None
        stamp = pd.Timestamp(value)
        if stamp.tzinfo is None:
            stamp = stamp.tz_localize("UTC")
        return iso(stamp.to_pydatetime())

    return {
        "id": int(row["id"]),
        "created_at": when(row["created_at"]) or "",
        "from_ts": iso(pd.Timestamp(int(row["from_ts"]), unit="ms", tz="UTC").to_pydatetime()),
        "to_ts": iso(pd.Timestamp(int(row["to_ts"]), unit="ms", tz="UTC").to_pydatetime()),
        "entries": int(row["entries"]),
        "bytes": int(row["bytes"]),
        "sha256": row["sha256"],
        "status": row["status"],
        "verified_at": when(row["verified_at"]),
        "hot_deleted_at": when(row["hot_deleted_at"]),
        "created_by": row["created_by"],
        "download": f"/api/logs/archives/{int(row['id'])}/download",
    }


def _archive(archive_id: int) -> dict[str, Any]:
    try:
        return services().store.logs.archive(id=archive_id)
    except KeyError:
        raise BadParameter("id", f"id: no log archive {archive_id}", status=404) from None


# -- routes -----------------------------------------------------------------------------------------


@api.get("/logs")
@spec.validate(query=SearchQuery, resp=responses(SearchOut), tags=TAGS)
def log_search() -> flask.Response:
    """Log entries matching the filters, newest first, one page at a time (`next_cursor`)."""
    return flask.jsonify(_run_search(validated(SearchQuery)))


@api.post("/logs/search")
@spec.validate(json=SearchQuery, resp=responses(SearchOut), tags=TAGS)
def log_search_post() -> flask.Response:
    """The same search with the criteria in a JSON body (long queries, scripts)."""
    return flask.jsonify(_run_search(validated(SearchQuery, "json")))


@api.get("/logs/levels")
@spec.validate(query=RangeQuery, resp=responses(LevelsOut), tags=TAGS)
def log_levels() -> flask.Response:
    """Entries per level in the window, every known level listed in severity order."""
    args = validated(RangeQuery)
    try:
        counts = services().store.logs.levels(since=args.since, until=args.until, host=args.host)
    except ValueError as exc:
        raise BadParameter(str(exc).split(":", 1)[0], str(exc)) from None
    return flask.jsonify(levels=[{"level": level, "count": n} for level, n in counts.items()])


@api.get("/logs/channels")
@spec.validate(query=ChannelsQuery, resp=responses(ChannelsOut), tags=TAGS)
def log_channels() -> flask.Response:
    """Channels (logger names, syslog apps) seen in the window, sorted."""
    args = validated(ChannelsQuery)
    try:
        return flask.jsonify(channels=services().store.logs.channels(since=args.since))
    except ValueError as exc:
        raise BadParameter("since", str(exc)) from None


@api.get("/logs/archives")
@spec.validate(query=NoQuery, resp=responses(ArchivesOut), tags=TAGS)
def log_archives() -> flask.Response:
    """Every log archive, newest first: range, entries, size, checksum state."""
    frame = services().store.logs.archives()
    return flask.jsonify(archives=[_archive_dict(row) for row in frame.to_dict("records")])


def _job(job: Any) -> dict[str, Any]:
    return JobOut(**actions.job_view(job)).model_dump()


def _started(start: Any) -> tuple[flask.Response, int]:
    """Run an action that starts a job; 202 with the job to follow at ``/api/logs/jobs/{id}``."""
    try:
        job = start()
    except KeyError as exc:
        raise BadParameter("id", f"id: no log archive {exc.args[0]}", status=404) from None
    except ValueError as exc:
        raise BadParameter(str(exc).split(":", 1)[0], str(exc)) from None
    response = flask.jsonify(_job(job))
    response.headers["Location"] = f"/api/logs/jobs/{job.id}"
    return response, 202


@api.post("/logs/archives/create")
@spec.validate(json=Criteria, resp=responses(None, HTTP_202=JobOut), tags=TAGS)
def log_archive_create() -> tuple[flask.Response, int]:
    """Start archiving the entries matching the criteria to gzip JSON Lines (operator); the hot rows
    stay. Answers 202 with the job; the new archive's id is in its ``result`` once done."""
    args = validated(Criteria, "json")
    criteria = actions.ArchiveCriteria(
        since=args.since,
        until=args.until,
        query=args.q,
        levels=tuple(_levels(args.level) or ()),
        channel=args.channel,
        host=args.host,
        source=args.source,
        request_id=args.request_id,
    )
    store, settings = services().store, services().settings
    return _started(lambda: actions.start_archive(store, settings, current_actor(), criteria))


@api.post("/logs/archives/<int:archive_id>/restore")
@spec.validate(query=NoQuery, resp=responses(None, 404, HTTP_202=JobOut), tags=TAGS)
def log_archive_restore(archive_id: int) -> tuple[flask.Response, int]:
    """Start putting a verified archive's entries back into the hot table (operator); entries still
    there are skipped. A corrupted archive makes the job fail with the reason, restoring nothing."""
    store, settings = services().store, services().settings
    return _started(lambda: actions.start_restore(store, settings, current_actor(), archive_id))


@api.post("/logs/archives/<int:archive_id>/delete-hot-rows")
@spec.validate(query=NoQuery, resp=responses(None, 404, HTTP_202=JobOut), tags=TAGS)
def log_archive_delete_hot_rows(archive_id: int) -> tuple[flask.Response, int]:
    """Start deleting an archive's entries from the hot table (admin); the job verifies the archive
    first and deletes nothing when it fails."""
    store, settings = services().store, services().settings
    return _started(lambda: actions.start_delete_hot_rows(store, settings, current_actor(), archive_id))


@api.get("/logs/jobs/<job_id>")
@spec.validate(query=NoQuery, resp=responses(JobOut, 404), tags=TAGS)
def log_job(job_id: str) -> flask.Response:
    """A background archive, restore or delete: status, progress, and its outcome once finished."""
    job = services().store.logs.job(id=job_id)
    if job is None:
        raise BadParameter("job_id", f"job_id: no log job {job_id!r}", status=404)
    return flask.jsonify(_job(job))


@api.delete("/logs/jobs/<job_id>")
@spec.validate(query=NoQuery, resp=responses(JobOut, 404), tags=TAGS)
def log_cancel_job(job_id: str) -> flask.Response:
    """Cancel a running job (operator): it stops after its current batch and keeps nothing."""
    try:
        job = actions.cancel_job(services().store, current_actor(), job_id)
    except LookupError:
        raise BadParameter("job_id", f"job_id: no log job {job_id!r}", status=404) from None
    return flask.jsonify(_job(job))


@api.get("/logs/archives/<int:archive_id>/download")
@spec.validate(query=NoQuery, resp=responses(None, 404), tags=TAGS)
def log_archive_download(archive_id: int) -> flask.Response:
    """The archive file itself (gzip JSON Lines); its SHA-256 is in the `X-Checksum-SHA256` header."""
    row = _archive(archive_id)
    path = Path(row["path"])
    if not path.is_file():
        raise BadParameter("id", f"id: the file of archive {archive_id} is missing", status=404)
    headers = {
        "Content-Disposition": f'attachment; filename="{path.name}"',
        "Content-Length": str(path.stat().st_size),
        "Cache-Control": "no-store",
    }
    if row["sha256"]:
        headers["X-Checksum-SHA256"] = row["sha256"]
    return flask.Response(_file_chunks(path), mimetype="application/gzip", headers=headers)


def _file_chunks(path: Path) -> Any:
    with open(path, "rb") as handle:
        while block := handle.read(1 << 16):
            yield block


@api.get("/logs/<int:entry_id>")
@spec.validate(query=EntryQuery, resp=responses(EntryOut, 404), tags=TAGS)
def log_entry(entry_id: int) -> flask.Response:
    """One entry with every field, and `context` lines before and after it from the same file, in file order."""
    args = validated(EntryQuery)
    try:
        frame = services().store.logs.context(id=entry_id, before=args.context, after=args.context)
    except KeyError:
        raise BadParameter("id", f"id: no log entry {entry_id}", status=404) from None
    rows = [_entry_dict(row) for row in frame.to_dict("records")]
    return flask.jsonify(
        entry=next(row for row in rows if row["position"] == 0),
        before=[row for row in rows if row["position"] < 0],
        after=[row for row in rows if row["position"] > 0],
    )
