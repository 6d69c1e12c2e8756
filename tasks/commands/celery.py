"""``vitals worker`` and ``vitals beat``: the distributed mode's Celery processes."""

from __future__ import annotations

import click

from storage import Settings
from tasks.commands import settings

__all__ = ["beat", "worker"]

LOG_LEVELS = click.Choice(["DEBUG", "INFO", "WARNING", "ERROR"], case_sensitive=False)


def _require_broker(found: Settings) -> None:
    if not found.broker_url:
        raise SystemExit("vitals: VITALS_BROKER_URL is not set (e.g. redis://127.0.0.1:6379/0)")


@click.command()
@click.option("--loglevel", type=LOG_LEVELS, default="INFO", show_default=True, help="Celery's log level.")
@click.option(
    "--concurrency", type=click.IntRange(min=1), default=2, show_default=True, help="Worker processes."
)
@click.option("--queues", default=None, help="Comma-separated queues to consume (default: all of Vitals').")
@click.option(
    "--hostname",
    default=None,
    help="The worker's node name (default celery@<host>); give each worker on one machine its own, e.g. w2@%h.",
)
@click.pass_context
def worker(
    ctx: click.Context, loglevel: str, concurrency: int, queues: str | None, hostname: str | None
) -> None:
    """A Celery worker: runs collection and maintenance jobs (VITALS_BROKER_URL)."""
    _require_broker(settings(ctx))
    from tasks.celery_app import celery_app

    # Gossip would make every worker consume every task event on the broker (events are on for the
    # Queue page); Vitals uses neither gossip nor mingle.
    argv = [
        "worker",
        "--loglevel",
        loglevel,
        "--concurrency",
        str(concurrency),
        "--without-gossip",
        "--without-mingle",
    ]
    if queues:  # e.g. one worker per monitored host consuming only "collect"
        argv += ["--queues", queues]
    if hostname:
        argv += ["--hostname", hostname]
    celery_app.worker_main(argv)


@click.command()
@click.option("--loglevel", type=LOG_LEVELS, default="INFO", show_default=True, help="Celery's log level.")
@click.pass_context
def beat(ctx: click.Context, loglevel: str) -> None:
    """Celery beat: sends each job on its schedule. Run exactly one."""
    found = settings(ctx)
    _require_broker(found)
    from tasks.celery_app import celery_app

    found.data_dir.mkdir(parents=True, exist_ok=True)
    celery_app.start(
        ["beat", "--loglevel", loglevel, "--schedule", str(found.data_dir / "celerybeat-schedule")]
    )
