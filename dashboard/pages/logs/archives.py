"""Archive controls: archive the current search, list archives, download, verify, restore, and
delete archived rows from the hot table.

Roles are decided by ``tasks.actions.logs`` on the server (operators archive, verify and restore;
admins delete); controls a user's role cannot use are shown disabled with the reason, and a
hand-posted callback gets the action's refusal.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, html, no_update

from dashboard.pages.logs import names
from dashboard.pages.logs.criteria import iso_ms
from dashboard.services import current_actor, services
from storage.users import Role
from tasks.actions import PermissionDenied
from tasks.actions import logs as actions

__all__ = ["archive_panel", "archive_rows", "register_archive_callbacks", "run_archive_action"]

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
                    html.Div(archive_rows(), id=names.ARCHIVE_TABLE),
                ]
            ),
        ],
        className="mb-3",
    )


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


def run_archive_action(
    _create: int | None, _clicks: list[int | None], criteria: dict[str, Any] | None
) -> tuple[Any, Any]:
    """Run the clicked action through ``tasks.actions.logs``; its message and the refreshed list."""
    trigger = ctx.triggered_id
    if not trigger or not ctx.triggered[0]["value"]:
        return no_update, no_update
    store, actor = services().store, current_actor()
    try:
        if trigger == names.ARCHIVE_CREATE:
            if not criteria:
                return no_update, no_update
            found = actions.ArchiveCriteria(
                since=int(criteria["from_ms"]),
                until=int(criteria["to_ms"]),
                query=criteria.get("query"),
                levels=tuple(criteria.get("levels") or ()),
                channel=criteria.get("channel"),
                host=criteria.get("host"),
                source=criteria.get("source"),
                request_id=criteria.get("request_id"),
            )
            message, colour = (
                actions.archive_logs(store, actor, services().settings.log_archive_dir, found),
                "success",
            )
        else:
            archive_id, action = int(trigger["id"]), trigger["action"]
            if action == "verify":
                ok, message = actions.verify_archive(store, actor, archive_id)
                colour = "success" if ok else "danger"
            elif action == "restore":
                message, colour = actions.restore_archive(store, actor, archive_id), "success"
            elif action == "delete":
                message, colour = actions.delete_archived_rows(store, actor, archive_id), "success"
            else:
                return no_update, no_update
    except PermissionDenied as exc:
        message, colour = f"Not allowed: {exc}.", "warning"
    except actions.ArchiveError as exc:
        message, colour = f"Refused: {exc}. Nothing was deleted.", "danger"
    except KeyError:
        message, colour = "That archive no longer exists.", "warning"
    except OSError as exc:
        message, colour = (
            f"The archive could not be written ({exc.strerror or exc}); the entries stay in place.",
            "danger",
        )
    return dbc.Alert(message, color=colour, dismissable=True, className="py-2"), archive_rows()


def register_archive_callbacks(app: Dash) -> None:
    app.callback(
        Output(names.ARCHIVE_MESSAGE, "children"),
        Output(names.ARCHIVE_TABLE, "children"),
        Input(names.ARCHIVE_CREATE, "n_clicks"),
        Input({"type": names.ARCHIVE_ACTION, "action": ALL, "id": ALL}, "n_clicks"),
        State(names.CRITERIA, "data"),
        prevent_initial_call=True,
    )(run_archive_action)
