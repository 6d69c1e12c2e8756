"""Vitals composition root: settings -> storage -> Flask server + Dash + REST API, and the ``vitals`` CLI.

``python app.py`` (or ``make run``) starts embedded mode: SQLite in the data directory, the
in-process scheduler collecting this host, and the dashboard on http://127.0.0.1:8050.
"""

from __future__ import annotations

import argparse
import atexit
import getpass
import logging
import os
import secrets
import shutil
import sys
from datetime import timedelta
from pathlib import Path

from dash import Dash

from dashboard.api import api
from dashboard.auth import install_auth
from dashboard.components.live_chart import register_live_chart_callbacks
from dashboard.components.shell import register_shell_callbacks, shell_layout
from dashboard.pages import register_pages
from dashboard.prometheus import prometheus
from dashboard.services import Services
from storage import Settings, SettingsError, Store, connect, load_settings
from storage.audit import record_audit
from storage.tokens import create_token, list_tokens, revoke_token
from storage.users import UserError, create_user, ensure_first_admin, validate_new_user
from tasks.log_jobs import install_own_log_handler
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
    )
    server = app.server
    server.secret_key = _secret_key(settings)
    server.config.update(
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        PERMANENT_SESSION_LIFETIME=timedelta(hours=12),
    )
    Services(settings=settings, store=store, scheduler=scheduler).install(server)
    install_auth(server)
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


def cmd_run(settings: Settings, _args: argparse.Namespace) -> int:
    """Embedded mode: SQLite, in-process scheduler, Dash server."""
    store = connect(settings.store_url)
    url = f"http://{settings.bind_host}:{settings.bind_port}"
    _announce_first_admin(store, url)
    app = create_app(settings, store, run_scheduler=True)
    print(
        f"Vitals is running at {url} (store: {store.engine.url.render_as_string(hide_password=True)})",
        flush=True,
    )
    app.run(host=settings.bind_host, port=settings.bind_port, debug=False)
    return 0


def cmd_web(settings: Settings, args: argparse.Namespace) -> int:
    """Production web tier under gunicorn."""
    if not settings.broker_url:
        print(
            "warning: VITALS_BROKER_URL is not set, so nothing collects; run `vitals worker` and `vitals beat` "
            "with a broker, or use `vitals run` for embedded mode",
            file=sys.stderr,
        )
    store = connect(settings.store_url)
    _announce_first_admin(store, f"http://{settings.bind_host}:{settings.bind_port}")
    store.close()
    gunicorn = shutil.which("gunicorn") or str(Path(sys.executable).with_name("gunicorn"))
    command = [
        gunicorn,
        "--workers",
        str(args.workers),
        "--bind",
        f"{settings.bind_host}:{settings.bind_port}",
        "app:create_server()",
    ]
    os.execv(command[0], command)


def _require_broker(settings: Settings) -> None:
    if not settings.broker_url:
        raise SystemExit("vitals: VITALS_BROKER_URL is not set (e.g. redis://127.0.0.1:6379/0)")


def cmd_worker(settings: Settings, args: argparse.Namespace) -> int:
    _require_broker(settings)
    from tasks.celery_app import celery_app

    # Gossip would make every worker consume every task event on the broker (events are on for the
    # Queue page); Vitals uses neither gossip nor mingle.
    argv = [
        "worker",
        "--loglevel",
        args.loglevel,
        "--concurrency",
        str(args.concurrency),
        "--without-gossip",
        "--without-mingle",
    ]
    if args.queues:  # e.g. one worker per monitored host consuming only "collect"
        argv += ["--queues", args.queues]
    celery_app.worker_main(argv)
    return 0


def cmd_beat(settings: Settings, args: argparse.Namespace) -> int:
    _require_broker(settings)
    from tasks.celery_app import celery_app

    schedule_file = str(settings.data_dir / "celerybeat-schedule")
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    celery_app.start(["beat", "--loglevel", args.loglevel, "--schedule", schedule_file])
    return 0


def cmd_db_upgrade(settings: Settings, _args: argparse.Namespace) -> int:
    store = connect(settings.store_url, migrate=False)
    store.migrate()
    print(f"schema is up to date in {store.engine.url.render_as_string(hide_password=True)}")
    return 0


def cmd_users_create(settings: Settings, args: argparse.Namespace) -> int:
    password = sys.stdin.readline().rstrip("\n") if args.password_stdin else getpass.getpass("Password: ")
    try:
        validate_new_user(args.username, password, args.role)  # before touching any database
        user = create_user(connect(settings.store_url).engine, args.username, password, args.role)
    except UserError as exc:
        raise SystemExit(f"vitals: {exc}") from None
    print(f"created {user.username} ({user.role.value})")
    return 0


def cmd_retention(settings: Settings, args: argparse.Namespace) -> int:
    """What each storage tier holds and keeps; ``--enforce`` deletes what has expired now."""
    from storage.retention import enforce_retention, tier_summary

    store = connect(settings.store_url)
    if args.enforce:
        deleted = enforce_retention(store.engine, settings)
        print("deleted " + ", ".join(f"{tier}: {rows:,} rows" for tier, rows in deleted.items()))
    print(f"{'tier':<5} {'rows':>14} {'oldest':<21} {'newest':<21} {'keeps':>6}  complete until")
    for row in tier_summary(store.engine, settings).itertuples():
        rows = f"{row.rows:,}" if row.rows_exact else f"~{row.rows:,}"
        print(
            f"{row.tier:<5} {rows:>14} {_when(row.oldest):<21} {_when(row.newest):<21} "
            f"{row.keep_days:>5}d  {_when(row.complete_until) if row.tier != 'raw' else '-'}"
        )
    return 0


def _when(moment: object) -> str:
    # pandas turns a missing time into NaT, which is not equal to itself.
    if moment is None or moment != moment or not hasattr(moment, "strftime"):
        return "-"
    return str(moment.strftime("%Y-%m-%d %H:%M UTC"))


def cmd_metrics(_settings: Settings, _args: argparse.Namespace) -> int:
    from collectors.catalog import METRIC_CATALOG

    width = max(len(name) for name in METRIC_CATALOG)
    for name, (unit, description) in sorted(METRIC_CATALOG.items()):
        print(f"{name:<{width}}  {unit or '-':<4}  {description}")
    return 0


def cmd_export(settings: Settings, args: argparse.Namespace) -> int:
    store = connect(settings.store_url)
    result = store.export(
        args.metric,
        args.output,
        since=args.since,
        until=args.until,
        every=args.every,
        agg=args.agg,
        format=args.format,
        host=args.host,
    )
    print(
        f"wrote {result.rows:,} rows ({result.bytes:,} bytes) to {result.path}; query in {result.meta_path}"
    )
    return 0


def cmd_tokens_create(settings: Settings, args: argparse.Namespace) -> int:
    store = connect(settings.store_url)
    try:
        token, secret = create_token(store.engine, args.name, args.user, args.role)
    except UserError as exc:
        raise SystemExit(f"vitals: {exc}") from None
    record_audit(
        store.engine, args.user, "create_api_token", target=token.name, after={"role": token.role.value}
    )
    print(
        f"created token {token.id} {token.name!r} for {token.username} ({token.role.value}); it is shown only once:"
    )
    print(secret)
    return 0


def cmd_tokens_list(settings: Settings, _args: argparse.Namespace) -> int:
    for token in list_tokens(connect(settings.store_url).engine):
        used = f"{token.last_used_at:%Y-%m-%d %H:%M} UTC" if token.last_used_at else "never"
        state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
        print(
            f"{token.id:>4}  {token.name:<24} {token.username:<16} {token.role.value:<8} used {used:<21} {state}"
        )
    return 0


def cmd_tokens_revoke(settings: Settings, args: argparse.Namespace) -> int:
    store = connect(settings.store_url)
    if not revoke_token(store.engine, args.id):
        raise SystemExit(f"vitals: no active token with id {args.id}")
    record_audit(store.engine, None, "revoke_api_token", target=str(args.id))
    print(f"revoked token {args.id}")
    return 0


def _add_export_parser(commands: argparse._SubParsersAction) -> None:
    export = commands.add_parser("export", help="export metrics to CSV or Parquet")
    export.add_argument("--metric", action="append", required=True, help="metric name; repeat for several")
    export.add_argument("--since", default="1h", help="start: a duration ago (30d) or an ISO 8601 time")
    export.add_argument("--until", default=None, help="end (default: now)")
    export.add_argument("--every", default=None, help="bucket size, e.g. 5min (default: every raw sample)")
    export.add_argument("--agg", default="mean", help="aggregate per bucket (default: mean)")
    export.add_argument("--host", default=None, help="only series of this host")
    export.add_argument("--format", default=None, help="csv or parquet (default: from the file name)")
    export.add_argument("-o", "--output", required=True, help="file to write (.csv or .parquet)")
    export.set_defaults(func=cmd_export)


def _add_tokens_parser(commands: argparse._SubParsersAction) -> None:
    tokens = commands.add_parser("tokens", help="API tokens for scripts and Prometheus").add_subparsers(
        dest="tokens_command", required=True
    )
    create = tokens.add_parser("create", help="create a token (printed once)")
    create.add_argument("name", help="what the token is for, e.g. prometheus")
    create.add_argument("--user", required=True, help="the user the token acts for")
    create.add_argument("--role", choices=["viewer", "operator", "admin"], default="viewer")
    create.set_defaults(func=cmd_tokens_create)
    tokens.add_parser("list", help="list tokens").set_defaults(func=cmd_tokens_list)
    revoke = tokens.add_parser("revoke", help="revoke a token by id")
    revoke.add_argument("id", type=int)
    revoke.set_defaults(func=cmd_tokens_revoke)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vitals", description="Health monitoring for MySQL + Redis + Celery back ends"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="embedded mode: SQLite, in-process collection, dashboard").set_defaults(
        func=cmd_run
    )
    web = commands.add_parser("web", help="production web tier (gunicorn)")
    web.add_argument("--workers", type=int, default=3)
    web.set_defaults(func=cmd_web)
    for name, func in (("worker", cmd_worker), ("beat", cmd_beat)):
        sub = commands.add_parser(name, help=f"Celery {name}")
        sub.add_argument("--loglevel", default="INFO")
        if name == "worker":
            sub.add_argument("--concurrency", type=int, default=2)
            sub.add_argument("--queues", help="comma-separated queues to consume (default: all of Vitals')")
        sub.set_defaults(func=func)
    db = commands.add_parser("db", help="schema migrations").add_subparsers(dest="db_command", required=True)
    db.add_parser("upgrade", help="apply pending migrations").set_defaults(func=cmd_db_upgrade)
    users = commands.add_parser("users", help="manage users").add_subparsers(
        dest="users_command", required=True
    )
    create = users.add_parser("create", help="create a user (asks for the password)")
    create.add_argument("username")
    create.add_argument("--role", choices=["viewer", "operator", "admin"], default="viewer")
    create.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    create.set_defaults(func=cmd_users_create)
    commands.add_parser("metrics", help="list the metric catalog").set_defaults(func=cmd_metrics)
    retention = commands.add_parser("retention", help="what each storage tier holds and keeps")
    retention.add_argument("--enforce", action="store_true", help="delete expired data now")
    retention.set_defaults(func=cmd_retention)
    _add_export_parser(commands)
    _add_tokens_parser(commands)
    return parser


_SERVER_COMMANDS = {"run", "web", "worker", "beat"}


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    # Servers log what they do; one-shot commands print their answer and only warnings besides.
    level = logging.INFO if args.command in _SERVER_COMMANDS else logging.WARNING
    logging.basicConfig(level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = load_settings()
    except SettingsError as exc:
        print(f"vitals: {exc}", file=sys.stderr)
        return 2
    if args.command in _SERVER_COMMANDS:  # Vitals' own logs, as JSON lines it tails like any other
        install_own_log_handler(settings)
    try:
        return int(args.func(settings, args) or 0)
    except ValueError as exc:  # bad input from the command line: one readable line, no traceback
        print(f"vitals: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:] or ["run"]))
