"""The Celery app for distributed mode: ``vitals worker`` and ``vitals beat``.

Each task wraps the same plain job body the embedded scheduler runs. The store is created per
worker process after fork (PITFALLS: a connection shared across fork hangs or corrupts).
"""

from __future__ import annotations

from typing import Any

from celery import Celery
from celery.signals import worker_process_init

from storage import connect, get_settings
from tasks.schedule import JobContext, JobSpec, job_specs

__all__ = ["celery_app", "make_celery"]

_context: JobContext | None = None


def _process_context() -> JobContext:
    global _context
    if _context is None:
        _context = JobContext(store=connect(get_settings().store_url))
    return _context


@worker_process_init.connect
def _fresh_context_after_fork(**_kwargs: Any) -> None:
    global _context
    if _context is not None:
        _context.store.engine.dispose(close=False)
    _context = None


def _register(app: Celery, spec: JobSpec) -> None:
    def run() -> object:
        return spec.body(_process_context())

    app.task(name=spec.name, acks_late=True, time_limit=max(60, spec.interval_seconds * 6))(run)


def make_celery() -> Celery:
    settings = get_settings()
    app = Celery("vitals", broker=settings.broker_url or "redis://127.0.0.1:6379/0")
    specs = job_specs(settings)
    app.conf.update(
        task_serializer="json",
        accept_content=["json"],
        result_backend=None,
        task_ignore_result=True,
        task_acks_late=True,
        task_reject_on_worker_lost=True,
        worker_prefetch_multiplier=1,
        broker_connection_retry_on_startup=True,
        # A collection that missed its slot is worth nothing later: let it expire.
        beat_schedule={
            spec.name: {
                "task": spec.name,
                "schedule": spec.interval_seconds,
                "options": {"expires": spec.interval_seconds},
            }
            for spec in specs
        },
    )
    for spec in specs:
        _register(app, spec)
    return app


celery_app = make_celery()
