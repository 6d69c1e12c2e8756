"""The explorer's controls, pre-filled from the URL so a link reproduces the view."""

from __future__ import annotations

import dash_bootstrap_components as dbc
from dash import dcc, html

from dashboard.figures import empty_figure
from dashboard.pages.explore.query import AGGREGATES
from dashboard.services import services
from tasks.catalog import describe

__all__ = [
    "AGG",
    "CHART",
    "DOWNLOAD",
    "DOWNLOAD_CSV",
    "DOWNLOAD_PARQUET",
    "FEEDBACK",
    "HOST",
    "LABELS",
    "LINK",
    "METRICS",
    "STATUS",
    "STEP",
    "layout",
]

METRICS = "explore-metrics"
AGG = "explore-agg"
STEP = "explore-step"
HOST = "explore-host"
LABELS = "explore-labels"
CHART = "explore-chart"
STATUS = "explore-status"
LINK = "explore-link"
DOWNLOAD = "explore-download"
DOWNLOAD_CSV = "explore-download-csv"
DOWNLOAD_PARQUET = "explore-download-parquet"
# Message next to each field: FEEDBACK[field] is the id of the text under it.
FEEDBACK = {name: f"explore-{name}-feedback" for name in ("metrics", "agg", "step", "labels")}


def _catalog_options() -> tuple[list[dict[str, str]], list[dict[str, str]]]:
    """(metric options, host options) from what the store actually holds."""
    try:
        found = services().store.list_series()
    except Exception:  # a down store: the chart area says so
        return [], []
    metrics = []
    for name in sorted(found["metric"].unique()):
        unit, description = describe(str(name))
        unit_text = f" ({unit})" if unit else ""
        metrics.append({"label": f"{name}{unit_text}", "value": str(name), "title": description})
    hosts = [{"label": host, "value": host} for host in sorted(found["host"].unique())]
    return metrics, hosts


def _field(label: str, control: object, feedback: str, help_text: str) -> dbc.Col:
    return dbc.Col(
        [
            dbc.Label(label, className="small mb-1"),
            control,
            html.Div(id=feedback, className="invalid-feedback d-block small") if feedback else None,
            html.Div(help_text, className="form-text"),
        ],
        md=True,
    )


def layout(**query: str) -> html.Div:
    metric_options, host_options = _catalog_options()
    chosen = [name for name in (query.get("metrics") or "").split(",") if name]
    if not chosen and metric_options:
        chosen = (
            ["system.cpu.percent"] if any(o["value"] == "system.cpu.percent" for o in metric_options) else []
        )
    controls = dbc.Row(
        [
            _field(
                "Metrics",
                dcc.Dropdown(
                    id=METRICS,
                    options=metric_options,
                    value=chosen,
                    multi=True,
                    placeholder="Choose metrics…",
                ),
                FEEDBACK["metrics"],
                "Several are overlaid; hover an option for its meaning.",
            ),
            _field(
                "Aggregate",
                dbc.Select(
                    id=AGG,
                    options=[{"label": agg, "value": agg} for agg in AGGREGATES],
                    value=query.get("agg") if query.get("agg") in AGGREGATES else "mean",
                ),
                FEEDBACK["agg"],
                "Per bucket.",
            ),
            _field(
                "Step",
                dbc.Input(id=STEP, value=query.get("step", ""), placeholder="auto", debounce=True),
                FEEDBACK["step"],
                "e.g. 10s, 5m, 1h; empty: chosen from the range.",
            ),
            _field(
                "Host",
                dcc.Dropdown(
                    id=HOST, options=host_options, value=query.get("host"), placeholder="every host"
                ),
                "",
                "Only this host's series.",
            ),
            _field(
                "Labels",
                dbc.Input(id=LABELS, value=query.get("labels", ""), placeholder="mount=/", debounce=True),
                FEEDBACK["labels"],
                "key=value, comma-separated.",
            ),
        ],
        className="g-2 mb-2",
    )
    actions = html.Div(
        [
            html.A(
                "Link to this view", id=LINK, href="/explore", className="btn btn-sm btn-outline-secondary"
            ),
            dbc.Button("CSV", id=DOWNLOAD_CSV, size="sm", color="secondary", outline=True, n_clicks=0),
            dbc.Button(
                "Parquet", id=DOWNLOAD_PARQUET, size="sm", color="secondary", outline=True, n_clicks=0
            ),
            dcc.Download(id=DOWNLOAD),
            html.Span(id=STATUS, className="small text-secondary ms-2"),
        ],
        className="d-flex align-items-center gap-2 mb-2",
    )
    graph = dcc.Graph(
        id=CHART,
        figure=empty_figure("Choose a metric"),
        config={"displaylogo": False, "responsive": True, "displayModeBar": "hover"},
        style={"height": "480px"},
    )
    return html.Div(
        [
            html.H1("Explore", className="page-title"),
            controls,
            actions,
            dbc.Card(dbc.CardBody(graph, className="p-2")),
        ]
    )
