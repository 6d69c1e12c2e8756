"""The detail of one entry: every field, the full message with matched words marked, and the exact
lines before and after it in the same file (by stored byte offset), with "more" both ways.

All text is put into Dash components as text (``html.Pre``, ``html.Mark``): log content is never
rendered as HTML.
"""

from __future__ import annotations

import json
import re
from typing import Any

import dash_bootstrap_components as dbc
from dash import ALL, Dash, Input, Output, State, ctx, html, no_update

from dashboard.pages.logs import names
from dashboard.pages.logs.criteria import iso_ms, query_string
from dashboard.pages.logs.results import highlight_terms
from dashboard.services import services

__all__ = ["CONTEXT_STEP", "detail_panel", "marked", "register_detail_callbacks"]

CONTEXT_STEP = 20
_MAX_CONTEXT = 500


def marked(text: str, terms: list[str]) -> list[Any]:
    """``text`` as strings and ``html.Mark`` pieces around each term (case-insensitive)."""
    if not terms or not text:
        return [text]
    pattern = re.compile("|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)), re.IGNORECASE)
    pieces: list[Any] = []
    last = 0
    for found in pattern.finditer(text):
        if found.start() > last:
            pieces.append(text[last : found.start()])
        pieces.append(html.Mark(found.group(0)))
        last = found.end()
    pieces.append(text[last:])
    return pieces


def detail_panel() -> dbc.Offcanvas:
    """A flyout on the right: the results stay in place under it while the user reads an entry."""
    return dbc.Offcanvas(
        html.Div(
            html.Div("Click a row to see the whole entry and the lines around it.", className="text-muted"),
            id=names.DETAIL,
        ),
        id=names.DETAIL_FLYOUT,
        title="Log entry",
        placement="end",
        is_open=False,
        scrollable=True,
        backdrop=False,
        className="logs-flyout",
    )


def _time(ms: int) -> html.Span:
    return html.Span(iso_ms(ms), title="UTC", className="logs-ts")


def _fields(entry: dict[str, Any]) -> html.Dl:
    ts_ms = int(entry["ts"].value // 1_000_000)
    items: list[tuple[str, Any]] = [
        ("Time", _time(ts_ms)),
        ("Level", html.Span(entry["level"], className=f"badge logs-level logs-level-{entry['level']}")),
        ("Host", entry["host"]),
        ("Source", entry["source"]),
        ("Channel", entry["channel"] or "—"),
    ]
    if entry["request_id"]:
        link = html.A(
            entry["request_id"],
            href=query_string({"request_id": entry["request_id"]}) or "?",
            title="Every entry of this request",
        )
        items.append(("Request id", link))
    if entry.get("file_offset") is not None and entry["file_offset"] == entry["file_offset"]:
        items.append(("File offset", f"byte {int(entry['file_offset']):,}"))
    context = entry.get("context")
    if isinstance(context, dict):
        for key, value in context.items():
            shown = value if isinstance(value, str) else json.dumps(value, default=str)
            items.append((str(key), html.Code(shown)))
    children: list[Any] = []
    for label, value in items:
        children += [html.Dt(label, className="col-sm-3"), html.Dd(value, className="col-sm-9 mb-1")]
    return html.Dl(children, className="row logs-fields mb-2")


def _context_lines(frame: Any, terms: list[str]) -> html.Div:
    lines = []
    for record in frame.to_dict("records"):
        position = int(record["position"])
        first_line = (record["message"] or "").split("\n", 1)[0]
        lines.append(
            html.Div(
                [
                    html.Span(f"{position:+d}" if position else "▶", className="logs-ctx-pos"),
                    _time(int(record["ts"].value // 1_000_000)),
                    html.Span(record["level"], className=f"logs-ctx-level logs-level-text-{record['level']}"),
                    html.Span(marked(first_line, terms), className="logs-ctx-msg"),
                ],
                id={"type": names.CONTEXT_LINE, "id": int(record["id"])},
                n_clicks=0,
                className="logs-ctx-line" + (" logs-ctx-current" if position == 0 else ""),
                title="Show this entry",
            )
        )
    return html.Div(lines, className="logs-context")


def render_detail(selected: int | None, span: dict[str, Any] | None, criteria: dict[str, Any] | None) -> Any:
    if selected is None:
        return no_update
    before = (
        int((span or {}).get("before", CONTEXT_STEP)) if (span or {}).get("id") == selected else CONTEXT_STEP
    )
    after = (
        int((span or {}).get("after", CONTEXT_STEP)) if (span or {}).get("id") == selected else CONTEXT_STEP
    )
    logs = services().store.logs
    try:
        frame = logs.context(id=int(selected), before=before, after=after)
    except KeyError:
        return dbc.Alert(
            f"There is no log entry {selected} (it may have been archived and deleted).", color="warning"
        )
    except Exception:
        return dbc.Alert("The entry cannot be read right now.", color="danger")
    entry = frame[frame["position"] == 0].iloc[0].to_dict()
    terms = highlight_terms((criteria or {}).get("query"))
    earlier = int((frame["position"] < 0).sum())
    later = int((frame["position"] > 0).sum())
    return [
        _fields(entry),
        html.Pre(marked(entry["message"], terms), className="logs-message"),
        html.Div(
            [
                html.Strong("Same file, in file order"),
                html.Span(f" · {earlier} before, {later} after", className="text-muted small"),
            ],
            className="mt-2 mb-1",
        ),
        dbc.Button(
            f"{CONTEXT_STEP} more earlier",
            id=names.MORE_BEFORE,
            size="sm",
            color="secondary",
            outline=True,
            disabled=earlier < before or before >= _MAX_CONTEXT,
            className="mb-1",
            n_clicks=0,
        ),
        _context_lines(frame, terms),
        dbc.Button(
            f"{CONTEXT_STEP} more later",
            id=names.MORE_AFTER,
            size="sm",
            color="secondary",
            outline=True,
            disabled=later < after or after >= _MAX_CONTEXT,
            className="mt-1",
            n_clicks=0,
        ),
    ]


def open_flyout(selected: int | None, _clicked: list[Any], _lines: list[Any]) -> bool:
    """Open on a selection, and again on a click after the user closed it (the selection unchanged)."""
    return selected is not None


def widen(_before: int | None, _after: int | None, span: dict[str, Any] | None, selected: int | None) -> Any:
    if selected is None or not ctx.triggered_id or not ctx.triggered[0]["value"]:
        return no_update
    current = (
        span
        if span and span.get("id") == selected
        else {"id": selected, "before": CONTEXT_STEP, "after": CONTEXT_STEP}
    )
    key = "before" if ctx.triggered_id == names.MORE_BEFORE else "after"
    return {**current, key: min(_MAX_CONTEXT, int(current[key]) + CONTEXT_STEP)}


def pick_context_line(clicks: list[int | None]) -> Any:
    if not ctx.triggered_id or not any(clicks or []):
        return no_update
    trigger = ctx.triggered[0]["value"]
    if not trigger:
        return no_update
    return int(ctx.triggered_id["id"])


def selection_in_url(selected: int | None, criteria: dict[str, Any] | None) -> Any:
    if selected is None or not criteria:
        return no_update
    return query_string(criteria, int(selected))


def register_detail_callbacks(app: Dash) -> None:
    app.callback(
        Output(names.DETAIL, "children"),
        Input(names.SELECTED, "data"),
        Input(names.CONTEXT_SPAN, "data"),
        State(names.CRITERIA, "data"),
    )(render_detail)
    app.callback(
        Output(names.DETAIL_FLYOUT, "is_open"),
        Input(names.SELECTED, "data"),
        Input({"type": names.GRID, "v": ALL}, "cellClicked"),
        Input({"type": names.CONTEXT_LINE, "id": ALL}, "n_clicks"),
    )(open_flyout)
    app.callback(
        Output(names.CONTEXT_SPAN, "data"),
        Input(names.MORE_BEFORE, "n_clicks"),
        Input(names.MORE_AFTER, "n_clicks"),
        State(names.CONTEXT_SPAN, "data"),
        State(names.SELECTED, "data"),
        prevent_initial_call=True,
    )(widen)
    app.callback(
        Output(names.SELECTED, "data", allow_duplicate=True),
        Input({"type": names.CONTEXT_LINE, "id": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )(pick_context_line)
    app.callback(
        Output(names.LOCATION, "search", allow_duplicate=True),
        Input(names.SELECTED, "data"),
        State(names.CRITERIA, "data"),
        prevent_initial_call=True,
    )(selection_in_url)
