"""Commands about the stored data: schema upgrade, the metric catalog, retention, exports."""

from __future__ import annotations

from typing import Any

import click

from storage import connect
from storage.retention import tier_summary
from storage.timeparse import format_utc
from tasks.actions.system import enforce_retention_now, upgrade_schema
from tasks.commands import cli_actor, settings

__all__ = ["db", "export", "metrics", "retention"]


@click.group()
def db() -> None:
    """Schema migrations."""


@db.command("upgrade")
@click.pass_context
def upgrade(ctx: click.Context) -> None:
    """Apply pending migrations to the store (VITALS_DATABASE_URL, else the embedded SQLite file)."""
    store = connect(settings(ctx).store_url, migrate=False)
    upgrade_schema(store, cli_actor())
    click.echo(f"schema is up to date in {store.engine.url.render_as_string(hide_password=True)}")


@click.command()
def metrics() -> None:
    """List the metric catalog: name, unit and description."""
    from collectors.catalog import METRIC_CATALOG

    width = max(len(name) for name in METRIC_CATALOG)
    for name, (unit, description) in sorted(METRIC_CATALOG.items()):
        click.echo(f"{name:<{width}}  {unit or '-':<4}  {description}")


@click.command()
@click.option("--enforce", is_flag=True, help="Delete what has expired now (audited), then show the tiers.")
@click.pass_context
def retention(ctx: click.Context, enforce: bool) -> None:
    """What each storage tier holds and keeps."""
    found = settings(ctx)
    store = connect(found.store_url)
    if enforce:
        deleted = enforce_retention_now(store, found, cli_actor())
        click.echo("deleted " + ", ".join(f"{tier}: {rows:,} rows" for tier, rows in deleted.items()))
    click.echo(f"{'tier':<5} {'rows':>14} {'oldest':<21} {'newest':<21} {'keeps':>6}  complete until")
    for row in tier_summary(store.engine, found).itertuples():
        rows = f"{row.rows:,}" if row.rows_exact else f"~{row.rows:,}"
        click.echo(
            f"{row.tier:<5} {rows:>14} {_when(row.oldest):<21} {_when(row.newest):<21} "
            f"{row.keep_days:>5}d  {_when(row.complete_until) if row.tier != 'raw' else '-'}"
        )


def _when(moment: Any) -> str:
    return format_utc(moment, seconds=False)


@click.command()
@click.option("--metric", "names", multiple=True, required=True, help="Metric name; repeat for several.")
@click.option(
    "--since", default="1h", show_default=True, help="Start: a duration ago (30d) or an ISO 8601 time."
)
@click.option("--until", default=None, help="End: a duration ago or an ISO 8601 time (default: now).")
@click.option("--every", default=None, help="Bucket size, e.g. 5min (default: every raw sample).")
@click.option("--agg", default="mean", show_default=True, help="Aggregate per bucket: mean, max, p95, ...")
@click.option("--host", default=None, help="Only series of this host.")
@click.option("--format", "fmt", default=None, help="csv or parquet (default: from the file name).")
@click.option("-o", "--output", required=True, help="File to write (.csv or .parquet).")
@click.pass_context
def export(
    ctx: click.Context,
    names: tuple[str, ...],
    since: str,
    until: str | None,
    every: str | None,
    agg: str,
    host: str | None,
    fmt: str | None,
    output: str,
) -> None:
    """Export metrics to CSV or Parquet, in bounded chunks, with a .meta.json sidecar."""
    store = connect(settings(ctx).store_url)
    result = store.export(
        list(names), output, since=since, until=until, every=every, agg=agg, format=fmt, host=host
    )
    click.echo(
        f"wrote {result.rows:,} rows ({result.bytes:,} bytes) to {result.path}; query in {result.meta_path}"
    )
