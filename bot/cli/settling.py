"""Commands that settle deliveries and targets by hand: ``retry``, ``skip``, ``resolve``,
``approve``, ``pause``, ``resume``."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

import click

from bot.cli.context import LONGEST_PAUSE, Context, _delivery_ids, _pause_for, pass_context

if TYPE_CHECKING:
    pass


@click.command()
@click.argument("delivery_ids", metavar="ID...", nargs=-1, callback=_delivery_ids, required=True)
@pass_context
def retry(ctx: Context, delivery_ids: tuple[int, ...]) -> None:
    """Send deliveries again now (failed, unknown, held or skipped ones).

    A delivery skipped by a route's filter goes too: the filter is overridden for it alone.
    """
    with ctx.app(posts=False) as app:
        for delivery_id in delivery_ids:
            overridden = app.overrides(delivery_id)
            delivery = app.retry(delivery_id)
            if overridden:
                click.echo(f"{delivery_id}: this overrides the filter ({overridden})")
            state = app.store.target_state(delivery.target)
            if state.pause_reason is not None:
                click.echo(
                    f"{delivery_id}: queued, but target {delivery.target} is paused"
                    f" ({state.pause_reason}); `feedrelay resume {delivery.target}` lifts it"
                )
            else:
                click.echo(f"{delivery_id}: queued; it goes out with the next dispatch")


@click.command()
@click.argument("delivery_ids", metavar="ID...", nargs=-1, callback=_delivery_ids, required=True)
@pass_context
def skip(ctx: Context, delivery_ids: tuple[int, ...]) -> None:
    """Never send these deliveries (they stay in the history as skipped)."""
    with ctx.app(posts=False) as app:
        for delivery_id in delivery_ids:
            app.skip(delivery_id)
            click.echo(f"{delivery_id}: skipped")


@click.command()
@click.argument("delivery_id", metavar="ID", callback=_delivery_ids)
@click.option("--url", default="", help="Where the post is, as you found it on the platform.")
@click.option("--remote-id", default="", help="The platform's id of the post.")
@click.option("--no-link", is_flag=True, help="Record it as posted without a URL or id.")
@pass_context
def resolve(ctx: Context, delivery_id: int, url: str, remote_id: str, no_link: bool) -> None:
    """Record that a delivery is on the platform (after checking by hand)."""
    if no_link and (url or remote_id):
        raise click.UsageError("--no-link contradicts --url and --remote-id: give one or the other")
    if not (url or remote_id or no_link):
        raise click.UsageError(
            "say where the post is: --url URL or --remote-id ID"
            " (or --no-link to record it as posted without either)"
        )
    with ctx.app(posts=False) as app:
        app.resolve(delivery_id, url=url, remote_id=remote_id)
    click.echo(f"{delivery_id}: marked as posted")


@click.command()
@click.argument("delivery_ids", metavar="[ID...]", nargs=-1, callback=_delivery_ids)
@click.option("--feed", metavar="FEED", help="Release every held delivery of this feed.")
@click.option("--target", metavar="TARGET", help="With --all: every held delivery of a target.")
@click.option("--all", "everything", is_flag=True, help="Every held delivery of --target.")
@pass_context
def approve(
    ctx: Context,
    delivery_ids: tuple[int, ...],
    feed: str | None,
    target: str | None,
    everything: bool,
) -> None:
    """Release held deliveries (waiting for approval, or a flood) so that they go out."""
    if target and not everything:
        raise click.UsageError("--target releases every held delivery of it: add --all")
    if everything and not target:
        raise click.UsageError("--all needs --target TARGET")
    if not delivery_ids and not feed and not target:
        raise click.UsageError(
            "name the deliveries (ID...), a feed (--feed NAME) or a target (--target T --all)"
        )
    with ctx.app(posts=False) as app:
        released = app.approve(ids=delivery_ids, feed=feed, target=target)
    if not released:
        click.echo("nothing was held")
        return
    noun = "delivery" if len(released) == 1 else "deliveries"
    click.echo(f"{len(released)} {noun} released; they go out with the next dispatch")


@click.command()
@click.argument("target")
@click.option(
    "--for",
    "duration",
    callback=_pause_for,
    metavar="DURATION",
    help=f"Resume by itself after this long ('2h', '3d'; at most {LONGEST_PAUSE.days}d).",
)
@pass_context
def pause(ctx: Context, target: str, duration: timedelta | None) -> None:
    """Stop posting to a target until `feedrelay resume` (or for a while)."""
    from datetime import UTC, datetime

    until = datetime.now(UTC) + duration if duration is not None else None
    with ctx.app(posts=False) as app:
        state = app.pause(target, until=until)
    ends = f" until {state.paused_until:%Y-%m-%d %H:%M} UTC" if state.paused_until else ""
    click.echo(f"{state.target}: {state.pause_reason}{ends}")


@click.command()
@click.argument("target")
@pass_context
def resume(ctx: Context, target: str) -> None:
    """Lift a target's pause (after refused credentials were fixed, or your own pause)."""
    with ctx.app(posts=False) as app:
        state = app.resume(target)
    click.echo(f"{state.target}: resumed; its deliveries go out with the next dispatch")
