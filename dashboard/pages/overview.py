"""Overview: the targets' status board, the few numbers that say whether this host is healthy (KPI
tiles coloured by the stored thresholds, each with a sparkline and a link to its page), and its CPU
and memory. Everything here is the same for every viewer, so it is computed once per sharing bucket."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Literal

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Dash, Input, Output, html

from dashboard import ids
from dashboard.cache import aligned_now_ms, shared
from dashboard.components.cards import kpi_card
from dashboard.components.channel_health import channel_health
from dashboard.components.live_chart import ChartSpec, live_chart
from dashboard.components.status_board import status_board
from dashboard.figures import sparkline_figure
from dashboard.pages.incidents.panel import open_incidents_panel
from dashboard.services import services
from storage import Settings, Store
from storage.latest import recent_many
from storage.timeparse import utc_now

PATH = "/"
NAME = "Overview"
ORDER = 10  # place in the navbar

KPI_ROW = "overview-kpis"
STATUS_AREA = "overview-status"
CHANNELS_AREA = "overview-channels"
CHANNELS_NOTICE = "overview-channel-health"
# How much history a tile's sparkline shows (raw samples: keep it short).
SPARKLINE_WINDOW = timedelta(minutes=15)
_SPARKLINE_MAX_POINTS = 90


@dataclass(frozen=True)
class Kpi:
    card_id: str
    label: str
    metric: str
    labels: dict[str, str] = field(default_factory=dict)  # picks one series of the metric
    unit: str = ""
    thresholds: str | None = None  # "cpu", "memory" or "disk": coloured by the stored thresholds
    href: str = "/system"


KPIS = [
    Kpi("kpi-cpu", "CPU", "system.cpu.percent", unit="%", thresholds="cpu"),
    Kpi("kpi-memory", "Memory", "system.memory.percent", unit="%", thresholds="memory"),
    Kpi("kpi-disk", "Disk /", "system.disk.percent", {"mount": "/"}, "%", thresholds="disk"),
    Kpi("kpi-load", "Load 1m", "system.load", {"period": "1m"}),
    Kpi("kpi-processes", "Processes", "system.process.count"),
]

CHARTS = [
    ChartSpec("overview-cpu", "system.cpu.percent", "CPU busy", "%"),
    ChartSpec("overview-memory", "system.memory.percent", "Memory in use", "%"),
]


def layout(**_query: str) -> html.Div:
    return html.Div(
        [
            html.H1("Overview", className="page-title"),
            html.Div(_shared_status_board(), id=STATUS_AREA),
            # An alert nobody receives is worse than none: failing notification channels show here too.
            html.Div(_shared_channel_health(), id=CHANNELS_AREA),
            dbc.Row(id=KPI_ROW, className="g-3 mb-3", children=_kpi_cards()),
            open_incidents_panel(),  # its callback is registered by the Incidents page
            dbc.Row([dbc.Col(live_chart(spec), lg=6, className="mb-3") for spec in CHARTS]),
        ]
    )


def _format(value: float, unit: str) -> str:
    return f"{value:.1f}{unit}" if unit == "%" else f"{value:.2f}" if value < 100 else f"{value:,.0f}"


def _kpi_cards() -> list[dbc.Col]:
    """The tiles, computed once per sharing bucket for every viewer (one query for all of them)."""
    return shared(("overview-kpis", aligned_now_ms()), _build_kpi_cards)


def _build_kpi_cards() -> list[dbc.Col]:
    store, settings = services().store, services().settings
    # Older than the stale rule means the collector stopped: show "no data", never a stale value.
    max_age_s = settings.stale_after_seconds(settings.system_interval_seconds)
    try:
        window = max(SPARKLINE_WINDOW, timedelta(seconds=max_age_s))
        recent = recent_many(store.engine, [kpi.metric for kpi in KPIS], since=window)
        thresholds = kpi_thresholds(store, settings)
    except Exception as exc:  # a down store degrades the tiles, not the page
        cards = [kpi_card(kpi.label, "error", str(exc)[:80], stale=True, card_id=kpi.card_id) for kpi in KPIS]
        return _columns(cards)
    now = utc_now()
    return _columns([_tile(kpi, recent, thresholds, now, max_age_s) for kpi in KPIS])


def _columns(cards: list[Any]) -> list[dbc.Col]:
    # Tiles grow to share each line of the row, so no count of tiles ever leaves a hole at its end.
    return [dbc.Col(card, className="kpi-col", style={"flex": "1 1 11rem"}) for card in cards]


def _tile(
    kpi: Kpi,
    recent: pd.DataFrame,
    thresholds: dict[str, tuple[float, float]],
    now: datetime,
    max_age_s: float,
) -> Any:
    rows = _one_series(recent, kpi)
    limits = thresholds.get(kpi.thresholds) if kpi.thresholds else None
    if rows.empty or (now - rows["ts"].iloc[-1].to_pydatetime()).total_seconds() > max_age_s:
        return kpi_card(
            kpi.label,
            "no data",
            f"nothing in the last {max_age_s:.0f}s",
            stale=True,
            card_id=kpi.card_id,
            sparkline=_sparkline(rows, None, kpi.unit),
            href=kpi.href,
        )
    value = float(rows["value"].iloc[-1])
    level = threshold_level(value, limits) if limits else None
    age = (now - rows["ts"].iloc[-1].to_pydatetime()).total_seconds()
    detail = f"{age:.0f} s ago" + (f" · warn {limits[0]:g} / crit {limits[1]:g}" if limits else "")
    return kpi_card(
        kpi.label,
        _format(value, kpi.unit),
        detail,
        card_id=kpi.card_id,
        level=level,
        sparkline=_sparkline(rows, level, kpi.unit),
        href=kpi.href,
    )


def threshold_level(value: float, limits: tuple[float, float]) -> Literal["ok", "warning", "critical"]:
    """Where ``value`` stands against (warning, critical) thresholds of a high-is-bad metric."""
    warning, critical = limits
    return "critical" if value >= critical else "warning" if value >= warning else "ok"


def kpi_thresholds(store: Store, settings: Settings) -> dict[str, tuple[float, float]]:
    """(warning, critical) per tile kind from the stored configuration (the Settings page; the
    defaults (docs/engineering-notes.md): CPU 70/90 %, memory 80/95 %, disk 80/95 % until someone changes them)."""
    return {
        kind: (
            float(store.config.value(key=f"alerts.{kind}_warn_percent", settings=settings)),
            float(store.config.value(key=f"alerts.{kind}_critical_percent", settings=settings)),
        )
        for kind in ("cpu", "memory", "disk")
    }


def _one_series(recent: pd.DataFrame, kpi: Kpi) -> pd.DataFrame:
    # Match labels once per series, not once per sample row.
    series = recent.drop_duplicates("series_id")
    series = series[series["metric"] == kpi.metric]
    wanted = kpi.labels.items()
    matching = [sid for sid, have in zip(series["series_id"], series["labels"], strict=True)
                if all(have.get(k) == v for k, v in wanted)]  # fmt: skip
    return recent[recent["series_id"] == matching[0]] if matching else recent.iloc[0:0]


def _sparkline(rows: pd.DataFrame, level: str | None, unit: str) -> dict[str, Any] | None:
    if rows.empty:
        return None
    every = max(1, len(rows) // _SPARKLINE_MAX_POINTS)
    sample = rows.iloc[::every]
    x = sample["ts"].dt.strftime("%Y-%m-%dT%H:%M:%SZ").tolist()
    return sparkline_figure(x, sample["value"].tolist(), level, (0.0, 100.0) if unit == "%" else None)


def _shared_status_board() -> Any:
    # Read from stored health results, so it is the same for every viewer in a bucket.
    return shared(("overview-status", aligned_now_ms()), status_board)


def _shared_channel_health() -> Any:
    return shared(("overview-channels", aligned_now_ms()), lambda: channel_health(element_id=CHANNELS_NOTICE))


# The layout already drew these with fresh data: the first refresh is the first tick, not page open.
_TICKS_ONLY = {"prevent_initial_call": True}


def register_callbacks(app: Dash) -> None:
    app.callback(Output(KPI_ROW, "children"), Input(ids.REFRESH_INTERVAL, "n_intervals"), **_TICKS_ONLY)(
        refresh_kpis
    )
    app.callback(Output(STATUS_AREA, "children"), Input(ids.REFRESH_INTERVAL, "n_intervals"), **_TICKS_ONLY)(
        refresh_status
    )
    app.callback(
        Output(CHANNELS_AREA, "children"), Input(ids.REFRESH_INTERVAL, "n_intervals"), **_TICKS_ONLY
    )(refresh_channels)


def refresh_status(_ticks: int | None) -> Any:
    """The status board, on every refresh tick."""
    return _shared_status_board()


def refresh_channels(_ticks: int | None) -> Any:
    """Failing notification channels, on every refresh tick."""
    return _shared_channel_health()


def refresh_kpis(_ticks: int | None) -> list[dbc.Col]:
    """The KPI tiles, on every refresh tick."""
    return _kpi_cards()
