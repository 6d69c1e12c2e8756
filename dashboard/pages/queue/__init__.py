"""Queue: the monitored Celery apps — brokers, workers, queue lengths, throughput, failures, runtimes,
and the recent tasks (``tasks``).

Everything is read from the store (one ``latest_many`` query for the tables, live charts for history), which
the Celery collection job (tasks.celery_jobs) fills. A worker or broker whose newest reading is older
than three collection intervals shows as stale/offline, never as healthy. A worker whose own processed
count grows while no task event names it is flagged: it runs without ``-E`` and its tasks are invisible
to the counts and the recent-tasks table.
"""

from __future__ import annotations

from typing import Any

import dash_bootstrap_components as dbc
import pandas as pd
from dash import Dash, Input, Output, html

from dashboard import ids
from dashboard.cache import aligned_now_ms, shared
from dashboard.components.cards import could_not_load
from dashboard.components.live_chart import ChartSpec, live_chart
from dashboard.durations import duration_text
from dashboard.pages.queue import tasks
from dashboard.services import services
from storage.latest import latest_many, recent_many
from storage.queue import tasks_per_worker
from storage.timeparse import utc_now

PATH = "/queue"
NAME = "Queue"
ORDER = 50  # place in the navbar

STATUS = "queue-status"
BROKERS = "queue-brokers"
WORKERS_TABLE = "queue-workers"
EMPTY_STATE = "queue-empty"
CHARTS_ROW = "queue-charts"

CHARTS = [
    ChartSpec("queue-length", "celery.queue.length", "Messages waiting per queue", "", agg="max"),
    ChartSpec("queue-succeeded", "celery.task.succeeded", "Tasks succeeded per task", "", agg="sum"),
    ChartSpec("queue-failed", "celery.task.failed", "Tasks failed per task", "", agg="sum"),
    ChartSpec("queue-retried", "celery.task.retried", "Tasks retried per task", "", agg="sum"),
    ChartSpec("queue-runtime", "celery.task.runtime_seconds", "Mean task runtime", "s"),
    ChartSpec("queue-runtime-max", "celery.task.runtime_max_seconds", "Longest task runtime", "s", agg="max"),
]

_WORKER_COUNTS = (
    ("Active", "celery.worker.active"),
    ("Reserved", "celery.worker.reserved"),
    ("Scheduled", "celery.worker.scheduled"),
)
# How far back the tables look: long enough to list a worker that went away, as offline.
_LOOKBACK = "1h"


def layout(**_query: str) -> html.Div:
    collected = _anything_collected()
    return html.Div(
        [
            html.H1("Queue", className="page-title"),
            html.Div(id=STATUS, children=_status()),
            dbc.Row(
                [dbc.Col(live_chart(spec), lg=6, xxl=4, className="mb-3") for spec in CHARTS],
                id=CHARTS_ROW,
                style={} if collected else {"display": "none"},
            ),
            html.Div(tasks.tasks_section(), style={} if collected else {"display": "none"}),
        ]
    )


# The layout already drew these with fresh data: the first refresh is the first tick, not page open.
_TICKS_ONLY = {"prevent_initial_call": True}


def register_callbacks(app: Dash) -> None:
    app.callback(Output(STATUS, "children"), Input(ids.REFRESH_INTERVAL, "n_intervals"), **_TICKS_ONLY)(
        refresh_status
    )
    tasks.register_callbacks(app)


def refresh_status(_ticks: int | None) -> Any:
    """Brokers and the workers table, on every refresh tick."""
    return _status()


# -- reading ----------------------------------------------------------------------------------


def _stale_after_seconds() -> float:
    settings = services().settings
    return settings.stale_after_seconds(settings.celery_interval_seconds)


# Every metric the tables show, read together in one query per refresh.
_TABLE_METRICS = (
    "celery.broker.up",
    "celery.workers.online",
    "celery.worker.up",
    *(metric for _, metric in _WORKER_COUNTS),
    "celery.worker.concurrency",
    "celery.worker.uptime_seconds",
    "celery.worker.processed_total",
)
# A worker whose processed count grew over this window with no task event naming it sends no events.
_EVENTS_WINDOW = "15m"


class _Latest:
    """The newest reading of every table metric (one ``latest_many`` query), split by metric."""

    def __init__(self) -> None:
        frame = latest_many(services().store.engine, _TABLE_METRICS, max_age=_LOOKBACK)
        self._by_metric = {str(metric): rows for metric, rows in frame.groupby("metric", sort=False)}
        self._empty = frame.iloc[0:0]

    def __call__(self, metric: str) -> pd.DataFrame:
        return self._by_metric.get(metric, self._empty)


def _anything_collected() -> bool:
    def read() -> bool:
        try:
            return not services().store.list_series(metric="celery.broker.up").empty
        except Exception:  # a down store: the status area says so
            return True

    return shared(("queue-collected", aligned_now_ms()), read)


def _age_seconds(ts: pd.Timestamp) -> float:
    return max(0.0, (utc_now() - ts.to_pydatetime()).total_seconds())


# -- rendering --------------------------------------------------------------------------------


def _status() -> Any:
    """Brokers and workers, the same for every viewer: built once per sharing bucket."""
    return shared(("queue-status", aligned_now_ms()), _build_status)


def _build_status() -> Any:
    try:
        if not _anything_collected():
            return _empty_state()
        latest = _Latest()
        return [_brokers(latest), _workers_table(latest)]
    except Exception as exc:  # a failing store degrades this area, not the page
        return could_not_load("the Celery data", exc)


def _empty_state() -> dbc.Alert:
    settings = services().settings
    configured = bool(settings.celery_broker_urls or settings.broker_url)
    reason = (
        "A broker is configured, but nothing has been collected from it yet: is `vitals beat` running, "
        "with at least one `vitals worker`?"
        if configured
        else "No Celery app is configured."
    )
    return dbc.Alert(
        [
            html.H5("No Celery data yet", className="alert-heading"),
            html.P(reason),
            html.P(
                [
                    "Set ",
                    html.Code("VITALS_CELERY_BROKER_URLS"),
                    " to the broker URLs of the Celery apps to watch (comma-separated, Redis or RabbitMQ), "
                    "or ",
                    html.Code("VITALS_BROKER_URL"),
                    " to watch Vitals' own workers. Workers must send task events (",
                    html.Code("celery worker -E"),
                    " or ",
                    html.Code("worker_send_task_events = True"),
                    ") for task counts and runtimes.",
                ],
                className="mb-0",
            ),
        ],
        id=EMPTY_STATE,
        color="secondary",
    )


def _brokers(latest: _Latest) -> html.Div:
    up = latest("celery.broker.up")
    online = latest("celery.workers.online")
    online_by_broker = {
        labels.get("broker"): value for labels, value in zip(online["labels"], online["value"], strict=True)
    }
    badges = []
    for labels, value, ts in sorted(
        zip(up["labels"], up["value"], up["ts"], strict=True), key=lambda row: str(row[0])
    ):
        broker = str(labels.get("broker", "?"))
        age = _age_seconds(ts)
        if age > _stale_after_seconds():
            text, color = f"{broker}: no data for {age:.0f} s", "secondary"
        elif value < 1:
            text, color = f"{broker}: unreachable", "danger"
        else:
            workers = int(online_by_broker.get(broker, 0))
            text, color = (
                f"{broker}: {workers} worker{'s' if workers != 1 else ''} online",
                "success" if workers else "warning",
            )
        badges.append(dbc.Badge(text, color=color, className="me-2 p-2"))
    if not badges:
        badges = [dbc.Badge(f"no broker reading in the last {_LOOKBACK}", color="secondary", className="p-2")]
    return html.Div(badges, id=BROKERS, className="mb-3")


def _workers_table(latest: _Latest) -> Any:
    rows = _worker_rows(latest)
    if not rows:
        return dbc.Alert("No worker answered a ping in the last hour.", color="warning", id=WORKERS_TABLE)
    header = html.Thead(html.Tr([html.Th(name) for name in _WORKER_HEADERS]))
    body = html.Tbody([html.Tr([html.Td(cell) for cell in row]) for row in rows])
    return dbc.Table([header, body], id=WORKERS_TABLE, size="sm", striped=True, hover=True, className="mb-3")


_WORKER_HEADERS = (
    "Broker",
    "Worker",
    "Status",
    *(c for c, _ in _WORKER_COUNTS),
    "Pool, size",
    "Uptime",
    "Processed",
    "Task events",
)


def _worker_rows(latest: _Latest) -> list[list[Any]]:
    """One row per (broker, worker) seen in the lookback: status, latest task counts, pool and totals."""
    up = latest("celery.worker.up")
    counts = {metric: _by_worker(latest(metric)) for _, metric in _WORKER_COUNTS}
    pools = _pools(latest("celery.worker.concurrency"))
    uptime = _by_worker(latest("celery.worker.uptime_seconds"))
    processed = _by_worker(latest("celery.worker.processed_total"))
    silent, seen = _event_senders()
    rows = []
    for labels, ts in sorted(
        zip(up["labels"], up["ts"], strict=True),
        key=lambda row: (row[0].get("broker", ""), row[0].get("worker", "")),
    ):
        key = (str(labels.get("broker", "")), str(labels.get("worker", "")))
        age = _age_seconds(ts)
        online = age <= _stale_after_seconds()
        status = "online" if online else f"offline (last seen {age:.0f} s ago)"
        values = [counts[metric].get(key) if online else None for _, metric in _WORKER_COUNTS]
        rows.append(
            [
                *key,
                status,
                *("-" if value is None else f"{value:.0f}" for value in values),
                pools.get(key, "-"),
                duration_text(uptime.get(key)) if online else "-",
                "-" if processed.get(key) is None else f"{processed[key]:,.0f}",
                _events_cell(key in silent, bool(seen.get(key))),
            ]
        )
    return rows


def _pools(frame: pd.DataFrame) -> dict[tuple[str, str], str]:
    """(broker, worker) -> ``prefork, 4 processes``."""
    return {
        (
            str(labels.get("broker", "")),
            str(labels.get("worker", "")),
        ): f"{labels.get('pool', '?')}, {value:.0f}"
        for labels, value in zip(frame["labels"], frame["value"], strict=True)
    }


def _event_senders() -> tuple[set[tuple[str, str]], dict[tuple[str, str], int]]:
    """Workers whose processed count grew in the last minutes while no task event named them, and
    the task rows per worker in those minutes."""
    history = recent_many(services().store.engine, ["celery.worker.processed_total"], since=_EVENTS_WINDOW)
    grew = set()
    for labels, group in history.groupby(
        history["labels"].map(lambda v: (v.get("broker", ""), v.get("worker", "")))
    ):
        values = group["value"].to_numpy()
        if len(values) > 1 and values[-1] > values[0]:
            grew.add((str(labels[0]), str(labels[1])))
    seen = tasks_per_worker(services().store.engine, since=_EVENTS_WINDOW)
    return {key for key in grew if not seen.get(key)}, seen


def _events_cell(silent: bool, seen: bool) -> Any:
    if not silent:
        return "sent" if seen else "-"
    return html.Span(
        "none: start it with -E",
        className="text-warning-emphasis fw-semibold",
        title="This worker runs tasks but sends no task events, so its tasks are missing from the counts "
        "and the recent tasks. Start it with `celery worker -E` or set worker_send_task_events = True.",
    )


def _by_worker(frame: pd.DataFrame) -> dict[tuple[str, str], float]:
    return {
        (str(labels.get("broker", "")), str(labels.get("worker", ""))): float(value)
        for labels, value in zip(frame["labels"], frame["value"], strict=True)
    }
