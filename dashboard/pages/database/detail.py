"""Query detail: full text, a masked sample, per-interval calls and latency, first/last seen, and the
EXPLAIN plan rendered readably with its costly steps explained; "Run EXPLAIN now" for operators."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import Dash, Input, Output, State, dcc, html, no_update

from dashboard import ids
from dashboard.components.cards import could_not_load
from dashboard.database_reads import mask_sample
from dashboard.explain_plan import read_plan
from dashboard.pages.database import names
from dashboard.pages.database.common import number, window
from dashboard.services import current_actor, services
from storage.users import Role
from tasks.actions import PermissionDenied
from tasks.actions.database import explain_now

__all__ = ["detail_box", "register_detail_callbacks", "render_detail", "run_explain"]

_FINDING_TITLES = {
    "full_scan": "Full table scan",
    "index_scan": "Full index scan",
    "missing_index": "Missing index",
    "filesort": "Filesort",
    "temporary": "Temporary table",
}


def detail_box() -> html.Div:
    return html.Div(
        [dcc.Store(id=names.SELECTED_DIGEST), html.Div(id=names.DETAIL, children=_hint())], className="mb-3"
    )


def _hint() -> html.Div:
    return html.Div(
        "Select a statement in the table to see its detail and EXPLAIN plan.",
        className="text-secondary small",
    )


def selected_digest(hash_: str | None) -> str | None:
    return dict(parse_qsl((hash_ or "").lstrip("#"))).get("digest")


def render_detail(
    hash_: str | None,
    target: str | None,
    choice: str | None,
    start: str | None,
    end: str | None,
    message: Any = None,
) -> Any:
    digest = selected_digest(hash_)
    if not digest or not target:
        return _hint()
    try:
        found = services().store.database.find_digest(target=target, digest=digest)
        if found is None:
            return dbc.Alert(f"No statement digest {digest!r} on {target}.", color="warning")
        since, until = window(choice, start, end)
        history = services().store.database.digest_history(
            digest_id=int(found["id"]), since=since, until=until
        )
    except Exception as exc:
        return could_not_load("the statement's detail", exc)
    return dbc.Card(
        [
            dbc.CardHeader(html.Span(["Statement ", html.Code(digest)])),
            dbc.CardBody([_texts(found), _history(history), _plan(found, message)]),
        ],
        className="database-detail",
    )


def _texts(found: dict[str, Any]) -> html.Div:
    seen = " · ".join(
        f"{label} {value:%Y-%m-%d %H:%M:%S} UTC"
        for label, value in (("first seen", found["first_seen"]), ("last seen", found["last_seen"]))
        if value is not None
    )
    sample = mask_sample(found.get("sample_query"))
    return html.Div(
        [
            html.Div(
                f"schema {found['schema_name'] or '(none)'} · {seen}", className="small text-secondary mb-1"
            ),
            html.H6("Normalized text"),
            html.Pre(found["digest_text"], className="database-sql"),
            html.H6("Sample statement (secrets masked)"),
            html.Pre(sample, className="database-sql")
            if sample
            else html.Div("No sample was captured for this digest.", className="small text-secondary"),
        ]
    )


def _history(history: Any) -> Any:
    if history.empty:
        return html.Div("No executions in the selected window.", className="small text-secondary my-2")
    calls = go.Figure(go.Bar(x=history["ts"], y=history["exec_count"], name="calls"))
    latency = go.Figure(
        go.Scatter(x=history["ts"], y=history["avg_latency_ms"], mode="lines+markers", name="avg ms")
    )
    for figure, title in ((calls, "Calls per interval"), (latency, "Average latency (ms)")):
        figure.update_layout(
            title=title, height=220, margin={"l": 40, "r": 10, "t": 36, "b": 30}, template="plotly_white"
        )
    return dbc.Row(
        [
            dbc.Col(dcc.Graph(figure=calls, config={"displayModeBar": False}), md=6),
            dbc.Col(dcc.Graph(figure=latency, config={"displayModeBar": False}), md=6),
        ]
    )


def _plan(found: dict[str, Any], message: Any) -> html.Div:
    actor = current_actor()
    may = actor is not None and actor.role.allows(Role.OPERATOR)
    button = dbc.Button(
        "Run EXPLAIN now", id=names.EXPLAIN_BUTTON, size="sm", color="primary", n_clicks=0,
        disabled=not may or not found.get("sample_query"),
    )  # fmt: skip
    why = (
        "needs the operator role"
        if not may
        else (
            "no sample statement was captured"
            if not found.get("sample_query")
            else "read-only statements only; 5 s timeout"
        )
    )
    parts: list[Any] = [
        html.Div([html.H6("EXPLAIN", className="me-auto mb-0"), html.Span(why, className="small text-secondary"), button],
                 className="d-flex align-items-center gap-2 mb-2"),
        html.Div(message, id=names.EXPLAIN_RESULT),
    ]  # fmt: skip
    plan = found.get("explain_json")
    if not plan:
        parts.append(html.Div("No EXPLAIN plan captured yet.", className="small text-secondary"))
        return html.Div(parts)
    read = read_plan(plan)
    if read.get("error"):
        parts.append(dbc.Alert(read["error"], color="warning"))
        return html.Div(parts)
    parts.append(_plan_table(read["nodes"]))
    for finding in read["findings"]:
        parts.append(
            dbc.Alert(
                [
                    html.Strong(_FINDING_TITLES.get(finding["kind"], finding["kind"]) + ": "),
                    html.Span(finding["why"]),
                ],
                color="danger" if finding["kind"] in {"full_scan", "missing_index"} else "warning",
                className=f"py-2 mb-1 database-finding database-finding-{finding['kind']}",
            )
        )
    if not read["findings"]:
        parts.append(
            html.Div(
                "No full scans, filesorts or temporary tables in this plan.", className="small text-success"
            )
        )
    return html.Div(parts)


def _plan_table(nodes: list[dict[str, Any]]) -> dbc.Table:
    header = html.Thead(
        html.Tr(
            [
                html.Th(name)
                for name in ("Step", "Table", "Access", "Possible keys", "Key", "Rows", "Filtered %", "Extra")
            ]
        )
    )
    body = []
    for node in nodes:
        costly = any(
            f["kind"] in {"full_scan", "missing_index", "filesort", "temporary"} for f in node["findings"]
        )
        body.append(
            html.Tr(
                [
                    html.Td(("· " * node["depth"]) + node["operation"]),
                    html.Td(node["table"] or ""),
                    html.Td(node["access_type"] or ""),
                    html.Td(node["possible_keys"] or ""),
                    html.Td(node["key"] or ""),
                    html.Td(number(node["rows"], 0) if node["rows"] is not None else ""),
                    html.Td(number(node["filtered"], 1) if node["filtered"] is not None else ""),
                    html.Td(node["extra"]),
                ],
                className="table-danger" if costly else "",
            )
        )
    return dbc.Table([header, html.Tbody(body)], size="sm", bordered=True, className="database-plan mb-2")


def run_explain(
    _clicks: int | None,
    hash_: str | None,
    target: str | None,
    choice: str | None,
    start: str | None,
    end: str | None,
) -> Any:
    """The action checks the role (a hand-posted callback from a viewer is refused and audited)."""
    if not _clicks:
        return no_update
    digest = selected_digest(hash_)
    found = services().store.database.find_digest(target=target, digest=digest) if target and digest else None
    if found is None:
        return no_update
    try:
        explain_now(services().store, services().settings, current_actor(), digest_id=int(found["id"]))
    except PermissionDenied as exc:
        message: Any = dbc.Alert(str(exc), color="danger", className="py-2")
    except Exception as exc:  # refused (not read-only) or failed (timeout, server down): say why
        message = dbc.Alert(f"EXPLAIN was not run: {exc}", color="warning", className="py-2")
    else:
        message = dbc.Alert(
            "EXPLAIN ran; the plan below is new.", color="success", className="py-2", duration=5000
        )
    return render_detail(hash_, target, choice, start, end, message)


def register_detail_callbacks(app: Dash) -> None:
    window_states = [
        State(ids.TIME_RANGE, "value"),
        State(ids.CUSTOM_RANGE, "start_date"),
        State(ids.CUSTOM_RANGE, "end_date"),
    ]
    app.callback(
        Output(names.DETAIL, "children"),
        Input(names.LOCATION, "hash"),
        Input(names.TARGET, "data"),
        Input(ids.TIME_RANGE, "value"),
        Input(ids.CUSTOM_RANGE, "start_date"),
        Input(ids.CUSTOM_RANGE, "end_date"),
    )(render_detail)
    app.callback(
        Output(names.DETAIL, "children", allow_duplicate=True),
        Input(names.EXPLAIN_BUTTON, "n_clicks"),
        State(names.LOCATION, "hash"),
        State(names.TARGET, "data"),
        *window_states,
        prevent_initial_call=True,
    )(run_explain)
