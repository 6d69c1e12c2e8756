"""The ``vitals`` command line: click commands beside their feature, each state change through an action.

``app.main`` assembles the group (``build_cli``) with the server commands it composes itself. Every
command gets the loaded settings from the click context (``settings(ctx)``); a command that changes
state acts as :func:`cli_actor`, so the audit log names the operating-system user who ran it.
"""

from __future__ import annotations

import getpass
import logging
import sys
from collections.abc import Callable, Iterable

import click

from storage import Settings, SettingsError, load_settings
from storage.users import Role
from tasks.actions import Actor, PermissionDenied
from tasks.quiet_logs import install_repeat_limiter, limit_celery_handlers

__all__ = ["SERVER_COMMANDS", "build_cli", "cli_actor", "run_cli", "settings"]

# Servers log what they do; one-shot commands print their answer and only warnings besides.
SERVER_COMMANDS = {"run", "web", "worker", "beat"}


def cli_actor() -> Actor:
    """Whoever has a shell on the box already holds every power the CLI has: an admin, named after
    the operating-system user so the audit log says who it was."""
    try:
        name = getpass.getuser()
    except (KeyError, OSError):  # no passwd entry (some containers)
        name = "unknown"
    return Actor(username=f"cli:{name}", role=Role.ADMIN)


def settings(ctx: click.Context) -> Settings:
    """The settings the group loaded before the command ran."""
    found = ctx.find_root().obj
    assert isinstance(found, Settings)
    return found


def build_cli(
    version: str, commands: Iterable[click.Command], on_server_start: Callable[[Settings, str], None]
) -> click.Group:
    """The ``vitals`` group; ``on_server_start(settings, command)`` runs before a server command."""

    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(version, "--version", prog_name="vitals", message="%(prog)s %(version)s")
    @click.pass_context
    def cli(ctx: click.Context) -> None:
        """Health monitoring for MySQL + Redis + Celery back ends.

        Configuration comes from VITALS_* environment variables (see the README): VITALS_DATA_DIR,
        VITALS_DATABASE_URL, VITALS_BROKER_URL, VITALS_BIND_HOST, VITALS_BIND_PORT and the monitored
        targets (VITALS_MYSQL_URLS, VITALS_REDIS_URLS, VITALS_CELERY_BROKER_URLS, VITALS_LOG_PATHS).
        """
        server = ctx.invoked_subcommand in SERVER_COMMANDS
        root = logging.getLogger()
        existing = list(root.handlers)
        logging.basicConfig(
            level=logging.INFO if server else logging.WARNING,
            format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        )
        # Only the handler made here is limited: handlers a host process (a test runner, an embedding
        # application) installed are theirs, and a filter added to them would outlive this command.
        for handler in root.handlers:
            if handler not in existing:
                install_repeat_limiter(handler)
        ctx.obj = load_settings()
        if ctx.invoked_subcommand in {"worker", "beat"}:
            limit_celery_handlers()
        if server:
            on_server_start(ctx.obj, str(ctx.invoked_subcommand))

    for command in commands:
        cli.add_command(command)
    return cli


def run_cli(cli: click.Group, argv: list[str] | None) -> int:
    """Run the group; any refusal is one ``vitals: ...`` line on stderr and a non-zero exit, never a traceback."""
    try:
        result = cli.main(args=argv, prog_name="vitals", standalone_mode=False)
    except SettingsError as exc:
        return _fail(str(exc), 2)
    except click.exceptions.Exit as exc:  # --help, --version
        return int(exc.exit_code)
    except click.Abort:
        return _fail("aborted", 1)
    except click.ClickException as exc:
        return _fail(exc.format_message(), exc.exit_code)
    except SystemExit as exc:  # a command's own refusal: "vitals: ..." already composed
        if isinstance(exc.code, str):
            return _fail(exc.code.removeprefix("vitals: "), 1)
        return int(exc.code or 0)
    except (ValueError, PermissionDenied) as exc:  # bad input or a refused action
        return _fail(str(exc), 2)
    return int(result or 0)


def _fail(message: str, code: int) -> int:
    print(f"vitals: {message}", file=sys.stderr)
    return code
