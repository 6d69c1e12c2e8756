"""``vitals tokens``: API tokens for scripts and Prometheus (create and revoke are audited actions)."""

from __future__ import annotations

import click

from storage import connect
from storage.tokens import list_tokens
from tasks.actions.tokens import create_api_token, revoke_api_token
from tasks.commands import cli_actor, settings

__all__ = ["tokens"]


@click.group()
def tokens() -> None:
    """API tokens for scripts and Prometheus."""


@tokens.command("create")
@click.argument("name")
@click.option("--user", "username", required=True, help="The user the token acts for.")
@click.option(
    "--role",
    type=click.Choice(["viewer", "operator", "admin"]),
    default="viewer",
    show_default=True,
    help="The token's role: at most the user's own.",
)
@click.pass_context
def create(ctx: click.Context, name: str, username: str, role: str) -> None:
    """Create a token (NAME says what it is for, e.g. prometheus); it is printed once."""
    store = connect(settings(ctx).store_url)
    token, secret = create_api_token(store, cli_actor(), name, username, role)
    click.echo(
        f"created token {token.id} {token.name!r} for {token.username} ({token.role.value}); it is shown only once:"
    )
    click.echo(secret)


@tokens.command("list")
@click.pass_context
def list_(ctx: click.Context) -> None:
    """List tokens: id, name, user, role, last use and state."""
    for token in list_tokens(connect(settings(ctx).store_url).engine):
        used = f"{token.last_used_at:%Y-%m-%d %H:%M} UTC" if token.last_used_at else "never"
        state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
        click.echo(
            f"{token.id:>4}  {token.name:<24} {token.username:<16} {token.role.value:<8} used {used:<21} {state}"
        )


@tokens.command("revoke")
@click.argument("token_id", metavar="ID", type=int)
@click.pass_context
def revoke(ctx: click.Context, token_id: int) -> None:
    """Revoke a token by its id (see `vitals tokens list`)."""
    revoke_api_token(connect(settings(ctx).store_url), cli_actor(), token_id)
    click.echo(f"revoked token {token_id}")
