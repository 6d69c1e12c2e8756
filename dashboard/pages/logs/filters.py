"""The search bar: words, levels, channel, host, source, request id; the narrowed window; the URL.

Every change resolves one ``criteria`` (a ``dcc.Store``) that the grid, the histogram, the tail and
the archive button follow, and writes the filters into the URL so a link reproduces the view.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
from dash import Dash, Input, Output, State, ctx, dcc, html, no_update

from dashboard import ids
from dashboard.pages.logs import names
from dashboard.pages.logs.criteria import criteria_from, iso_ms, parse_levels, query_string, validate_inputs
from dashboard.services import services
from storage.logs import LOG_LEVELS

__all__ = ["filter_bar", "register_filter_callbacks", "update_criteria"]


def _options(values: list[str], current: str | None) -> list[dict[str, str]]:
    found = list(dict.fromkeys([*values, *([current] if current else [])]))
    return [{"label": value, "value": value} for value in found]


def _known(kind: str) -> list[str]:
    try:
        logs = services().store.logs
        return {"channel": logs.channels, "host": logs.hosts, "source": logs.sources}[kind](since="30d")
    except Exception:  # the store down: the boxes still take typed values
        return []


def filter_bar(query: dict[str, str]) -> html.Div:
    levels = parse_levels(query.get("level"))
    return html.Div(
        [
            dbc.Row(
                [
                    dbc.Col(
                        [
                            dbc.InputGroup(
                                [
                                    dbc.Input(
                                        id=names.QUERY,
                                        type="search",
                                        value=query.get("q", ""),
                                        placeholder='Search words or "a phrase"…',
                                        debounce=True,
                                        autoComplete="off",
                                    ),
                                    dbc.Button("Search", id=names.SEARCH, color="primary", n_clicks=0),
                                ]
                            ),
                            dbc.FormFeedback(id=names.QUERY_FEEDBACK, type="invalid"),
                        ],
                        lg=5,
                        className="mb-2",
                    ),
                    dbc.Col(
                        dcc.Dropdown(
                            id=names.LEVELS,
                            options=[{"label": level, "value": level} for level in LOG_LEVELS],
                            value=levels,
                            multi=True,
                            placeholder="All levels",
                        ),
                        lg=3,
                        className="mb-2",
                    ),
                    dbc.Col(
                        [
                            dbc.Input(
                                id=names.REQUEST_ID,
                                value=query.get("request_id", ""),
                                placeholder="Request id",
                                debounce=True,
                                autoComplete="off",
                            ),
                            dbc.FormFeedback(id=names.REQUEST_ID_FEEDBACK, type="invalid"),
                        ],
                        lg=4,
                        className="mb-2",
                    ),
                ],
                className="g-2",
            ),
            dbc.Row(
                [
                    dbc.Col(
                        _picker(names.CHANNEL, "Channel / logger", "channel", query), lg=3, className="mb-2"
                    ),
                    dbc.Col(_picker(names.HOST, "Host", "host", query), lg=3, className="mb-2"),
                    dbc.Col(_picker(names.SOURCE, "Source file", "source", query), lg=6, className="mb-2"),
                    dbc.Col(
                        html.Div(
                            [
                                html.Span(id=names.WINDOW_BADGE, className="me-2 small text-muted"),
                                dbc.Button(
                                    "Back to the global range",
                                    id=names.WINDOW_RESET,
                                    size="sm",
                                    color="secondary",
                                    outline=True,
                                    n_clicks=0,
                                ),
                            ],
                            className="d-flex align-items-center",
                        ),
                        lg=12,
                        className="mb-1",
                    ),
                ],
                className="g-2",
            ),
        ],
        className="logs-filters",
    )


def _picker(component_id: str, placeholder: str, kind: str, query: dict[str, str]) -> dcc.Dropdown:
    current = query.get(kind) or None
    return dcc.Dropdown(
        id=component_id,
        options=_options(_known(kind), current),
        value=current,
        placeholder=placeholder,
        clearable=True,
        searchable=True,
        optionHeight=32,
    )


def update_criteria(
    _clicks: int | None,
    query: str | None,
    levels: list[str] | None,
    channel: str | None,
    host: str | None,
    source: str | None,
    request_id: str | None,
    window: dict[str, int] | None,
    range_choice: str | None,
    start_date: str | None,
    end_date: str | None,
    previous: dict[str, Any] | None,
    entry: int | None,
) -> tuple[Any, ...]:
    """Resolve the search; a value that cannot be searched is flagged next to its field, nothing lost."""
    values = {"query": query, "channel": channel, "host": host, "source": source, "request_id": request_id}
    problems = validate_inputs(values)
    flags = (
        "query" in problems,
        f"Search text: {problems['query']}" if "query" in problems else "",
        "request_id" in problems,
        f"Request id: {problems['request_id']}" if "request_id" in problems else "",
    )
    if problems:
        return (no_update, no_update, *flags, no_update, no_update)
    version = int((previous or {}).get("version", 0)) + 1
    criteria = criteria_from(values, levels, window, range_choice, [start_date, end_date], version)
    badge = _window_text(criteria["from_ms"], criteria["to_ms"]) if criteria["window"] else ""
    trigger = ctx.triggered_id
    keep_entry = entry if trigger in (None, names.WINDOW) or previous is None else None
    reset_style = {} if criteria["window"] else {"display": "none"}
    return (criteria, query_string(criteria, keep_entry), *flags, badge, reset_style)


def _window_text(from_ms: int, to_ms: int) -> str:
    start, end = iso_ms(from_ms), iso_ms(to_ms)
    if start[:10] == end[:10]:
        return f"Window {start[:10]} {start[11:19]} to {end[11:19]} UTC"
    return f"Window {start[:16]} to {end[:16]} UTC".replace("T", " ")


def reset_window(_clicks: int | None) -> Any:
    return None if _clicks else no_update


def register_filter_callbacks(app: Dash) -> None:
    app.callback(
        Output(names.CRITERIA, "data"),
        Output(names.LOCATION, "search", allow_duplicate=True),
        Output(names.QUERY, "invalid"),
        Output(names.QUERY_FEEDBACK, "children"),
        Output(names.REQUEST_ID, "invalid"),
        Output(names.REQUEST_ID_FEEDBACK, "children"),
        Output(names.WINDOW_BADGE, "children"),
        Output(names.WINDOW_RESET, "style"),
        Input(names.SEARCH, "n_clicks"),
        Input(names.QUERY, "value"),
        Input(names.LEVELS, "value"),
        Input(names.CHANNEL, "value"),
        Input(names.HOST, "value"),
        Input(names.SOURCE, "value"),
        Input(names.REQUEST_ID, "value"),
        Input(names.WINDOW, "data"),
        Input(ids.TIME_RANGE, "value"),
        Input(ids.CUSTOM_RANGE, "start_date"),
        Input(ids.CUSTOM_RANGE, "end_date"),
        State(names.CRITERIA, "data"),
        State(names.SELECTED, "data"),
        prevent_initial_call="initial_duplicate",
    )(update_criteria)
    app.callback(
        Output(names.WINDOW, "data", allow_duplicate=True),
        Input(names.WINDOW_RESET, "n_clicks"),
        prevent_initial_call=True,
    )(reset_window)
