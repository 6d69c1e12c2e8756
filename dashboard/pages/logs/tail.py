"""Live tail: the newest matching lines as they are ingested, with pause and resume.

The tail follows the current filters (not the time window: it is about what arrives now). Paused,
it keeps the lines shown as they are and counts what arrived meanwhile; resuming shows those lines.
New lines go on top of a list that has its own scroll box, and the results grid above never moves.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, ctx, dcc, html, no_update

from dashboard.pages.logs import names
from dashboard.pages.logs.criteria import facade_filters, iso_ms
from dashboard.pages.logs.detail import marked
from dashboard.pages.logs.results import highlight_terms
from dashboard.services import services

__all__ = ["TAIL_LINES", "register_tail_callbacks", "tail_panel", "update_tail"]

TAIL_LINES = 200
FIRST_LINES = 20
TAIL_EVERY_MS = 2000


def tail_panel() -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader(
                [
                    dbc.Switch(id=names.TAIL_SWITCH, label="Live tail", value=False, className="mb-0 me-3"),
                    dbc.Button(
                        "Pause", id=names.TAIL_PAUSE, size="sm", color="secondary", n_clicks=0, disabled=True
                    ),
                    html.Span(id=names.TAIL_COUNTER, className="ms-3 small"),
                ],
                className="d-flex align-items-center",
            ),
            dbc.CardBody(
                html.Div(
                    "Switch the live tail on to see matching lines as they are ingested.",
                    className="text-muted",
                ),
                id=names.TAIL_LINES,
                className="logs-tail p-2",
            ),
            dcc.Interval(id=names.TAIL_INTERVAL, interval=TAIL_EVERY_MS, disabled=True),
            dcc.Store(id=names.TAIL_STATE),
        ],
        className="mb-3",
    )


def _line(record: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": int(record["id"]),
        "ts_ms": int(record["ts"].value // 1_000_000),
        "level": record["level"],
        "host": record["host"],
        "message": (record["message"] or "").split("\n", 1)[0][:500],
    }


def _fetch(criteria: dict[str, Any], after_id: int, limit: int) -> list[dict[str, Any]]:
    filters = facade_filters(criteria, with_range=False)
    frame = services().store.logs.tail(after_id=after_id, limit=limit, **filters)
    return [_line(record) for record in frame.to_dict("records")]


def _render(state: dict[str, Any], criteria: dict[str, Any] | None) -> Any:
    lines = state.get("lines", [])
    if not lines:
        return html.Div("No matching lines yet; new ones appear here.", className="text-muted")
    terms = highlight_terms((criteria or {}).get("query"))
    return [
        html.Div(
            [
                html.Span(iso_ms(line["ts_ms"]), className="logs-ts me-2"),
                html.Span(line["level"], className=f"logs-ctx-level logs-level-text-{line['level']} me-2"),
                html.Span(line["host"], className="text-muted me-2"),
                html.Span(marked(line["message"], terms)),
            ],
            className="logs-tail-line",
        )
        for line in lines
    ]


def update_tail(
    _ticks: int | None,
    _pauses: int | None,
    live: bool | None,
    criteria: dict[str, Any] | None,
    state: dict[str, Any] | None,
) -> tuple[Any, Any, Any, Any, Any, Any]:
    """(lines, state, counter, pause label, pause disabled, interval disabled)."""
    if not live or not criteria:
        return no_update, None, "", "Pause", True, True
    trigger = ctx.triggered_id
    state = dict(state or {})
    restart = (
        not state
        or trigger in (names.TAIL_SWITCH, names.CRITERIA)
        or state.get("version") != criteria.get("version")
    )
    try:
        if restart:
            lines = _fetch(criteria, 0, FIRST_LINES)
            newest = services().store.logs.newest_id()
            state = {
                "lines": lines,
                "last_id": max([newest, *(line["id"] for line in lines)]),
                "paused": False,
                "version": criteria.get("version"),
            }
        elif trigger == names.TAIL_PAUSE:
            state["paused"] = not state.get("paused")
            if not state["paused"]:
                state = _catch_up(state, criteria)
        elif not state.get("paused"):
            state = _catch_up(state, criteria)
        if state.get("paused"):
            waiting = services().store.logs.count_after(
                after_id=int(state["last_id"]), **facade_filters(criteria, with_range=False)
            )
            counter = (
                f"Paused · {waiting:,} new line{'s' if waiting != 1 else ''} since"
                if waiting
                else "Paused · no new lines yet"
            )
            lines_out = no_update if trigger != names.TAIL_PAUSE else _render(state, criteria)
            return lines_out, state, counter, "Resume", False, False
    except Exception:  # the store down: the tail says so and keeps what it showed
        return no_update, state, "Tail unavailable: the store cannot be read", "Pause", False, False
    return _render(state, criteria), state, f"Live · {len(state['lines'])} lines shown", "Pause", False, False


def _catch_up(state: dict[str, Any], criteria: dict[str, Any]) -> dict[str, Any]:
    new = _fetch(criteria, int(state["last_id"]), TAIL_LINES)
    if not new:
        return state
    return {**state, "lines": (new + state["lines"])[:TAIL_LINES], "last_id": max(line["id"] for line in new)}


def register_tail_callbacks(app: Dash) -> None:
    app.callback(
        Output(names.TAIL_LINES, "children"),
        Output(names.TAIL_STATE, "data"),
        Output(names.TAIL_COUNTER, "children"),
        Output(names.TAIL_PAUSE, "children"),
        Output(names.TAIL_PAUSE, "disabled"),
        Output(names.TAIL_INTERVAL, "disabled"),
        Input(names.TAIL_INTERVAL, "n_intervals"),
        Input(names.TAIL_PAUSE, "n_clicks"),
        Input(names.TAIL_SWITCH, "value"),
        Input(names.CRITERIA, "data"),
        State(names.TAIL_STATE, "data"),
    )(update_tail)
