"""Vitals composition root: settings -> storage -> Flask server + Dash + REST API.

``python app.py`` (or ``make run``) starts embedded mode: SQLite in the data directory, the
in-process scheduler collecting this host, and the dashboard on http://127.0.0.1:8050. The ``vitals``
command line is assembled here from the commands beside each feature (``tasks.commands``) and the two
that compose the web app (``run``, ``web``).
"""

from __future__ import annotations

import atexit
import importlib.metadata
import logging
import os
import secrets
import shutil
import socket
import sys
from pathlib import Path

import click
from dash import Dash

from dashboard.api import api
from dashboard.auth import install_auth
from dashboard.cache import install_cache
from dashboard.components.live_chart import register_live_chart_callbacks
from dashboard.components.shell import register_shell_callbacks, shell_layout
from dashboard.limits import install_limiter
from dashboard.pages import register_pages
from dashboard.prometheus import prometheus
from dashboard.security import install_security
from dashboard.services import Services
from storage import Settings, Store, connect, load_settings
from storage.masking import mask_url
from storage.secrets import check_secret_key
from storage.users import ensure_first_admin
from tasks.commands import build_cli, run_cli
from tasks.commands import settings as cli_settings
from tasks.commands.celery import beat, worker
from tasks.commands.data import db, export, metrics, retention
from tasks.commands.tokens import tokens
from tasks.commands.users import users
from tasks.log_jobs import install_own_log_handler, own_log_path
from tasks.schedule import JobContext, job_specs
from tasks.scheduler import EmbeddedScheduler

__all__ = ["create_app", "create_server", "main"]

ASSETS_DIR = Path(__file__).resolve().parent / "assets"
log = logging.getLogger("vitals")


def _secret_key(settings: Settings) -> str:
    """The configured key, else one generated once and kept in the data dir (sessions survive restarts)."""
    if settings.secret_key:
        return settings.secret_key
    path = settings.data_dir / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


def create_app(
    settings: Settings | None = None, store: Store | None = None, run_scheduler: bool | None = None
) -> Dash:
    """Build the whole web app. ``run_scheduler`` defaults to the embedded-mode setting."""
    settings = settings or load_settings()
    store = store or connect(settings.store_url)
    check_secret_key(store.engine, settings)  # before a key file could be generated for a key-less host
    run_scheduler = settings.embedded_scheduler if run_scheduler is None else run_scheduler
    scheduler = None
    if run_scheduler:
        scheduler = EmbeddedScheduler(job_specs(settings), JobContext(store=store))
        scheduler.start()
        atexit.register(scheduler.stop)

    app = Dash(
        __name__,
        title="Vitals",
        use_pages=True,
        pages_folder="",
        assets_folder=str(ASSETS_DIR),
        suppress_callback_exceptions=True,  # page components are not in the initial layout
        update_title="",  # no "Updating..." flicker in the tab title on every refresh
        compress=True,  # gzip/brotli through flask-compress: plotly.min.js alone is 4.8 MB uncompressed
    )
    server = app.server
    server.secret_key = _secret_key(settings)  # cookie flags and lifetimes: dashboard.sessions
    Services(settings=settings, store=store, scheduler=scheduler).install(server)
    install_cache(server, settings, embedded=run_scheduler)  # viewers share callback data
    install_limiter(server, settings)
    install_auth(server, settings)
    install_security(app, settings)  # after auth: token clients are exempt from the CSRF check
    server.register_blueprint(api)
    server.register_blueprint(prometheus)
    register_pages(app)
    register_shell_callbacks(app)
    register_live_chart_callbacks(app)
    app.layout = shell_layout
    return app


def create_server() -> object:
    """WSGI entry point for gunicorn (``vitals web``): the web tier only; Celery does the collecting."""
    return create_app(run_scheduler=False).server


# --- command line ------------------------------------------------------------------------------


def _announce_first_admin(store: Store, url: str) -> None:
    password = ensure_first_admin(store.engine)
    if password:
        print(
            f"\nNo users yet, so Vitals created one.\n  Log in at {url}/login as 'admin' with password: {password}\n"
            "  Create your own users with `vitals users create NAME --role admin`; this password is shown only once.\n",
            flush=True,
        )


@click.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Embedded mode: SQLite in VITALS_DATA_DIR, in-process collection, the dashboard on
    VITALS_BIND_HOST:VITALS_BIND_PORT (default 127.0.0.1:8050)."""
    settings = cli_settings(ctx)
    # One access-log line per Dash callback was most of Vitals' own log (and re-ingested into its store).
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    store = connect(settings.store_url)
    url = f"http://{settings.bind_host}:{settings.bind_port}"
    _announce_first_admin(store, url)
    app = create_app(settings, store, run_scheduler=True)
    print(_banner(settings, store, url), flush=True)
    app.run(host=settings.bind_host, port=settings.bind_port, debug=False)


def _check_port_free(settings: Settings) -> None:
    with socket.socket() as probe:
        try:
            probe.bind((settings.bind_host, settings.bind_port))
        except OSError as exc:
            raise SystemExit(
                f"vitals: cannot listen on {settings.bind_host}:{settings.bind_port} ({exc.strerror}); "
                "is Vitals already running? Set VITALS_BIND_PORT to use another port"
            ) from None


def _banner(settings: Settings, store: Store, url: str) -> str:
    """What the operator needs at start: where to look, what is watched, where the log goes."""
    watched = ["this host"]
    watched += [f"MySQL {mask_url(target)}" for target in settings.mysql_urls]
    watched += [f"Redis {mask_url(target)}" for target in settings.redis_urls]
    watched += [f"Celery {mask_url(target)}" for target in settings.celery_broker_urls]
    watched += [f"logs {pattern}" for pattern in settings.log_paths]
    watched += [f"HTTP {target}" for target in settings.http_checks]
    return (
        f"Vitals is running at {url}\n"
        f"  store: {store.engine.url.render_as_string(hide_password=True)}\n"
        f"  watching: {', '.join(watched)}\n"
        f"  own log: {own_log_path(settings).resolve()}"
    )


@click.command()
@click.option(
    "--workers", type=click.IntRange(min=1), default=3, show_default=True, help="gunicorn worker processes."
)
@click.pass_context
def web(ctx: click.Context, workers: int) -> None:
    """Production web tier under gunicorn (collection runs on `vitals worker` + `vitals beat`)."""
    settings = cli_settings(ctx)
    if not settings.broker_url:
        print(
            "warning: VITALS_BROKER_URL is not set, so nothing collects; run `vitals worker` and `vitals beat` "
            "with a broker, or use `vitals run` for embedded mode",
            file=sys.stderr,
        )
    store = connect(settings.store_url)
    check_secret_key(store.engine, settings)  # one line here, not a traceback from each gunicorn worker
    _announce_first_admin(store, f"http://{settings.bind_host}:{settings.bind_port}")
    store.close()
    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
    command = [
        gunicorn,
        "--workers",
        str(workers),
        "--bind",
        f"{settings.bind_host}:{settings.bind_port}",
        "app:create_server()",
    ]
    os.execv(command[0], command)


def _version() -> str:
    try:
        return importlib.metadata.version("vitals")
    except importlib.metadata.PackageNotFoundError:  # run from a checkout that was never installed
        return "unknown"


def main(argv: list[str] | None = None) -> int:
    """The ``vitals`` command; returns its exit code."""
    commands = [run, web, worker, beat, db, users, tokens, metrics, retention, export]
    return run_cli(build_cli(_version(), commands, _before_server), argv)


def _before_server(settings: Settings, command: str) -> None:
    """A web server first checks its port is free (before anything is created or printed); every
    server's own logs then go to a file as JSON lines, which Vitals tails like any other log."""
    if command in {"run", "web"}:
        _check_port_free(settings)
    install_own_log_handler(settings)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["run"]))
