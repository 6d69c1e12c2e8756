"""``vitals users``: create, list, reset passwords, change roles, disable and enable (each change an
audited action, acting as ``cli:<os user>``: whoever has a shell on the box may recover a lost password).

Passwords are read from a prompt (asked twice) or, for scripts, one line of standard input; never from
the command line, where they would show in ``ps`` and the shell history.
"""

from __future__ import annotations

import getpass
import sys

import click

from storage import Store, connect
from storage.users import check_password_policy, list_users, validate_new_user, validate_username
from tasks.actions.users import add_user, change_password, change_role, set_user_enabled
from tasks.commands import cli_actor, settings

__all__ = ["users"]

ROLES = click.Choice(["viewer", "operator", "admin"])
_PASSWORD_STDIN = click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input instead of asking for it."
)


def _read_password(from_stdin: bool) -> str:
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Repeat it: ") != password:
        raise click.ClickException("the two passwords differ; nothing was changed")
    return password


def _store(ctx: click.Context) -> Store:
    return connect(settings(ctx).store_url)


@click.group()
def users() -> None:
    """Manage the users who log in to the dashboard."""


@users.command("create")
@click.argument("username")
@click.option("--role", type=ROLES, default="viewer", show_default=True, help="What the user may do.")
@_PASSWORD_STDIN
@click.pass_context
def create(ctx: click.Context, username: str, role: str, password_stdin: bool) -> None:
    """Create a user (asks for the password)."""
    password = _read_password(password_stdin)
    validate_new_user(username, password, role)  # before touching any database
    user = add_user(_store(ctx), cli_actor(), username, password, role)
    click.echo(f"created {user.username} ({user.role.value})")


@users.command("list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """List users with their role, state and last login."""
    for user in list_users(_store(ctx).engine):
        seen = f"{user.last_login_at:%Y-%m-%d %H:%M} UTC" if user.last_login_at else "never"
        state = "active" if user.active else "disabled"
        click.echo(f"{user.username:<24} {user.role.value:<8} {state:<8} last login {seen}")


@users.command("passwd")
@click.argument("username")
@_PASSWORD_STDIN
@click.pass_context
def passwd(ctx: click.Context, username: str, password_stdin: bool) -> None:
    """Set a new password for USERNAME (asks for it); their sessions end."""
    password = _read_password(password_stdin)
    check_password_policy(password, validate_username(username))  # before touching any database
    user = change_password(_store(ctx), cli_actor(), username, password)
    click.echo(f"password of {user.username} changed; their sessions have ended")


@users.command("role")
@click.argument("username")
@click.argument("role", type=ROLES)
@click.pass_context
def role(ctx: click.Context, username: str, role: str) -> None:
    """Give USERNAME another ROLE; their sessions end."""
    user = change_role(_store(ctx), cli_actor(), username, role)
    click.echo(f"{user.username} is now {user.role.value}")


@users.command("disable")
@click.argument("username")
@click.pass_context
def disable(ctx: click.Context, username: str) -> None:
    """Disable USERNAME: no login, no API tokens, their sessions end."""
    _set_enabled(ctx, username, enabled=False)


@users.command("enable")
@click.argument("username")
@click.pass_context
def enable(ctx: click.Context, username: str) -> None:
    """Enable USERNAME again."""
    _set_enabled(ctx, username, enabled=True)


def _set_enabled(ctx: click.Context, username: str, enabled: bool) -> None:
    user = set_user_enabled(_store(ctx), cli_actor(), username, enabled=enabled)
    click.echo(f"{user.username} is {'enabled' if user.active else 'disabled'}")
