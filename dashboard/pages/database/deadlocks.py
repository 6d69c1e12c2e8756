"""Deadlocks: a timeline of the deadlocks detected in the range (each once), and the selected one's
transactions, statements, locks held and waited for, and the victim."""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import Dash, Input, Output, dcc, html, no_update

from dashboard import ids
from dashboard.components.cards import could_not_load
from dashboard.pages.database import names
from dashboard.pages.database.common import window
from dashboard.services import services

__all__ = ["deadlock_box", "deadlock_detail", "deadlock_timeline", "register_deadlock_callbacks"]


def deadlock_box() -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader("Deadlocks"),
            dbc.CardBody(
                [
                    html.Div(id=names.DEADLOCK_LIST),
                    dcc.Graph(
                        id=names.DEADLOCK_TIMELINE,
                        config={"displayModeBar": False},
                        style={"height": "180px"},
                    ),
                    html.Div(id=names.DEADLOCK_DETAIL),
                ]
            ),
        ],
        className="mb-3",
    )


def _frame(target: str, choice: str | None, start: str | None, end: str | None) -> Any:
    since, until = window(choice, start, end)
    return services().store.database.deadlocks(target=target, since=since, until=until, limit=500)


def deadlock_timeline(
    target: str | None, choice: str | None, start: str | None, end: str | None, _tick: int | None
) -> Any:
    figure = go.Figure()
    figure.update_layout(height=180, margin={"l": 30, "r": 10, "t": 10, "b": 30}, template="plotly_white",
                         yaxis={"visible": False}, showlegend=False)  # fmt: skip
    if not target:
        return figure, None
    try:
        frame = _frame(target, choice, start, end)
    except Exception as exc:
        return figure, could_not_load("the deadlocks", exc)
    since, until = window(choice, start, end)
    figure.update_xaxes(range=[since, until])
    if frame.empty:
        return figure, html.Div(
            "No deadlocks detected in the selected window.", className="small text-secondary"
        )
    victims = [str(v or "?") for v in frame["victim"]]
    figure.add_trace(
        go.Scatter(
            x=frame["detected_at"], y=[1] * len(frame), mode="markers", customdata=frame["id"].tolist(),
            marker={"size": 14, "symbol": "x", "color": "#c0392b"},
            hovertemplate="%{x|%Y-%m-%d %H:%M:%S} UTC<br>victim: transaction %{text}<extra></extra>", text=victims,
        )
    )  # fmt: skip
    words = f"{len(frame)} deadlock{'s' if len(frame) != 1 else ''} in the window; click one to see it."
    return figure, html.Div(words, className="small mb-1 database-deadlock-count")


def deadlock_detail(
    click: dict[str, Any] | None,
    target: str | None,
    choice: str | None,
    start: str | None,
    end: str | None,
    _tick: int | None = None,
) -> Any:
    if not target:
        return None
    try:
        frame = _frame(target, choice, start, end)
    except Exception as exc:
        return could_not_load("the deadlock", exc)
    if frame.empty:
        return None
    chosen = frame.iloc[0]
    if click and click.get("points"):
        wanted = click["points"][0].get("customdata")
        match = frame[frame["id"] == wanted]
        if match.empty:
            return no_update
        chosen = match.iloc[0]
    cards = [_transaction(trx) for trx in chosen["transactions"] or []]
    return html.Div(
        [
            html.Div(f"Deadlock at {chosen['detected_at']:%Y-%m-%d %H:%M:%S} UTC; InnoDB rolled back transaction "
                     f"{chosen['victim'] or '?'}.", className="fw-semibold mb-2"),
            dbc.Row([dbc.Col(card, md=6) for card in cards]),
            html.Details([html.Summary("InnoDB's own text"), html.Pre(chosen["raw_text"], className="database-sql")]),
        ],
        className="database-deadlock",
    )  # fmt: skip


def _locks(title: str, locks: list[dict[str, Any]]) -> html.Div:
    if not locks:
        return html.Div()
    return html.Div(
        [html.Div(title, className="small fw-semibold")]
        + [html.Div(f"{lock.get('mode') or ''} on {lock.get('table') or '?'}"
                    + (f" index {lock['index']}" if lock.get("index") else ""), className="small") for lock in locks]
    )  # fmt: skip


def _transaction(trx: dict[str, Any]) -> dbc.Card:
    victim = bool(trx.get("victim"))
    return dbc.Card(
        dbc.CardBody(
            [
                html.Div([html.Strong(f"Transaction {trx.get('number')}"),
                          dbc.Badge("victim: rolled back", color="danger", className="ms-2") if victim else None]),
                html.Div(f"trx id {trx.get('trx_id') or '?'} · thread {trx.get('thread_id') or '?'}", className="small text-secondary"),
                html.Pre(trx.get("query") or "(statement not shown)", className="database-sql"),
                _locks("Holds", trx.get("holds") or []),
                _locks("Waits for", trx.get("waits_for") or []),
            ]
        ),
        className="mb-2" + (" border-danger" if victim else ""),
    )  # fmt: skip


def register_deadlock_callbacks(app: Dash) -> None:
    window_inputs = [
        Input(ids.TIME_RANGE, "value"),
        Input(ids.CUSTOM_RANGE, "start_date"),
        Input(ids.CUSTOM_RANGE, "end_date"),
    ]
    app.callback(
        Output(names.DEADLOCK_TIMELINE, "figure"), Output(names.DEADLOCK_LIST, "children"),
        Input(names.TARGET, "data"), *window_inputs, Input(ids.REFRESH_INTERVAL, "n_intervals"),
    )(deadlock_timeline)  # fmt: skip
    app.callback(
        Output(names.DEADLOCK_DETAIL, "children"), Input(names.DEADLOCK_TIMELINE, "clickData"),
        Input(names.TARGET, "data"), *window_inputs,
        Input(ids.REFRESH_INTERVAL, "n_intervals"),
    )(deadlock_detail)  # fmt: skip
