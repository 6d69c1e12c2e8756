"""What the Settings page's pieces share: tables, the admin check for disabling controls, time stamps."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import dash_bootstrap_components as dbc
from dash import dash_table, html
from dash.development.base_component import Component

from dashboard.services import current_actor
from storage.users import Role

ADMIN_ONLY = "needs the admin role"


def is_admin() -> bool:
    """Whether the viewer may use the admin controls (the actions check again on the server)."""
    actor = current_actor()
    return actor is not None and actor.role.allows(Role.ADMIN)


def table(table_id: str, rows: list[dict[str, Any]], columns: list[str], page_size: int = 15) -> Component:
    return dash_table.DataTable(  # type: ignore[attr-defined]  # generated at import time
        id=table_id,
        data=rows,
        columns=[{"name": column, "id": column} for column in columns],
        page_size=page_size,
        style_cell={"textAlign": "left", "fontFamily": "inherit", "fontSize": ".9rem", "padding": "4px 8px"},
        style_header={"fontWeight": "600"},
        style_data={"whiteSpace": "normal", "height": "auto"},
    )


def stamp(moment: Any) -> str:
    """A UTC time for people, or a dash for none (pandas' NaT is not equal to itself)."""
    if moment is None or moment != moment or not isinstance(moment, datetime):
        return "—"
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def card(title: str, body: Any, card_id: str | None = None, subtitle: str | None = None) -> dbc.Card:
    header: list[Component] = [html.Span(title)]
    if subtitle:
        header.append(html.Small(subtitle, className="text-secondary ms-2"))
    kwargs = {"id": card_id} if card_id else {}
    return dbc.Card([dbc.CardHeader(header), dbc.CardBody(body)], className="mb-3", **kwargs)


def message(text: str, color: str) -> dbc.Alert:
    return dbc.Alert(text, color=color, className="py-2 mb-0")
