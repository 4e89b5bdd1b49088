"""``migrate-store``: copy a SQLite store into PostgreSQL."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

from bot.cli.context import Context, pass_context, plural

if TYPE_CHECKING:
    pass


@click.command("migrate-store")
@click.option("--to", "url", required=True, metavar="URL", help="An empty PostgreSQL database.")
@pass_context
def migrate_store(ctx: Context, url: str) -> None:
    """Copy this config's SQLite store (its whole history) into an empty PostgreSQL one."""
    from bot.config import database_url_problem, is_server_url
    from bot.store import SqlStore, instance_lock, shown_url
    from bot.store.copy import copy_store

    config = ctx.load(posts=False)
    if config.database_url is not None:
        raise click.UsageError("[bot] database is a PostgreSQL store already")
    if not is_server_url(url):
        raise click.BadParameter("expected a postgresql://user@host/db URL", param_hint="--to")
    problem = database_url_problem(url)
    if problem:
        raise click.BadParameter(problem, param_hint="--to")
    if not config.database_path.exists():
        raise click.UsageError(f"no store at {config.database_path}: nothing to copy")
    shown = shown_url(url)
    with instance_lock(config.database_path):  # no runner writes while it is copied
        source, target = SqlStore.open(config.database_path), SqlStore.open(url)
        try:
            copied = copy_store(source, target)
        finally:
            source.close()
            target.close()
    click.echo(
        f"copied into {shown}: {plural(copied['entries'], 'entry')},"
        f" {plural(copied['deliveries'], 'delivery')}, {plural(copied['feeds'], 'feed')},"
        f" {plural(copied['target_state'], 'target state')} (counts checked)"
    )
    click.echo(f'now set [bot] database = "{shown}" (the password from ${{VAR}}) and start')
