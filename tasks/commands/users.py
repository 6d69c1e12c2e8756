"""``vitals users``: create and list users (creating goes through the audited action)."""

from __future__ import annotations

import getpass
import sys

import click

from storage import connect
from storage.users import list_users, validate_new_user
from tasks.actions.users import add_user
from tasks.commands import cli_actor, settings

__all__ = ["users"]

ROLES = click.Choice(["viewer", "operator", "admin"])


@click.group()
def users() -> None:
    """Manage the users who log in to the dashboard."""


@users.command("create")
@click.argument("username")
@click.option("--role", type=ROLES, default="viewer", show_default=True, help="What the user may do.")
@click.option(
    "--password-stdin", is_flag=True, help="Read the password from standard input instead of asking for it."
)
@click.pass_context
def create(ctx: click.Context, username: str, role: str, password_stdin: bool) -> None:
    """Create a user (asks for the password)."""
    password = sys.stdin.readline().rstrip("\n") if password_stdin else getpass.getpass("Password: ")
    validate_new_user(username, password, role)  # before touching any database
    store = connect(settings(ctx).store_url)
    user = add_user(store, cli_actor(), username, password, role)
    click.echo(f"created {user.username} ({user.role.value})")


@users.command("list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """List users with their role, state and last login."""
    for user in list_users(connect(settings(ctx).store_url).engine):
        seen = f"{user.last_login_at:%Y-%m-%d %H:%M} UTC" if user.last_login_at else "never"
        state = "active" if user.active else "disabled"
        click.echo(f"{user.username:<24} {user.role.value:<8} {state:<8} last login {seen}")
