"""Commands that read the record: ``history``, ``status``, ``schedule``."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import click

from bot import names
from bot.cli.context import HISTORY_LIMIT, STATUSES, Context, _since, pass_context
from bot.cli.present import _print_history, _print_status


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.option("--target", metavar="TARGET", help="Only this target's deliveries.")
@click.option("--status", type=click.Choice(STATUSES), help="Only deliveries in this state.")
@click.option(
    "--limit",
    type=click.IntRange(1, HISTORY_LIMIT),
    help=f"At most this many, newest first (1 to {HISTORY_LIMIT:,}).",
)
@click.option(
    "--since",
    metavar="DURATION|DATE",
    help="Only deliveries changed since then: '2d', '12h', '2026-01-31' or '2026-01-31 09:00'"
    " (local time in [bot] timezone).",
)
@pass_context
def history(
    ctx: Context,
    as_json: bool,
    target: str | None,
    status: str | None,
    limit: int | None,
    since: str | None,
) -> None:
    """List deliveries: what went out where, and what is pending or failed."""
    from bot import reports

    config = ctx.existing_store(as_json=as_json, empty=[])
    if config is None:
        return
    now = datetime.now(UTC)
    with ctx.store(config) as store:
        after = _since(since, config.bot.timezone, now) if since else None
        if target is not None:  # as a person names it; a removed one still in the record too
            target = names.target(config.targets, target, also=store.counts())
        rows = store.history(target=target, state=status, limit=limit, since=after)
        planned = reports.planned_times(config, store, now, rows) if as_json else {}
    if as_json:
        click.echo(json.dumps(reports.history_json(rows, planned), indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no deliveries" + (" since then" if since else " yet"))
        return
    _print_history(rows)


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_context
def status(ctx: Context, as_json: bool) -> None:
    """Show each target and feed, what waits and why, and what needs attention."""
    from bot import reports

    config = ctx.load(posts=False)
    if config.database_url is None and not config.database_path.exists():
        nothing = reports.Status(
            feeds=dict.fromkeys(config.feeds),
            targets=[],
            needs_person=[],
            will_retry=[],
            in_flight=[],
            runners=[],
            holder_pid=None,
            now=datetime.now(UTC),
        )
        ctx.existing_store(as_json=as_json, empty=reports.status_json(nothing))
        return
    with ctx.store(config) as store:
        report = reports.status(config, store, datetime.now(UTC))
    if as_json:
        click.echo(json.dumps(reports.status_json(report), indent=2, ensure_ascii=False))
        return
    _print_status(report)


@click.command()
@click.argument("target", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_context
def schedule(ctx: Context, target: str | None, as_json: bool) -> None:
    """When each queued or held delivery is planned to go, and why it waits."""
    from bot import reports

    config = ctx.existing_store(as_json=as_json, empty=[])
    if config is None:
        return
    with ctx.store(config) as store:
        plans = reports.schedule(config, store, datetime.now(UTC), target=target)
        timezone = config.bot.timezone
    if as_json:
        click.echo(json.dumps(reports.schedule_json(plans), indent=2, ensure_ascii=False))
        return
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)
    for name, planned in plans.items():
        click.echo(
            f"target {name}: {len(planned):,} waiting"
            if planned
            else f"target {name}: nothing waiting"
        )
        for plan in planned:
            d = plan.delivery
            when = plan.at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if plan.at else "-"
            click.echo(f"{d.id:>5}  {when:<20} {d.title or d.link}")
            click.echo(f"       {plan.reason}")
