"""Figure builders: every chart in Vitals is made here, so they all look and behave alike."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

import pandas as pd
import plotly.graph_objects as go

__all__ = ["empty_figure", "line_figure", "trace_name"]

_LAYOUT: dict[str, Any] = {
    "template": "plotly_white",
    "margin": {"l": 48, "r": 12, "t": 8, "b": 32},
    "legend": {"orientation": "h", "y": -0.18, "x": 0},
    "hovermode": "x unified",
    # Keeps the user's zoom and legend clicks across refreshes.
    "uirevision": "keep",
}


def trace_name(labels: Mapping[str, str], host: str, many_hosts: bool, fallback: str) -> str:
    parts = ([host] if many_hosts else []) + [str(value) for _key, value in sorted(labels.items())]
    return " · ".join(parts) or fallback


def _axis_layout(since: datetime, until: datetime, unit: str) -> dict[str, Any]:
    yaxis: dict[str, Any] = {"title": {"text": unit}, "rangemode": "tozero"}
    if unit == "%":
        yaxis["range"] = [0, 100]
    return {"xaxis": {"range": [since, until], "type": "date"}, "yaxis": yaxis}


def line_figure(
    frame: pd.DataFrame, value_column: str, since: datetime, until: datetime, unit: str, fallback_name: str
) -> tuple[go.Figure, list[int]]:
    """One line per series; returns the figure and the series ids in trace order (for later patches)."""
    figure = go.Figure(layout={**_LAYOUT, **_axis_layout(since, until, unit)})
    order: list[int] = []
    many_hosts = frame["host"].nunique() > 1 if not frame.empty else False
    for series_id, rows in frame.groupby("series_id", sort=True):
        first = rows.iloc[0]
        figure.add_trace(
            go.Scatter(
                x=rows["ts"].dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ").tolist(),
                y=rows[value_column].tolist(),
                mode="lines",
                name=trace_name(first["labels"], first["host"], many_hosts, fallback_name),
                hovertemplate=f"%{{y:.4~g}} {unit}<extra>%{{fullData.name}}</extra>",
            )
        )
        order.append(int(series_id))
    if len(order) == 1:
        figure.update_layout(showlegend=False)
    return figure, order


def empty_figure(message: str) -> go.Figure:
    """A blank chart that says why it is blank, instead of empty axes."""
    figure = go.Figure(layout={**_LAYOUT, "xaxis": {"visible": False}, "yaxis": {"visible": False}})
    figure.add_annotation(text=message, showarrow=False, font={"size": 14, "color": "#6c757d"})
    return figure
