"""Cache: Redis statistics, the key browser, clears (with dry runs and jobs), policies and history.

Every change goes through ``tasks.actions.cache`` (role check + audit there); a clear answers 202
with a job to follow (``GET /api/cache/jobs/{id}``) and cancel (``DELETE``).
"""

from __future__ import annotations

import re
from typing import Any, Literal

import flask
from pydantic import BaseModel, Field

from dashboard.api.core import BadParameter, Query, TimeText, api, iso, responses, spec, validated
from dashboard.services import current_actor, live_settings, services
from storage.cache import JobConflict
from tasks import cache_types as rkeys
from tasks.actions import cache as actions

__all__ = [
    "cache_cancel_job",
    "cache_clear",
    "cache_clear_tag",
    "cache_eviction_history",
    "cache_job",
    "cache_keys",
    "cache_policies",
    "cache_set_policies",
    "cache_statistics",
]

TAGS = ["cache"]
_NAMED = re.compile(r"^([a-z_]+): ")  # an action's message that already names its parameter


def _target(name: str) -> str:
    from tasks.cache_jobs import target_url

    try:
        target_url(live_settings(), name)
    except LookupError:
        raise BadParameter("target", f"target: unknown Redis target {name!r}", status=404) from None
    return name


def _call(parameter: str, call: Any) -> Any:
    """Run an action, turning its errors for people into the API's error shape."""
    try:
        return call()
    except ValueError as exc:
        text = str(exc)
        named = _NAMED.match(text)
        if named:
            raise BadParameter(named.group(1), text) from None
        raise BadParameter(parameter, f"{parameter}: {text}") from None
    except (rkeys.KeyGone, rkeys.TagNotFound) as exc:
        raise BadParameter(parameter, f"{parameter}: {exc}", status=404) from None
    except JobConflict as exc:
        raise BadParameter("target", f"target: {exc}", status=409) from None
    except rkeys.ConfigUnavailable as exc:
        raise BadParameter("target", f"target: {exc}", status=409) from None
    except actions.TargetDown as exc:
        raise BadParameter("target", f"target: {exc}", status=503) from None


# -- models ---------------------------------------------------------------------------------------


class TargetQuery(Query):
    target: str = Field(description="a configured Redis target's name")


class Statistics(BaseModel):
    target: str
    collected_at: str | None = Field(description="when the newest snapshot was collected (UTC)")
    up: bool | None = Field(description="whether the last collection reached the server")
    maxmemory_policy: str | None
    keys_per_db: dict[str, dict[str, int]]
    metrics: dict[str, float] = Field(description="the newest value of each redis.* metric")
    info: dict[str, Any]


class KeysQuery(Query):
    target: str = Field(description="a configured Redis target's name")
    db: int = Field(0, ge=0, le=1023, description="database number")
    pattern: str = Field("*", min_length=1, max_length=512, description="SCAN MATCH glob")
    cursor: int = Field(0, ge=0, description="0 to start; then the previous page's next_cursor")
    type: Literal["string", "hash", "list", "set", "zset", "stream"] | None = None
    count: int = Field(100, ge=1, le=1000, description="keys per page (about)")


class KeyOut(BaseModel):
    key: str
    key_hex: str
    type: str
    ttl_seconds: float | None
    size: int | None
    memory_bytes: int | None


class KeysOut(BaseModel):
    keys: list[KeyOut]
    next_cursor: int = Field(description="0 when the scan is complete")
    examined: int
    stopped: str = Field(description="page, cap (examined enough), time (budget spent) or end")


class ClearBody(Query):
    target: str = Field(description="a configured Redis target's name")
    db: int = Field(0, ge=0, le=1023)
    pattern: str = Field(max_length=512, description="SCAN glob; empty or * is refused (that is a flush)")
    dry_run: bool = Field(True, description="true: only count what would be removed")
    max_keys: int | None = Field(None, ge=1, description="stop after removing this many keys")


class TagBody(Query):
    target: str = Field(description="a configured Redis target's name")
    db: int = Field(0, ge=0, le=1023)
    dry_run: bool = True
    max_keys: int | None = Field(None, ge=1)


class DryRunOut(BaseModel):
    matches: int
    sample: list[str]
    memory_bytes: int
    scanned: int
    complete: bool = Field(description="false: the scan stopped at its cap and matches is a lower bound")
    tag_set: str | None = None


class JobOut(BaseModel):
    id: str
    target: str
    kind: str
    status: str = Field(description="queued, running, done, cancelled or failed")
    username: str | None
    created_at: str
    updated_at: str
    params: dict[str, Any]
    progress: dict[str, Any]
    result: dict[str, Any] | None
    error: str | None
    cancel_requested: bool


class PolicyOut(BaseModel):
    target: str
    maxmemory_bytes: int = Field(description="0: no limit")
    policy: str
    policies: list[str] = Field(description="the policies this server accepts")
    used_memory_bytes: int


class PolicyBody(Query):
    target: str
    maxmemory: str | None = Field(None, description="bytes or a size like 512mb, 2gb; 0 is no limit")
    policy: str | None = Field(None, description="one of the server's policies")


class EvictionHistoryQuery(Query):
    target: str | None = Field(None, description="one target's history; default every target's")
    since: TimeText = Field("30d", description="a duration ago (30d) or ISO 8601")
    until: TimeText | None = None
    limit: int = Field(200, ge=1, le=5000)


class HistoryRow(BaseModel):
    id: int
    target: str
    ts: str
    action: str = Field(description="clear_pattern, clear_tag, flush_db, policy_change or eviction_rule")
    pattern: str | None
    keys_affected: int | None
    username: str | None
    detail: dict[str, Any] | None


class HistoryOut(BaseModel):
    history: list[HistoryRow]


# -- routes ---------------------------------------------------------------------------------------


@api.get("/cache/statistics")
@spec.validate(query=TargetQuery, resp=responses(Statistics, 404), tags=TAGS)
def cache_statistics() -> flask.Response:
    """The newest collected snapshot of a Redis target and the newest value of each of its metrics."""
    q = validated(TargetQuery)
    store = services().store
    name = _target(q.target)
    stats = store.cache.latest_stats(target=name)
    metrics: dict[str, float] = {}
    for metric in rkeys.REDIS_METRICS:
        try:
            frame = store.latest(metric, host=name, max_age="1h")
        except ValueError:
            continue
        if len(frame) == 1:
            metrics[metric] = float(frame["value"].iloc[0])
    up = metrics.get("redis.up")
    return flask.jsonify(
        Statistics(
            target=name,
            collected_at=iso(stats.ts) if stats else None,
            up=None if up is None else up >= 1,
            maxmemory_policy=stats.maxmemory_policy if stats else None,
            keys_per_db=stats.keys_per_db if stats else {},
            metrics=metrics,
            info=stats.info if stats else {},
        ).model_dump()
    )


@api.get("/cache/keys")
@spec.validate(query=KeysQuery, resp=responses(KeysOut, 404, 503), tags=TAGS)
def cache_keys() -> flask.Response:
    """One page of keys (SCAN, never KEYS) with type, TTL, size and memory; follow ``next_cursor``."""
    q = validated(KeysQuery)
    settings, store = live_settings(), services().store
    page = _call(
        "pattern",
        lambda: actions.browse_keys(
            store,
            settings,
            current_actor(),
            target=_target(q.target),
            db=q.db,
            pattern=q.pattern,
            cursor=q.cursor,
            type_filter=q.type,
            page_size=q.count,
        ),
    )
    return flask.jsonify(
        KeysOut(
            keys=[KeyOut(**row.__dict__) for row in page.rows],
            next_cursor=page.cursor,
            examined=page.examined,
            stopped=page.stopped,
        ).model_dump()
    )


def _dry(dry: rkeys.DryRun, tag_set: str | None = None) -> dict[str, Any]:
    return DryRunOut(
        matches=dry.matches,
        sample=dry.sample,
        memory_bytes=dry.memory_bytes,
        scanned=dry.scanned,
        complete=dry.complete,
        tag_set=tag_set,
    ).model_dump()


def _job(job: Any) -> dict[str, Any]:
    return JobOut(**actions.job_view(job)).model_dump()


@api.post("/cache/clear")
@spec.validate(json=ClearBody, resp=responses(DryRunOut, 404, 409, 503, HTTP_202=JobOut), tags=TAGS)
def cache_clear() -> tuple[flask.Response, int]:
    """Clear the keys matching a pattern: ``dry_run`` (the default) counts them; otherwise a job starts."""
    body = validated(ClearBody, "json")
    settings, store, actor = live_settings(), services().store, current_actor()
    target = _target(body.target)
    if body.dry_run:
        dry = _call(
            "pattern",
            lambda: actions.preview_clear(
                store, settings, actor, target=target, db=body.db, pattern=body.pattern
            ),
        )
        return flask.jsonify(_dry(dry)), 200
    job = _call(
        "pattern",
        lambda: actions.start_clear(
            store, settings, actor, target=target, db=body.db, pattern=body.pattern, max_keys=body.max_keys
        ),
    )
    return flask.jsonify(_job(job)), 202


@api.post("/cache/clear/<tag>")
@spec.validate(json=TagBody, resp=responses(DryRunOut, 404, 409, 503, HTTP_202=JobOut), tags=TAGS)
def cache_clear_tag(tag: str) -> tuple[flask.Response, int]:
    """Clear the keys a tag set lists, and the set: ``dry_run`` (the default) counts them first."""
    body = validated(TagBody, "json")
    settings, store, actor = live_settings(), services().store, current_actor()
    target = _target(body.target)
    if body.dry_run:
        tag_set, dry = _call(
            "tag",
            lambda: actions.preview_tag_clear(store, settings, actor, target=target, db=body.db, tag=tag),
        )
        return flask.jsonify(_dry(dry, tag_set)), 200
    job = _call(
        "tag",
        lambda: actions.start_tag_clear(
            store, settings, actor, target=target, db=body.db, tag=tag, max_keys=body.max_keys
        ),
    )
    return flask.jsonify(_job(job)), 202


def _policy(target: str, policy: rkeys.MemoryPolicy) -> dict[str, Any]:
    return PolicyOut(
        target=target,
        maxmemory_bytes=policy.maxmemory_bytes,
        policy=policy.policy,
        policies=list(policy.policies),
        used_memory_bytes=policy.used_memory_bytes,
    ).model_dump()


@api.get("/cache/policies")
@spec.validate(query=TargetQuery, resp=responses(PolicyOut, 404, 409, 503), tags=TAGS)
def cache_policies() -> flask.Response:
    """maxmemory, maxmemory-policy and the policies the server accepts (409 when it refuses CONFIG)."""
    q = validated(TargetQuery)
    target = _target(q.target)
    found = _call(
        "target",
        lambda: actions.read_policy(services().store, live_settings(), current_actor(), target=target),
    )
    return flask.jsonify(_policy(target, found))


@api.put("/cache/policies")
@spec.validate(json=PolicyBody, resp=responses(PolicyOut, 404, 409, 503), tags=TAGS)
def cache_set_policies() -> flask.Response:
    """Change maxmemory and/or maxmemory-policy (admin); validated against the server's own list."""
    body = validated(PolicyBody, "json")
    target = _target(body.target)
    found = _call(
        "maxmemory",
        lambda: actions.change_policy(
            services().store,
            live_settings(),
            current_actor(),
            target=target,
            maxmemory=body.maxmemory,
            policy=body.policy,
        ),
    )
    return flask.jsonify(_policy(target, found))


@api.get("/cache/eviction-history")
@spec.validate(query=EvictionHistoryQuery, resp=responses(HistoryOut), tags=TAGS)
def cache_eviction_history() -> flask.Response:
    """Clears, tag clears, flushes, policy changes and eviction-rule runs, newest first."""
    q = validated(EvictionHistoryQuery)
    try:
        frame = services().store.cache.history(target=q.target, since=q.since, until=q.until, limit=q.limit)
    except ValueError as exc:
        raise BadParameter("since", f"since: {exc}") from None
    rows = [
        HistoryRow(
            id=int(row["id"]),
            target=row["target"],
            ts=iso(row["ts"].to_pydatetime()),
            action=row["action"],
            pattern=row["pattern"],
            keys_affected=None if row["keys_affected"] is None else int(row["keys_affected"]),
            username=row["username"],
            detail=row["detail"],
        )
        for row in frame.astype(object).where(frame.notna(), None).to_dict("records")
    ]
    return flask.jsonify(HistoryOut(history=rows).model_dump())


@api.get("/cache/jobs/<job_id>")
@spec.validate(resp=responses(JobOut, 404), tags=TAGS)
def cache_job(job_id: str) -> flask.Response:
    """A background clear or summary: status, progress, and its outcome once finished."""
    job = services().store.cache.job(job_id=job_id)
    if job is None:
        raise BadParameter("job_id", f"job_id: no cache job {job_id!r}", status=404)
    return flask.jsonify(_job(job))


@api.delete("/cache/jobs/<job_id>")
@spec.validate(resp=responses(JobOut, 404), tags=TAGS)
def cache_cancel_job(job_id: str) -> flask.Response:
    """Cancel a running job: it stops after its current batch (operator)."""
    try:
        job = actions.cancel_job(services().store, current_actor(), job_id=job_id)
    except LookupError:
        raise BadParameter("job_id", f"job_id: no cache job {job_id!r}", status=404) from None
    return flask.jsonify(_job(job))
