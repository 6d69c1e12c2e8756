"""Archive controls: archive the current search, list archives, download, verify, restore, and
delete archived rows from the hot table (after a confirmation).

Archive, restore and delete run as background jobs (``tasks.log_archive_jobs``): the page follows
the job's row with a progress bar and a Cancel button, and refreshes the list when it ends.

Roles are decided by ``tasks.actions.logs`` on the server (operators archive, verify and restore;
admins delete); controls a user's role cannot use are shown disabled with the reason, and a
hand-posted callback gets the action's refusal.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, dcc, html, no_update

from dashboard.pages.logs import names
from dashboard.pages.logs.criteria import iso_ms
from dashboard.services import current_actor, services
from storage.users import Role
from tasks.actions import PermissionDenied
from tasks.actions import logs as actions

__all__ = [
    "archive_panel",
    "archive_rows",
    "cancel_job",
    "follow_job",
    "register_archive_callbacks",
    "run_archive_action",
]

_POLL_MS = 500
_JOB_VERBS = {"archive": "Archiving", "restore": "Restoring", "delete_hot": "Deleting hot rows of"}

_STATUS_COLOURS = {"verified": "success", "written": "secondary", "corrupt": "danger", "missing": "danger"}
_NEEDS = {"verify": Role.OPERATOR, "restore": Role.OPERATOR, "delete": Role.ADMIN, "create": Role.OPERATOR}


def _allowed(needed: Role) -> tuple[bool, str]:
    actor = current_actor()
    if actor is None or not actor.role.allows(needed):
        return False, f"needs the {needed.value} role"
    return True, ""


def archive_panel() -> dbc.Card:
    allowed, reason = _allowed(Role.OPERATOR)
    return dbc.Card(
        [
            dbc.CardHeader(
                [
                    html.Span("Archives", className="me-auto"),
                    dbc.Button(
                        "Archive these results",
                        id=names.ARCHIVE_CREATE,
                        size="sm",
                        color="primary",
                        n_clicks=0,
                        disabled=not allowed,
                        title=reason
                        or "Write the entries of the current search and window to a gzip JSON Lines archive",
                    ),
                    html.Span(reason and f" ({reason})", className="small text-muted ms-2"),
                ],
                className="d-flex align-items-center",
            ),
            dbc.CardBody(
                [
                    html.Div(id=names.ARCHIVE_MESSAGE),
                    _job_box(),
                    html.Div(archive_rows(), id=names.ARCHIVE_TABLE),
                    dcc.ConfirmDialog(id=names.ARCHIVE_CONFIRM),
                    dcc.Store(id=names.ARCHIVE_PENDING),
                    dcc.Store(id=names.ARCHIVE_JOB),
                    dcc.Interval(id=names.ARCHIVE_JOB_POLL, interval=_POLL_MS, disabled=True),
                ]
            ),
        ],
        className="mb-3",
    )


def _job_box() -> html.Div:
    """The running job: what it does, a progress bar, and Cancel (hidden while no job runs)."""
    return html.Div(
        [
            html.Div(id=names.ARCHIVE_JOB_LABEL, className="small mb-1"),
            html.Div(
                [
                    dbc.Progress(id=names.ARCHIVE_JOB_PROGRESS, value=0, striped=True, animated=True,
                                 className="flex-grow-1 me-2", style={"height": "1.2rem"}),
                    dbc.Button("Cancel", id=names.ARCHIVE_JOB_CANCEL, size="sm", color="secondary",
                               outline=True, n_clicks=0),
                ],
                className="d-flex align-items-center",
            ),
        ],
        id=names.ARCHIVE_JOB_BOX,
        className="mb-2",
        style={"display": "none"},
    )  # fmt: skip


def _button(
    label: str, action: str, archive_id: int, colour: str, disabled_for_state: bool = False
) -> dbc.Button:
    allowed, reason = _allowed(_NEEDS[action])
    return dbc.Button(
        label,
        id={"type": names.ARCHIVE_ACTION, "action": action, "id": archive_id},
        size="sm",
        color=colour,
        outline=True,
        n_clicks=0,
        disabled=not allowed or disabled_for_state,
        title=reason or label,
        className="me-1",
    )


def _size(count: int) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if count < 1024 or unit == "GiB":
            return f"{count:,.0f} {unit}" if unit == "B" else f"{count:,.1f} {unit}"
        count /= 1024  # type: ignore[assignment]
    return str(count)


def _range(from_ms: int, to_ms: int) -> str:
    start, end = iso_ms(from_ms), iso_ms(to_ms)
    tail = end[11:19] if start[:10] == end[:10] else f"{end[:10]} {end[11:19]}"
    return f"{start[:10]} {start[11:19]} to {tail}"


def archive_rows() -> Any:
    try:
        frame = services().store.logs.archives()
    except Exception:
        return dbc.Alert("Archives cannot be listed right now.", color="warning")
    if frame.empty:
        return html.Div("No archives yet.", className="text-muted")
    header = html.Thead(
        html.Tr([html.Th(t) for t in ("#", "Range (UTC)", "Entries", "Size", "SHA-256", "State", "")])
    )
    body = []
    for row in frame.to_dict("records"):
        archive_id = int(row["id"])
        status = str(row["status"])
        deleted = row["hot_deleted_at"] is not None and row["hot_deleted_at"] == row["hot_deleted_at"]
        state_text = status + (" · hot rows deleted" if deleted else "")
        body.append(
            html.Tr(
                [
                    html.Td(str(archive_id)),
                    html.Td(_range(int(row["from_ts"]), int(row["to_ts"])), className="small text-nowrap"),
                    html.Td(f"{int(row['entries']):,}"),
                    html.Td(_size(int(row["bytes"]))),
                    html.Td(html.Code((row["sha256"] or "")[:12] + "…", title=row["sha256"] or "")),
                    html.Td(dbc.Badge(state_text, color=_STATUS_COLOURS.get(status, "secondary"))),
                    html.Td(
                        [
                            html.A(
                                "Download",
                                href=f"/api/logs/archives/{archive_id}/download",
                                className="btn btn-sm btn-outline-secondary me-1",
                            ),
                            _button("Verify", "verify", archive_id, "secondary"),
                            _button("Restore", "restore", archive_id, "primary"),
                            _button(
                                "Delete hot rows", "delete", archive_id, "danger", disabled_for_state=deleted
                            ),
                        ],
                        className="text-nowrap",
                    ),
                ],
                id=f"logs-archive-row-{archive_id}",
            )
        )
    return dbc.Table([header, html.Tbody(body)], size="sm", hover=True, responsive=True, className="mb-0")


def _criteria(criteria: dict[str, Any]) -> actions.ArchiveCriteria:
    return actions.ArchiveCriteria(
        since=int(criteria["from_ms"]),
        until=int(criteria["to_ms"]),
        query=criteria.get("query"),
        levels=tuple(criteria.get("levels") or ()),
        channel=criteria.get("channel"),
        host=criteria.get("host"),
        source=criteria.get("source"),
        request_id=criteria.get("request_id"),
    )


def _alert(message: str, colour: str) -> dbc.Alert:
    return dbc.Alert(message, color=colour, dismissable=True, className="py-2")


def _confirm_text(archive_id: int) -> str:
    try:
        entries = int(services().store.logs.archive(id=archive_id)["entries"])
    except KeyError:
        return f"Delete the entries of archive #{archive_id} from the hot table?"
    return (
        f"Delete the {entries:,} entries of archive #{archive_id} from the hot table?\n\n"
        "The archive is verified first; if it fails, nothing is deleted. Searches will no longer find "
        "these entries until the archive is restored."
    )


def run_archive_action(
    _create: int | None,
    _clicks: list[int | None],
    _confirmed: int | None,
    criteria: dict[str, Any] | None,
    pending: int | None,
) -> tuple[Any, Any, Any, Any, Any, Any]:
    """The clicked control: verify answers at once; archive, restore and a confirmed delete start a
    job (through ``tasks.actions.logs``, which checks the role); delete first asks to confirm.

    Returns (message, list, job id, confirm shown, confirm text, archive waiting for confirmation)."""
    trigger = ctx.triggered_id
    skip = (no_update,) * 6
    if not trigger or not ctx.triggered[0]["value"]:
        return skip
    store, settings, actor = services().store, services().settings, current_actor()
    try:
        if trigger == names.ARCHIVE_CREATE:
            if not criteria:
                return skip
            job = actions.start_archive(store, settings, actor, _criteria(criteria))
            return None, no_update, job.id, False, no_update, None
        if trigger == names.ARCHIVE_CONFIRM:
            if pending is None:
                return skip
            job = actions.start_delete_hot_rows(store, settings, actor, int(pending))
            return None, no_update, job.id, False, no_update, None
        archive_id, action = int(trigger["id"]), trigger["action"]
        if action == "delete":
            return no_update, no_update, no_update, True, _confirm_text(archive_id), archive_id
        if action == "restore":
            job = actions.start_restore(store, settings, actor, archive_id)
            return None, no_update, job.id, False, no_update, None
        if action != "verify":
            return skip
        ok, message = actions.verify_archive(store, actor, archive_id)
        return (
            _alert(message, "success" if ok else "danger"),
            archive_rows(),
            no_update,
            False,
            no_update,
            None,
        )
    except PermissionDenied as exc:
        return _alert(f"Not allowed: {exc}.", "warning"), no_update, no_update, False, no_update, None
    except KeyError:
        return (
            _alert("That archive no longer exists.", "warning"),
            archive_rows(),
            no_update,
            False,
            no_update,
            None,
        )
    except ValueError as exc:
        return _alert(str(exc), "danger"), no_update, no_update, False, no_update, None


def follow_job(_tick: int | None, job_id: str | None) -> tuple[Any, ...]:
    """The followed job's progress; when it ends, its outcome, the refreshed list, and no more polling.

    Returns (box style, label, progress value, progress label, poll disabled, message, list)."""
    hidden = {"display": "none"}
    if not job_id:
        return hidden, no_update, no_update, no_update, True, no_update, no_update
    job = services().store.logs.job(id=job_id)
    if job is None:
        return hidden, no_update, no_update, no_update, True, no_update, no_update
    done, total = int(job.progress.get("done") or 0), job.progress.get("total")
    if not job.finished:
        verb = _JOB_VERBS.get(job.kind, job.kind)
        what = "the current search" if job.kind == "archive" else f"archive #{job.archive_id}"
        state = " (cancelling…)" if job.cancel_requested else ""
        of = f" of about {int(total):,}" if total else ""
        label = f"{verb} {what}: {done:,}{of} entries{state}"
        value = min(100, round(100 * done / int(total))) if total else 100
        return {"display": "block"}, label, value, f"{value}%" if total else "", False, no_update, no_update
    if job.status == "done":
        message = _alert(str((job.result or {}).get("message", "Done.")), "success")
    elif job.status == "cancelled":
        message = _alert("Cancelled: nothing of it was kept; the hot table is as it was.", "warning")
    else:
        message = _alert(job.error or "The job failed.", "danger")
    return hidden, "", 0, "", True, message, archive_rows()


def cancel_job(_clicks: int | None, job_id: str | None) -> Any:
    """Ask the followed job to stop after its current batch (the action checks the role)."""
    if not _clicks or not job_id:
        return no_update
    try:
        actions.cancel_job(services().store, current_actor(), job_id)
    except PermissionDenied as exc:
        return _alert(f"Not allowed: {exc}.", "warning")
    except LookupError:
        return no_update
    return no_update


def register_archive_callbacks(app: Dash) -> None:
    app.callback(
        Output(names.ARCHIVE_MESSAGE, "children"),
        Output(names.ARCHIVE_TABLE, "children"),
        Output(names.ARCHIVE_JOB, "data"),
        Output(names.ARCHIVE_CONFIRM, "displayed"),
        Output(names.ARCHIVE_CONFIRM, "message"),
        Output(names.ARCHIVE_PENDING, "data"),
        Input(names.ARCHIVE_CREATE, "n_clicks"),
        Input({"type": names.ARCHIVE_ACTION, "action": ALL, "id": ALL}, "n_clicks"),
        Input(names.ARCHIVE_CONFIRM, "submit_n_clicks"),
        State(names.CRITERIA, "data"),
        State(names.ARCHIVE_PENDING, "data"),
        prevent_initial_call=True,
    )(run_archive_action)
    app.callback(
        Output(names.ARCHIVE_JOB_BOX, "style"),
        Output(names.ARCHIVE_JOB_LABEL, "children"),
        Output(names.ARCHIVE_JOB_PROGRESS, "value"),
        Output(names.ARCHIVE_JOB_PROGRESS, "label"),
        Output(names.ARCHIVE_JOB_POLL, "disabled"),
        Output(names.ARCHIVE_MESSAGE, "children", allow_duplicate=True),
        Output(names.ARCHIVE_TABLE, "children", allow_duplicate=True),
        Input(names.ARCHIVE_JOB_POLL, "n_intervals"),
        Input(names.ARCHIVE_JOB, "data"),
        prevent_initial_call=True,
    )(follow_job)
    app.callback(
        Output(names.ARCHIVE_MESSAGE, "children", allow_duplicate=True),
        Input(names.ARCHIVE_JOB_CANCEL, "n_clicks"),
        State(names.ARCHIVE_JOB, "data"),
        prevent_initial_call=True,
    )(cancel_job)
