"""Clear by pattern and by tag (dry run, then confirm; a background job with progress and cancel),
and flush a database (admin, after typing its number)."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, ctx, dcc, html, no_update

from dashboard.pages.cache import ids
from dashboard.pages.cache.common import can, fmt_bytes, message, role_note
from dashboard.services import current_actor, live_settings, services
from storage.cache import CacheJob, JobConflict
from storage.users import Role
from tasks.actions import PermissionDenied
from tasks.actions import cache as actions

__all__ = ["clear_section", "register_callbacks"]

POLL_MS = 400
_HIDDEN = {"display": "none"}
_STOPPED = {
    "done": "finished",
    "cap": "stopped at the key cap",
    "cancelled": "cancelled",
    "error": "stopped by an error",
}


def clear_section(target: str | None, db: int) -> html.Div:
    operator, admin = can(Role.OPERATOR), can(Role.ADMIN)
    job = (
        services().store.cache.latest_job(target=target, kinds=["clear_pattern", "clear_tag"])
        if target
        else None
    )
    running = job is not None and not job.finished
    return html.Div(
        [
            html.H2("Clear keys", className="h5 mt-4", id="cache-clear"),
            dbc.Row(
                [
                    _form(
                        "By pattern",
                        (
                            ids.CLEAR_PATTERN,
                            ids.CLEAR_PREVIEW,
                            ids.CLEAR_PREVIEW_RESULT,
                            ids.CLEAR_CONFIRM,
                            ids.CLEAR_PREVIEWED,
                        ),
                        "e.g. session:*",
                        "SCAN + UNLINK in batches. An empty pattern or * is refused: use Flush for that.",
                        "Clear",
                        operator,
                    ),
                    _form(
                        "By tag",
                        (
                            ids.TAG_NAME,
                            ids.TAG_PREVIEW,
                            ids.TAG_PREVIEW_RESULT,
                            ids.TAG_CONFIRM,
                            ids.TAG_PREVIEWED,
                        ),
                        "tag name, e.g. posts",
                        f"The tag's set of keys is {live_settings().cache_tag_set_template!s} "
                        "(VITALS_CACHE_TAG_SET_TEMPLATE); the set goes too.",
                        "Clear tag",
                        operator,
                    ),
                ]
            ),
            dcc.Store(id=ids.CLEAR_JOB, data=job.id if job else None),
            dcc.Interval(id=ids.CLEAR_POLL, interval=POLL_MS, disabled=not running),
            html.Div(
                [
                    html.Div(id=ids.CLEAR_PROGRESS, children=job_progress(job)),
                    dbc.Button(
                        "Cancel",
                        id=ids.CLEAR_CANCEL,
                        color="warning",
                        size="sm",
                        n_clicks=0,
                        disabled=not (running and operator),
                        style={} if running else _HIDDEN,
                    ),
                ],
                className="mb-2",
            ),
            html.Div(id=ids.CLEAR_MESSAGE),
            html.H3("Flush database", className="h6 mt-3"),
            dbc.InputGroup(
                [
                    dbc.Input(
                        id=ids.FLUSH_CONFIRM_TEXT,
                        placeholder=f"type {db} to flush db {db}",
                        disabled=not admin,
                    ),
                    dbc.Button(
                        "Flush database",
                        id=ids.FLUSH_BUTTON,
                        color="danger",
                        outline=True,
                        n_clicks=0,
                        disabled=not admin,
                    ),
                ],
                style={"maxWidth": "480px"},
            ),
            role_note(Role.ADMIN),
            html.Div(id=ids.FLUSH_MESSAGE, className="mt-2"),
        ]
    )


def _form(
    label: str,
    form_ids: tuple[str, str, str, str, str],
    placeholder: str,
    help_text: str,
    confirm: str,
    operator: bool,
) -> dbc.Col:
    """One dry-run-then-confirm form: the input, its Dry run button, the answer, the confirm button."""
    field, preview, result, confirm_id, previewed = form_ids
    return dbc.Col(
        [
            dbc.Label(label, html_for=field),
            dbc.InputGroup(
                [
                    dbc.Input(id=field, placeholder=placeholder, disabled=not operator),
                    dbc.Button("Dry run", id=preview, color="secondary", n_clicks=0, disabled=not operator),
                ]
            ),
            dbc.FormText(help_text),
            role_note(Role.OPERATOR),
            html.Div(id=result, className="mt-2"),
            dbc.Button(confirm, id=confirm_id, color="danger", n_clicks=0, disabled=True, className="mb-2"),
            dcc.Store(id=previewed),
        ],
        lg=6,
    )


def register_callbacks(app: Dash) -> None:
    app.callback(
        Output(ids.CLEAR_PREVIEW_RESULT, "children"),
        Output(ids.CLEAR_PREVIEWED, "data"),
        Input(ids.CLEAR_PREVIEW, "n_clicks"),
        Input(ids.CLEAR_PATTERN, "n_submit"),
        State(ids.TARGET, "value"),
        State(ids.DB, "value"),
        State(ids.CLEAR_PATTERN, "value"),
        prevent_initial_call=True,
    )(preview_pattern)
    app.callback(
        Output(ids.CLEAR_CONFIRM, "disabled"),
        Output(ids.CLEAR_CONFIRM, "children"),
        Input(ids.CLEAR_PREVIEWED, "data"),
        Input(ids.CLEAR_PATTERN, "value"),
        Input(ids.DB, "value"),
    )(confirm_pattern_state)
    app.callback(
        Output(ids.TAG_PREVIEW_RESULT, "children"),
        Output(ids.TAG_PREVIEWED, "data"),
        Input(ids.TAG_PREVIEW, "n_clicks"),
        Input(ids.TAG_NAME, "n_submit"),
        State(ids.TARGET, "value"),
        State(ids.DB, "value"),
        State(ids.TAG_NAME, "value"),
        prevent_initial_call=True,
    )(preview_tag)
    app.callback(
        Output(ids.TAG_CONFIRM, "disabled"),
        Output(ids.TAG_CONFIRM, "children"),
        Input(ids.TAG_PREVIEWED, "data"),
        Input(ids.TAG_NAME, "value"),
        Input(ids.DB, "value"),
    )(confirm_tag_state)
    app.callback(
        Output(ids.CLEAR_JOB, "data"),
        Output(ids.CLEAR_MESSAGE, "children"),
        Output(ids.CLEAR_PREVIEWED, "data", allow_duplicate=True),
        Output(ids.TAG_PREVIEWED, "data", allow_duplicate=True),
        Output(ids.CLEAR_PREVIEW_RESULT, "children", allow_duplicate=True),
        Output(ids.TAG_PREVIEW_RESULT, "children", allow_duplicate=True),
        Input(ids.CLEAR_CONFIRM, "n_clicks"),
        Input(ids.TAG_CONFIRM, "n_clicks"),
        State(ids.TARGET, "value"),
        State(ids.CLEAR_PREVIEWED, "data"),
        State(ids.TAG_PREVIEWED, "data"),
        prevent_initial_call=True,
    )(start_clear)
    app.callback(
        Output(ids.CLEAR_PROGRESS, "children"),
        Output(ids.CLEAR_POLL, "disabled"),
        Output(ids.CLEAR_CANCEL, "disabled"),
        Output(ids.CLEAR_CANCEL, "style"),
        Input(ids.CLEAR_POLL, "n_intervals"),
        Input(ids.CLEAR_JOB, "data"),
        prevent_initial_call=True,
    )(poll_clear)
    app.callback(
        Output(ids.CLEAR_MESSAGE, "children", allow_duplicate=True),
        Input(ids.CLEAR_CANCEL, "n_clicks"),
        State(ids.CLEAR_JOB, "data"),
        prevent_initial_call=True,
    )(cancel_clear)
    app.callback(
        Output(ids.FLUSH_MESSAGE, "children"),
        Output(ids.FLUSH_CONFIRM_TEXT, "value"),
        Input(ids.FLUSH_BUTTON, "n_clicks"),
        State(ids.TARGET, "value"),
        State(ids.DB, "value"),
        State(ids.FLUSH_CONFIRM_TEXT, "value"),
        prevent_initial_call=True,
    )(flush)


def _db(db: int | None) -> int:
    return db if isinstance(db, int) else 0


def _dry_card(
    matches: int, sample: list[str], memory: int, scanned: int, complete: bool, what: str
) -> dbc.Card:
    count = f"{matches:,}" if complete else f"at least {matches:,}"
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div(
                    f"{count} keys match {what}, holding about {fmt_bytes(memory)}; {scanned:,} keys scanned.",
                    className="mb-1",
                ),
                html.Div("Sample:", className="small text-secondary")
                if sample
                else html.Div("Nothing matches: there is nothing to clear.", className="small"),
                html.Div(
                    [html.Code(key, className="me-2 d-inline-block") for key in sample],
                    className="small dry-sample",
                ),
            ]
        ),
        className="mb-2",
        id="cache-dry-card",
    )


def preview_pattern(
    _clicks: int, _submit: int, target: str | None, db: int | None, pattern: str | None
) -> tuple[Any, Any]:
    pattern = pattern or ""
    try:
        dry = actions.preview_clear(
            services().store,
            live_settings(),
            current_actor(),
            target=target or "",
            db=_db(db),
            pattern=pattern,
        )
    except PermissionDenied as exc:
        return message(str(exc)), None
    except ValueError as exc:
        return message(f"Pattern: {exc}", "warning"), None
    except (LookupError, actions.TargetDown) as exc:
        return message(str(exc), "warning"), None
    card = _dry_card(
        dry.matches, dry.sample, dry.memory_bytes, dry.scanned, dry.complete, f"{pattern!s} in db {_db(db)}"
    )
    return card, {"pattern": pattern, "db": _db(db), "matches": dry.matches, "target": target}


def confirm_pattern_state(
    previewed: dict[str, Any] | None, pattern: str | None, db: int | None
) -> tuple[bool, str]:
    if not previewed or previewed.get("pattern") != (pattern or "") or previewed.get("db") != _db(db):
        return True, "Clear (dry run first)"
    if not previewed.get("matches"):
        return True, "Nothing to clear"
    return not can(Role.OPERATOR), f"Clear {previewed['matches']:,} keys"


def preview_tag(
    _clicks: int, _submit: int, target: str | None, db: int | None, tag: str | None
) -> tuple[Any, Any]:
    tag = (tag or "").strip()
    try:
        tag_key, dry = actions.preview_tag_clear(
            services().store, live_settings(), current_actor(), target=target or "", db=_db(db), tag=tag
        )
    except PermissionDenied as exc:
        return message(str(exc)), None
    except ValueError as exc:
        return message(f"Tag: {exc}", "warning"), None
    except (LookupError, actions.TargetDown) as exc:
        return message(str(exc), "warning"), None
    card = _dry_card(
        dry.matches,
        dry.sample,
        dry.memory_bytes,
        dry.scanned,
        True,
        f"tag {tag} ({tag_key}, {dry.scanned:,} listed)",
    )
    return card, {"tag": tag, "db": _db(db), "matches": dry.matches, "target": target}


def confirm_tag_state(previewed: dict[str, Any] | None, tag: str | None, db: int | None) -> tuple[bool, str]:
    if not previewed or previewed.get("tag") != (tag or "").strip() or previewed.get("db") != _db(db):
        return True, "Clear tag (dry run first)"
    return not can(Role.OPERATOR), f"Clear tag: {previewed['matches']:,} keys and the tag set"


def start_clear(
    _pattern_clicks: int,
    _tag_clicks: int,
    target: str | None,
    pattern: dict[str, Any] | None,
    tag: dict[str, Any] | None,
) -> tuple[Any, ...]:
    """Start the job of the previewed clear (what was previewed, not what the box says now)."""
    store, settings, actor = services().store, live_settings(), current_actor()
    try:
        if ctx.triggered_id == ids.TAG_CONFIRM:
            if not tag:
                return no_update, message("Run a dry run of the tag first.", "warning"), *[no_update] * 4
            job = actions.start_tag_clear(
                store,
                settings,
                actor,
                target=target or "",
                db=int(tag["db"]),
                tag=tag["tag"],
                expected=tag.get("matches"),
            )
        else:
            if not pattern:
                return (
                    no_update,
                    message("Run a dry run of the pattern first.", "warning"),
                    no_update,
                    no_update,
                )
            job = actions.start_clear(
                store,
                settings,
                actor,
                target=target or "",
                db=int(pattern["db"]),
                pattern=pattern["pattern"],
                expected=pattern.get("matches"),
            )
    except PermissionDenied as exc:
        return no_update, message(str(exc)), *[no_update] * 4
    except (ValueError, LookupError, JobConflict, actions.TargetDown) as exc:
        return no_update, message(str(exc), "warning"), *[no_update] * 4
    # The dry run is spent: a new clear needs a new one (the keyspace has changed).
    return job.id, None, None, None, None, None


def poll_clear(_ticks: int | None, job_id: str | None) -> tuple[Any, bool, bool, dict[str, str]]:
    job = services().store.cache.job(job_id=job_id) if job_id else None
    if job is None:
        return job_progress(None), True, True, _HIDDEN
    shown = {} if not job.finished else _HIDDEN  # Cancel only while a clear runs
    return job_progress(job), job.finished, job.finished or not can(Role.OPERATOR), shown


def job_progress(job: CacheJob | None) -> Any:
    if job is None:
        return None
    what = job.params.get("pattern") or f"tag {job.params.get('tag')}"
    if not job.finished:
        removed = int(job.progress.get("removed", 0))
        expected = job.params.get("expected") or 0
        percent = min(100.0, 100.0 * removed / expected) if expected else 0.0
        label = f"{removed:,} / {expected:,} removed" if expected else f"{removed:,} removed"
        return html.Div(
            [
                html.Div(
                    f"Clearing {what} (db {job.params.get('db', 0)})…"
                    + (" cancelling…" if job.cancel_requested else ""),
                    className="small",
                ),
                dbc.Progress(
                    value=percent,
                    label=label,
                    striped=True,
                    animated=True,
                    className="mb-2",
                    id="cache-clear-bar",
                ),
            ]
        )
    result = job.result or {}
    if job.status == "failed" and not result:
        return message(f"The clear of {what} failed: {job.error}", "warning", id="cache-clear-outcome")
    words = (
        f"{job.username} cleared {what} (db {result.get('db', 0)}): {int(result.get('removed', 0)):,} keys removed, "
        f"about {fmt_bytes(result.get('memory_freed_bytes'))} freed — {_STOPPED.get(str(result.get('stopped')), job.status)}."
    )
    if result.get("error"):
        words += f" {result['error']}"
    color = "success" if job.status == "done" and result.get("stopped") == "done" else "warning"
    return message(words, color, id="cache-clear-outcome")


def cancel_clear(_clicks: int, job_id: str | None) -> Any:
    if not job_id:
        return no_update
    try:
        actions.cancel_job(services().store, current_actor(), job_id=job_id)
    except PermissionDenied as exc:
        return message(str(exc))
    except LookupError as exc:
        return message(str(exc), "warning")
    return message("Cancel requested: the clear stops after its current batch.", "secondary")


def flush(_clicks: int, target: str | None, db: int | None, confirm: str | None) -> tuple[Any, Any]:
    try:
        removed = actions.flush_database(
            services().store,
            live_settings(),
            current_actor(),
            target=target or "",
            db=_db(db),
            confirm=confirm or "",
        )
    except PermissionDenied as exc:
        return message(str(exc)), no_update
    except ValueError as exc:
        text = str(exc).removeprefix("confirm: ")
        return message(text[0].upper() + text[1:], "warning"), no_update
    except (LookupError, actions.TargetDown) as exc:
        return message(str(exc), "warning"), no_update
    return message(f"Database {_db(db)} flushed: {removed:,} keys removed.", "success"), ""
