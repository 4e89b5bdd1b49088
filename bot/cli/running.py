"""Commands that poll and post: ``run``, ``post``, ``preview``, ``check``."""

from __future__ import annotations

import json
import logging
import sys
from contextlib import nullcontext
from typing import TYPE_CHECKING, Any

import click

from bot.cli.context import PREVIEW_LIMIT, Context, _local_time, pass_context, plural
from bot.cli.exits import EXIT_CONFIG, EXIT_FAILED
from bot.cli.present import (
    _describe_delivery,
    _describe_post,
    _feed_progress,
    _heading,
    _post_json,
    _print_dry_run,
    _print_dry_run_json,
    _print_run_summary,
)
from bot.errors import ConfigError
from bot.model import DeliveryState

if TYPE_CHECKING:
    from bot.config import Config

OWN_LOGGERS = ("bot", "adapters")


@click.command()
@click.option("--once", is_flag=True, help="Poll every feed once, send what is due, exit.")
@click.option("--dry-run", is_flag=True, help="Print what would be posted; post and store nothing.")
@click.option(
    "--json", "as_json", is_flag=True, help="With --dry-run: a JSON array, one object per post."
)
@pass_context
def run(ctx: Context, once: bool, dry_run: bool, as_json: bool) -> None:
    """Watch the feeds and post new entries (a daemon; --once for cron)."""
    from bot.scheduling import run_daemon, stop_grace, stop_on_signals
    from bot.store import instance_lock

    if as_json and not dry_run:
        raise click.UsageError("--json goes with --dry-run")

    if not ctx.quiet and not dry_run:
        # A run's log is its record: what happens is logged without -v (each feed's new
        # entries, each post, failures and recoveries, start and stop); -v adds FeedRelay's
        # own detail (each poll, the next one, what a target waits for), -vv the libraries'.
        for name in OWN_LOGGERS:
            logging.getLogger(name).setLevel(logging.DEBUG if ctx.verbose else logging.INFO)
    with ctx.app(dry_run=dry_run) as app:
        # One poller per SQLite store (a daemon or a --once from cron); on PostgreSQL several
        # share it. Either way, claims and their leases keep senders apart (bot/runners.py).
        alone = not dry_run and app.config.database_url is None
        lock = instance_lock(app.config.database_path) if alone else nullcontext()
        with lock, app.running("daemon" if not (once or dry_run) else "once"):
            app.start_polling()
            started_at = app.clock()
            if not (once or dry_run):
                stopped = run_daemon(app, reload_config=lambda: ctx.load(), say=_say)
                if stopped.exit_status:
                    sys.exit(stopped.exit_status)
                return
            with (
                stop_on_signals(
                    say=_say, in_flight=app.in_flight, grace=stop_grace(app.config)
                ) as stopping,
                _feed_progress(ctx.quiet) as on_result,
            ):
                results = app.poll_due_feeds(
                    everything=True, on_result=on_result, should_stop=stopping.is_set
                )
                outcomes = (
                    [] if stopping.is_set() else app.dispatch_due(should_stop=stopping.is_set)
                )
            app.notify()
            if dry_run:
                skipped = app.history(state="skipped", since=started_at)
                if as_json:
                    _print_dry_run_json(app, outcomes, skipped)
                else:
                    _print_dry_run(app, outcomes, skipped, results)
        failed = [r for r in results if r.error]
        for result in failed:
            click.echo(f"feed {result.feed}: {result.error}", err=True)
        if not dry_run and not ctx.quiet:
            _print_run_summary(results, outcomes)
        if stopping.exit_status:  # Ctrl-C: interrupted, whatever it got done
            sys.exit(stopping.exit_status)
        # A post held by its attempt was refused for the target's credentials: something
        # to fix, as a failure is.
        stuck = (DeliveryState.FAILED, DeliveryState.HELD)
        if failed or any(o.state in stuck for o in outcomes):
            sys.exit(EXIT_FAILED)


def _say(text: str) -> None:
    """What a stop says (it waits, or stops at once), whatever -q: the person who pressed
    Ctrl-C is waiting for an answer."""
    click.echo(text, err=True)


@click.command()
@click.argument("reference", metavar="URL_OR_ENTRY_ID")
@click.option(
    "--to",
    "targets",
    multiple=True,
    metavar="TARGET",
    help="Post to this target only (repeatable).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be posted; post and store nothing.")
@click.option("--force", is_flag=True, help="Post again even where it was posted before.")
@click.option(
    "--at",
    "when",
    metavar="'YYYY-MM-DD HH:MM'",
    help="Queue it for this local time ([bot] timezone) instead of now.",
)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array, one object a target.")
@pass_context
def post(
    ctx: Context,
    reference: str,
    targets: tuple[str, ...],
    dry_run: bool,
    force: bool,
    when: str | None,
    as_json: bool,
) -> None:
    """Post one entry (by its link or id) now, through the same outbox.

    Routes' filters do not apply to a post by hand; where one would have kept the entry
    out, the command says so.

    Exits 0 when a new post went out to every target (or, with --at, was queued for every
    target), 1 when any target got nothing new (already posted, refused as a duplicate,
    waiting or failed).
    """
    with ctx.app(dry_run=dry_run) as app:
        at = _local_time(when, app.config.bot.timezone, app.clock()) if when else None
        results = app.post_now(reference, targets=targets, force=force, at=at)
    if as_json:
        rows = [_post_json(result, dry_run=dry_run) for result in results]
        click.echo(json.dumps(rows, indent=2, ensure_ascii=False))
        if not dry_run and not (rows and all(r["result"] in ("posted", "queued") for r in rows)):
            sys.exit(EXIT_FAILED)
        return
    everywhere = bool(results)
    for result in results:
        outcome = result.outcome
        if outcome is None:
            everywhere = everywhere and result.queued_at is not None
            click.echo(f"{result.target}: {result.note}")
            continue
        if dry_run:
            click.echo(f"{result.target}: would post")
            if result.note:
                click.echo(f"   note: {result.note}")
            click.echo(_describe_delivery(outcome.delivery))
            continue
        where = (outcome.published.url if outcome.published else "") or ""
        if result.note:  # a route's filter that a post by hand overrides
            click.echo(f"{result.target}: note: {result.note}")
        if outcome.new:
            click.echo(f"{result.target}: posted {where}".rstrip())
            if outcome.error:  # what the store holds says more (bot/dispatch.record_outcome)
                click.echo(f"   note: {outcome.error}")
            continue
        everywhere = False
        if outcome.state is DeliveryState.POSTED:
            existing = f" (the existing post: {where})" if where else ""
            click.echo(f"{result.target}: nothing new went out: {outcome.error}{existing}")
        else:
            click.echo(f"{result.target}: {outcome.state.value}: {outcome.error}")
    if not everywhere and not dry_run:
        sys.exit(EXIT_FAILED)


@click.command()
@click.argument("feed", required=False)
@click.option(
    "--limit",
    type=click.IntRange(1, PREVIEW_LIMIT),
    default=3,
    show_default=True,
    help="Entries per feed.",
)
@click.option("--json", "as_json", is_flag=True, help="A JSON array, one object per post.")
@pass_context
def preview(ctx: Context, feed: str | None, limit: int, as_json: bool) -> None:
    """Show the latest entries as each target would post them, with their lengths.

    Each (entry, target) is shown, in the words of its route; an entry that a route's
    filters keep out is shown as skipped, with the reason.
    """
    with ctx.app(dry_run=True) as app:
        items = app.preview(feed, limit=limit)
        config = app.config
        if as_json:
            from bot.reports import preview_json

            click.echo(json.dumps(preview_json(app.config, items), indent=2, ensure_ascii=False))
            return
    for item in items:
        title = item.entry.title or item.entry.link or item.entry.key
        click.echo(_heading(config, item.target, item.platform, title))
        if item.route_keys:
            click.echo(f"   route {item.route_table}: {', '.join(item.route_keys)}")
        if item.skip_reason:
            click.echo(f"   skipped: {item.skip_reason}")
        else:
            click.echo(_describe_post(item.platform, item.rendered.post, item.rendered.budget))
        click.echo("")


@click.command()
@click.option("--online", is_flag=True, help="Also log in to each target and fetch each feed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_context
def check(ctx: Context, online: bool, as_json: bool) -> None:
    """Validate the config; with --online, verify credentials too.

    Exits 0 when all is well, 1 when a target or feed failed the online check, 2 when the
    config is wrong.
    """
    from bot.config import config_path

    report: dict[str, Any] = {"config": str(config_path(ctx.config_option)), "ok": True}
    try:
        config = ctx.load()
    except ConfigError as error:
        if not as_json:
            raise
        report.update(ok=False, problems=error.problems)
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
        sys.exit(EXIT_CONFIG)
    report.update(
        config=str(config.path),
        feeds=len(config.feeds),
        targets=len(config.targets),
        problems=[],
        warnings=list(config.notices),
    )
    counts = f"{plural(len(config.feeds), 'feed')}, {plural(len(config.targets), 'target')}"
    if not as_json:
        click.echo(f"config {config.path}: ok ({counts})")
    if online:
        report["online"] = _check_online(config, echo=not as_json)
        report["ok"] = all(item["ok"] for items in report["online"].values() for item in items)
    if as_json:
        click.echo(json.dumps(report, indent=2, ensure_ascii=False))
    if not report["ok"]:
        sys.exit(EXIT_FAILED)


def _check_online(config: Config, *, echo: bool) -> dict[str, list[dict[str, Any]]]:
    from bot.app import make_app

    targets: list[dict[str, Any]] = []
    feeds: list[dict[str, Any]] = []
    with make_app(config, dry_run=True) as app:
        for name, target in app.check_targets().items():
            ok = target.error is None and not target.problems
            item: dict[str, Any] = {"name": name, "ok": ok, "account": target.account}
            if target.error is not None:
                item.update(error=str(target.error), fix=target.fix)
                who = f" (logged in as {target.account})" if target.account else ""
                lines = [f"target {name}: FAILED{who}: {target.error}", f"   fix: {target.fix}"]
            elif target.problems:
                item["problems"] = list(target.problems)
                lines = [f"target {name}: PROBLEM, posting as {target.account}:"]
                lines += [f"   - {problem}" for problem in target.problems]
            else:
                lines = [f"target {name}: ok, posting as {target.account}"]
            if target.notes:
                item["notes"] = list(target.notes)
                lines += [f"   note: {note}" for note in target.notes]
            targets.append(item)
            if echo:
                click.echo("\n".join(lines))
        for checked in app.check_feeds():
            feed = checked.result
            feeds.append(
                {"name": feed.feed, "ok": not feed.error, "error": feed.error}
                | ({"fix": checked.fix} if feed.error else {})
            )
            if echo:
                click.echo(
                    f"feed {feed.feed}: FAILED: {feed.error}\n   fix: {checked.fix}"
                    if feed.error
                    else f"feed {feed.feed}: ok"
                )
    if echo:
        problems = sum(not item["ok"] for item in targets + feeds)
        if problems:
            them = "it" if problems == 1 else "them"
            click.echo(f"{plural(problems, 'problem')}: fix {them} and run this again")
    return {"targets": targets, "feeds": feeds}
