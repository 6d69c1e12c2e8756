"""The keyspace summary: a sampled scan in the background (progress bar), and its last result."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, dcc, html, no_update

from dashboard.pages.cache import ids
from dashboard.pages.cache.common import can, fmt_bytes, message, role_note
from dashboard.services import current_actor, services
from storage.cache import CacheJob, JobConflict
from storage.timeparse import format_utc
from storage.users import Role
from tasks.actions import PermissionDenied
from tasks.actions import cache as actions

__all__ = ["register_callbacks", "summary_section"]

POLL_MS = 500


def summary_section(target: str | None, db: int) -> html.Div:
    job = services().store.cache.latest_job(target=target, kinds=["summary"]) if target else None
    running = job is not None and not job.finished
    return html.Div(
        [
            html.H2("Keyspace summary", className="h5 mt-4", id="cache-summary"),
            html.Div(
                [
                    dbc.Button(
                        "Summarise keyspace",
                        id=ids.SUMMARY_START,
                        color="secondary",
                        size="sm",
                        n_clicks=0,
                        disabled=not can(Role.OPERATOR),
                    ),
                    role_note(Role.OPERATOR),
                    html.Small(
                        " A sampled scan of up to 50,000 keys, in the background.",
                        className="text-secondary ms-2",
                    ),
                ],
                className="mb-2",
            ),
            dcc.Store(id=ids.SUMMARY_JOB, data=job.id if job else None),
            dcc.Interval(id=ids.SUMMARY_POLL, interval=POLL_MS, disabled=not running),
            html.Div(id=ids.SUMMARY_PROGRESS, children=progress(job)),
            html.Div(id=ids.SUMMARY_RESULT, children=result(job)),
        ]
    )


def register_callbacks(app: Dash) -> None:
    app.callback(
        Output(ids.SUMMARY_JOB, "data"),
        Output(ids.SUMMARY_POLL, "disabled", allow_duplicate=True),
        Output(ids.SUMMARY_PROGRESS, "children", allow_duplicate=True),
        Input(ids.SUMMARY_START, "n_clicks"),
        State(ids.TARGET, "value"),
        State(ids.DB, "value"),
        prevent_initial_call=True,
    )(start_summary)
    app.callback(
        Output(ids.SUMMARY_PROGRESS, "children"),
        Output(ids.SUMMARY_RESULT, "children"),
        Output(ids.SUMMARY_POLL, "disabled"),
        Input(ids.SUMMARY_POLL, "n_intervals"),
        Input(ids.SUMMARY_JOB, "data"),
        prevent_initial_call=True,
    )(poll_summary)


def start_summary(_clicks: int, target: str | None, db: int | None) -> tuple[Any, Any, Any]:
    try:
        job = actions.start_summary(
            services().store,
            services().settings,
            current_actor(),
            target=target or "",
            db=db if isinstance(db, int) else 0,
        )
    except PermissionDenied as exc:
        return no_update, no_update, message(str(exc))
    except (LookupError, ValueError, JobConflict) as exc:
        return no_update, no_update, message(str(exc), "warning")
    return job.id, False, progress(job)


def poll_summary(_ticks: int | None, job_id: str | None) -> tuple[Any, Any, Any]:
    job = services().store.cache.job(job_id=job_id) if job_id else None
    if job is None:
        return no_update, no_update, True
    return progress(job), result(job) if job.finished else no_update, job.finished


def progress(job: CacheJob | None) -> Any:
    if job is None:
        return html.Div("No summary yet.", className="small text-secondary")
    if job.finished:
        when = format_utc(job.updated_at)
        if job.status == "failed":
            return message(f"The summary failed: {job.error}", "warning")
        return html.Div(
            f"Last summary: {when} ({job.status}, by {job.username}).", className="small text-secondary"
        )
    sampled, total = int(job.progress.get("sampled", 0)), int(job.progress.get("total", 0) or 0)
    percent = 100.0 * sampled / total if total else 0.0
    return dbc.Progress(
        value=percent,
        label=f"{sampled:,} / {total:,} keys",
        striped=True,
        animated=True,
        className="mb-2",
        id="cache-summary-bar",
    )


def _table(header: list[str], rows: list[list[str]]) -> dbc.Table:
    return dbc.Table(
        [
            html.Thead(html.Tr([html.Th(name) for name in header])),
            html.Tbody([html.Tr([html.Td(cell) for cell in row]) for row in rows]),
        ],
        size="sm",
        striped=True,
        className="mb-2",
    )


def result(job: CacheJob | None) -> Any:
    if job is None or not job.result or "sampled" not in job.result:
        return None
    found = job.result
    scope = f"{found['sampled']:,} of {found['total_keys']:,} keys sampled" + (
        " (all of them)" if found.get("complete") else ""
    )
    return dbc.Row(
        [
            dbc.Col(
                [
                    html.H3("Top prefixes", className="h6"),
                    _table(
                        ["Prefix", "Keys", "Memory"],
                        [
                            [p["prefix"], f"{p['keys']:,}", fmt_bytes(p["memory_bytes"])]
                            for p in found["prefixes"]
                        ],
                    ),
                ],
                lg=4,
            ),
            dbc.Col(
                [
                    html.H3("Biggest keys", className="h6"),
                    _table(
                        ["Key", "Type", "Memory"],
                        [[b["key"], b["type"], fmt_bytes(b["memory_bytes"])] for b in found["biggest"]],
                    ),
                ],
                lg=5,
            ),
            dbc.Col(
                [
                    html.H3("TTLs", className="h6"),
                    _table(
                        ["TTL", "Keys"],
                        [[name, f"{count:,}"] for name, count in found["ttl_distribution"].items()],
                    ),
                    html.Div(f"Keys without a TTL: {found['without_ttl']:,}", className="small"),
                    html.H3("Types", className="h6 mt-2"),
                    _table(
                        ["Type", "Keys"], [[name, f"{count:,}"] for name, count in found["types"].items()]
                    ),
                ],
                lg=3,
            ),
            html.Div(scope, className="small text-secondary"),
        ],
        id="cache-summary-tables",
    )
