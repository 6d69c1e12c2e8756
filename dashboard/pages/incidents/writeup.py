"""The postmortem: Markdown written beside its preview, saved (also after resolution) and downloaded
as a .md file. The preview never renders raw HTML and disables unsafe links (storage.postmortem)."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, dcc, html, no_update

from dashboard.pages.incidents import names
from dashboard.pages.incidents.common import NEEDS_OPERATOR, can_edit, message, refusal
from dashboard.services import current_actor, services
from storage.postmortem import POSTMORTEM_TEMPLATE, inert_markdown, postmortem_document, unsafe_parts
from tasks.actions.incidents import update_incident

__all__ = ["postmortem_card", "register_postmortem_callbacks"]


def preview(text: str | None) -> dcc.Markdown:
    return dcc.Markdown(
        inert_markdown(text or "") or "*Nothing written yet.*",
        dangerously_allow_html=False,
        link_target="_blank",
        className="postmortem-preview",
    )


def postmortem_card(incident: dict[str, Any]) -> dbc.Card:
    editable = can_edit()
    text = incident["postmortem"] or POSTMORTEM_TEMPLATE
    return dbc.Card(
        [
            dbc.CardHeader(
                [
                    html.Span("Postmortem"),
                    dbc.Button(
                        "Download .md",
                        id=names.POSTMORTEM_DOWNLOAD_BUTTON,
                        size="sm",
                        color="link",
                        className="p-0",
                        n_clicks=0,
                    ),
                    dcc.Download(id=names.POSTMORTEM_DOWNLOAD),
                ],
                className="d-flex justify-content-between align-items-center",
            ),
            dbc.CardBody(
                [
                    dbc.Row(
                        [
                            dbc.Col(
                                dbc.Textarea(
                                    id=names.POSTMORTEM_TEXT,
                                    value=text,
                                    rows=16,
                                    disabled=not editable,
                                    className="font-monospace small",
                                    debounce=False,
                                ),
                                lg=6,
                                className="mb-2",
                            ),
                            dbc.Col(
                                html.Div(id=names.POSTMORTEM_PREVIEW, children=preview(text)),
                                lg=6,
                                className="postmortem-preview-box",
                            ),
                        ]
                    ),
                    html.Div(
                        "Markdown: root cause, impact, what went well, follow-ups as a checklist (- [ ] item). "
                        "Raw HTML is shown as text; only http(s), mailto and relative links work.",
                        className="small text-secondary mb-2",
                    ),
                    dbc.Button(
                        "Save postmortem",
                        id=names.POSTMORTEM_SAVE,
                        color="primary",
                        size="sm",
                        n_clicks=0,
                        disabled=not editable,
                        title="" if editable else f"Writing the postmortem {NEEDS_OPERATOR}",
                    ),
                    html.Div(id=names.POSTMORTEM_RESULT, className="mt-2"),
                ]
            ),
        ],
        className="mb-3",
    )


def register_postmortem_callbacks(app: Dash) -> None:
    app.callback(
        Output(names.POSTMORTEM_PREVIEW, "children"),
        Input(names.POSTMORTEM_TEXT, "value"),
        prevent_initial_call=True,
    )(preview)
    app.callback(
        Output(names.VERSION, "data", allow_duplicate=True),
        Output(names.POSTMORTEM_RESULT, "children"),
        Input(names.POSTMORTEM_SAVE, "n_clicks"),
        State(names.POSTMORTEM_TEXT, "value"),
        State(names.INCIDENT_ID, "data"),
        State(names.VERSION, "data"),
        prevent_initial_call=True,
    )(save_postmortem)
    app.callback(
        Output(names.POSTMORTEM_DOWNLOAD, "data"),
        Input(names.POSTMORTEM_DOWNLOAD_BUTTON, "n_clicks"),
        State(names.INCIDENT_ID, "data"),
        prevent_initial_call=True,
    )(download_postmortem)


def save_postmortem(_clicks: int, text: str | None, incident_id: int, version: int | None) -> tuple[Any, Any]:
    try:
        changed = update_incident(services().store, current_actor(), incident_id, {"postmortem": text or ""})
    except Exception as exc:
        return no_update, message(f"Not saved: {refusal(exc)[1]}", ok=False)
    notes = unsafe_parts(text or "")
    said = "Postmortem saved." if changed else "No change to save."
    if notes:
        said += " Note: " + "; ".join(notes) + "."
    return (version or 0) + 1, message(said, ok=True)


def download_postmortem(_clicks: int, incident_id: int) -> Any:
    incident = services().store.incidents.get(incident_id=incident_id)
    return {
        "content": postmortem_document(incident),
        "filename": f"incident-{incident_id}-postmortem.md",
        "type": "text/markdown",
    }
