"""The ``feedrelay`` command: a thin layer of click commands over ``bot.app.App``.

Our own errors become a clean message and a non-zero exit status here, in one place;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, nullcontext
from functools import wraps
from pathlib import Path
from typing import Any, TypeVar

import click

from bot import __version__
from bot.config import Config, config_path, load_config
from bot.errors import ConfigError, FeedRelayError, LockedError, PublishError
from bot.model import Delivery, DeliveryState, Post

F = TypeVar("F", bound=Callable[..., Any])

EXIT_CONFIG = 2
EXIT_FAILED = 1
STATUSES = [state.value for state in DeliveryState]


def _fail_cleanly(func: F) -> F:
    @wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except ConfigError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_CONFIG)
        except FeedRelayError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_FAILED)

    return wrapper  # type: ignore[return-value]


class Context:
    def __init__(self, config_option: str | None, verbose: int) -> None:
        self.config_option = config_option
        self.verbose = verbose

    def load(self, *, dry_run: bool = False, posts: bool = True) -> Config:
        """The config; credentials may be missing in a dry run or where nothing is posted."""
        path = config_path(self.config_option)
        config = load_config(path, allow_missing_secrets=dry_run or not posts)
        if config.warnings and posts:
            click.echo(
                f"note: {len(config.warnings)} credentials are not set; a dry run needs none"
                + ("" if self.verbose else " (-v lists them)"),
                err=True,
            )
            if self.verbose:
                for warning in config.warnings:
                    click.echo(f"  {warning}", err=True)
        return config

    @contextmanager
    def app(self, *, dry_run: bool = False, posts: bool = True) -> Iterator[Any]:
        """The app; ``posts=False`` for commands that only read or edit the record."""
        from bot.app import make_app

        config = self.load(dry_run=dry_run, posts=posts)
        with make_app(config, dry_run=dry_run) as app:
            yield app


def _setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # At DEBUG these libraries print request headers, tokens included.
    for name in ("tweepy", "prawcore", "praw", "urllib3", "requests_oauthlib", "oauthlib"):
        logging.getLogger(name).setLevel(max(level, logging.INFO))
    # APScheduler reports every tick at INFO; only -vv wants that.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--config",
    "config_option",
    metavar="PATH",
    help="Config file (default: $FEEDRELAY_CONFIG, else ./feedrelay.toml).",
)
@click.option("-v", "--verbose", count=True, help="Log more (-v: what happens, -vv: debug).")
@click.version_option(__version__, prog_name="feedrelay")
@click.pass_context
def main(ctx: click.Context, config_option: str | None, verbose: int) -> None:
    """Announce every new blog post on X, Reddit and Tumblr, exactly once."""
    _setup_logging(verbose)
    ctx.obj = Context(config_option, verbose)


pass_context = click.make_pass_decorator(Context)


@main.command()
@click.option("--once", is_flag=True, help="Poll every feed once, send what is due, exit.")
@click.option("--dry-run", is_flag=True, help="Print what would be posted; post and store nothing.")
@pass_context
@_fail_cleanly
def run(ctx: Context, once: bool, dry_run: bool) -> None:
    """Watch the feeds and post new entries (a daemon; --once for cron)."""
    if not ctx.verbose and not dry_run:
        logging.getLogger("bot").setLevel(logging.INFO)
    with ctx.app(dry_run=dry_run) as app:
        # One runner per store (a daemon or a --once from cron): recover() would take the
        # other runner's post in flight for an interrupted one.
        lock = nullcontext() if dry_run else _daemon_lock(app.config.database_path)
        with lock:
            app.recover()
            if not (once or dry_run):
                from bot.scheduling import run_daemon

                run_daemon(app)
                return
            results = app.poll_due_feeds(everything=True)
            outcomes = app.dispatch_due()
        if dry_run:
            _print_dry_run(app, outcomes)
        failed = [r for r in results if r.error]
        for result in failed:
            click.echo(f"feed {result.feed}: {result.error}", err=True)
        if failed and len(failed) == len(results):
            sys.exit(EXIT_FAILED)


@contextmanager
def _daemon_lock(database: Path) -> Iterator[None]:
    import fcntl

    lock_path = database.with_name(database.name + ".lock")
    with lock_path.open("a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise LockedError(
                f"another feedrelay run is using {database} (lock {lock_path})"
            ) from None
        yield


def _print_dry_run(app: Any, outcomes: list[Any]) -> None:
    if not outcomes:
        click.echo("dry run: nothing to post now")
    else:
        click.echo(f"dry run: {len(outcomes)} posts would go out now (nothing was sent or stored)")
    for outcome in outcomes:
        delivery = outcome.delivery
        click.echo("")
        click.echo(
            f"── {delivery.target} ({delivery.platform}) · {delivery.title or delivery.link}"
        )
        click.echo(_describe_delivery(delivery))
    later = app.pending()
    if later:
        click.echo("")
        click.echo(f"{len(later)} more not sent now:")
        for delivery in later:
            when = delivery.not_before_at.strftime("%Y-%m-%d %H:%M UTC")
            click.echo(
                f"   {delivery.state.value:<7} {when}  {delivery.target}: "
                f"{delivery.title or delivery.link}"
            )


def _describe_post(platform: str, post: Post, measure: str) -> str:
    """A post as its platform would show it, then how its length was spent."""
    lines = []
    if platform == "reddit":
        lines.append(f"   title: {post.title}")
        lines.append(f"   link:  {post.link}" if post.link else _indent(post.body))
    else:
        lines.append(_indent(post.text))
        if platform == "tumblr":
            lines.append(f"   link block: {post.link} ({post.title})")
            if post.tags:
                lines.append(f"   tags: {', '.join(post.tags)}")
    if post.image:
        alt = f" (alt: {post.image.alt})" if post.image.alt else ""
        lines.append(f"   image: {post.image.url}{alt}")
    lines.append(f"   [{measure}]")
    return "\n".join(lines)


def _measure(delivery: Delivery) -> str:
    """The length of a stored post, counted the way its platform counts it."""
    post = delivery.post
    if delivery.platform == "twitter":
        from bot.xtext import weighted_length

        return f"{weighted_length(post.text)}/280 weighted characters"
    if delivery.platform == "reddit":
        return f"title {len(post.title)}/300"
    return f"text {len(post.text)}/4096"


def _describe_delivery(delivery: Delivery) -> str:
    return _describe_post(delivery.platform, delivery.post, _measure(delivery))


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.splitlines()) or "   (empty)"


@main.command()
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
@pass_context
@_fail_cleanly
def post(
    ctx: Context, reference: str, targets: tuple[str, ...], dry_run: bool, force: bool
) -> None:
    """Post one entry (by its link or id) now, through the same outbox."""
    with ctx.app(dry_run=dry_run) as app:
        results = app.post_now(reference, targets=targets, force=force)
    failed = False
    for result in results:
        outcome = result.outcome
        if outcome is None:
            click.echo(f"{result.target}: {result.note}")
            continue
        if dry_run:
            click.echo(f"{result.target}: would post")
            click.echo(_describe_delivery(outcome.delivery))
        elif outcome.state is DeliveryState.POSTED:
            where = outcome.published.url if outcome.published else ""
            click.echo(f"{result.target}: posted {where}".rstrip())
        else:
            failed = failed or outcome.state is DeliveryState.FAILED
            click.echo(f"{result.target}: {outcome.state.value}: {outcome.error}")
    if failed:
        sys.exit(EXIT_FAILED)


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@click.option("--target", metavar="TARGET", help="Only this target's deliveries.")
@click.option("--status", type=click.Choice(STATUSES), help="Only deliveries in this state.")
@click.option("--limit", type=click.IntRange(min=1), help="At most this many, newest first.")
@pass_context
@_fail_cleanly
def history(
    ctx: Context, as_json: bool, target: str | None, status: str | None, limit: int | None
) -> None:
    """List deliveries: what went out where, and what is pending or failed."""
    with ctx.app(posts=False) as app:
        rows = app.history(target=target, state=status, limit=limit)
    if as_json:
        click.echo(json.dumps([delivery_json(d) for d in rows], indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no deliveries yet")
        return
    for d in rows:
        when = d.updated_at.strftime("%Y-%m-%d %H:%M") if d.updated_at else ""
        detail = d.remote_url or d.error or ""
        click.echo(f"{d.id:>5}  {when}  {d.state.value:<8} {d.target:<12} {d.title or d.link}")
        if detail:
            click.echo(f"       {detail}")


def delivery_json(delivery: Delivery) -> dict[str, Any]:
    def iso(value: Any) -> str | None:
        return value.isoformat() if value else None

    return {
        "id": delivery.id,
        "feed": delivery.feed,
        "entry_id": delivery.entry_key,
        "link": delivery.link,
        "title": delivery.title,
        "target": delivery.target,
        "platform": delivery.platform,
        "status": delivery.state.value,
        "attempts": delivery.attempts,
        "remote_id": delivery.remote_id,
        "remote_url": delivery.remote_url,
        "error": delivery.error,
        "created_at": iso(delivery.created_at),
        "updated_at": iso(delivery.updated_at),
        "next_attempt_at": iso(delivery.not_before_at)
        if delivery.state in (DeliveryState.QUEUED, DeliveryState.RETRY)
        else None,
        "text": delivery.post.text or delivery.post.title,
    }


@main.command()
@pass_context
@_fail_cleanly
def status(ctx: Context) -> None:
    """Show what went out per target, what needs attention, and failing feeds."""
    with ctx.app(posts=False) as app:
        report = app.status()
    if not report.counts:
        click.echo("no deliveries yet")
    for target, counts in sorted(report.counts.items()):
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items()))
        click.echo(f"target {target}: {summary}")
    for name, feed in report.feeds.items():
        if feed is None:
            click.echo(f"feed {name}: not polled yet")
        elif feed.last_error:
            click.echo(f"feed {name}: failing ({feed.error_count}x): {feed.last_error}")
        else:
            checked = (
                feed.last_checked_at.strftime("%Y-%m-%d %H:%M") if feed.last_checked_at else "?"
            )
            click.echo(f"feed {name}: ok, last checked {checked} UTC")
    if report.attention:
        click.echo("")
        click.echo("needs attention (feedrelay retry|skip|resolve ID):")
        for d in report.attention:
            click.echo(f"{d.id:>5}  {d.state.value:<8} {d.target:<12} {d.title or d.link}")
            if d.error:
                click.echo(f"       {d.error}")


@main.command()
@click.argument("delivery_ids", metavar="ID...", nargs=-1, type=int, required=True)
@pass_context
@_fail_cleanly
def retry(ctx: Context, delivery_ids: tuple[int, ...]) -> None:
    """Send deliveries again now (failed, unknown, held or skipped ones)."""
    with ctx.app(posts=False) as app:
        for delivery_id in delivery_ids:
            app.retry(delivery_id)
            click.echo(f"{delivery_id}: queued; it goes out with the next dispatch")


@main.command()
@click.argument("delivery_ids", metavar="ID...", nargs=-1, type=int, required=True)
@pass_context
@_fail_cleanly
def skip(ctx: Context, delivery_ids: tuple[int, ...]) -> None:
    """Never send these deliveries (they stay in the history as skipped)."""
    with ctx.app(posts=False) as app:
        for delivery_id in delivery_ids:
            app.skip(delivery_id)
            click.echo(f"{delivery_id}: skipped")


@main.command()
@click.argument("delivery_id", metavar="ID", type=int)
@click.option("--url", default="", help="Where the post is, as you found it on the platform.")
@click.option("--remote-id", default="", help="The platform's id of the post.")
@pass_context
@_fail_cleanly
def resolve(ctx: Context, delivery_id: int, url: str, remote_id: str) -> None:
    """Record that a delivery is on the platform (after checking by hand)."""
    with ctx.app(posts=False) as app:
        app.resolve(delivery_id, url=url, remote_id=remote_id)
    click.echo(f"{delivery_id}: marked as posted")


@main.command()
@click.argument("feed", required=False)
@click.option(
    "--limit", type=click.IntRange(min=1), default=3, show_default=True, help="Entries per feed."
)
@pass_context
@_fail_cleanly
def preview(ctx: Context, feed: str | None, limit: int) -> None:
    """Show the latest entries as each target would post them, with their lengths."""
    with ctx.app(dry_run=True) as app:
        items = app.preview(feed, limit=limit)
    for item in items:
        title = item.entry.title or item.entry.link
        click.echo(f"── {item.target} ({item.platform}) · {title}")
        click.echo(_describe_post(item.platform, item.rendered.post, item.rendered.budget))
        click.echo("")


@main.command()
@click.option("--online", is_flag=True, help="Also log in to each target and fetch each feed.")
@pass_context
@_fail_cleanly
def check(ctx: Context, online: bool) -> None:
    """Validate the config; with --online, verify credentials too."""
    config = ctx.load()
    click.echo(
        f"config {config.path}: ok ({len(config.feeds)} feeds, {len(config.targets)} targets)"
    )
    if not online:
        return
    from bot.app import make_app

    problems = 0
    with make_app(config, dry_run=True) as app:
        for name, account in app.verify_targets().items():
            if isinstance(account, PublishError):
                problems += 1
                click.echo(f"target {name}: FAILED: {account}")
            else:
                click.echo(f"target {name}: ok, posting as {account}")
        for feed in app.poll_due_feeds(everything=True):
            if feed.error:
                problems += 1
                click.echo(f"feed {feed.feed}: FAILED: {feed.error}")
            else:
                click.echo(f"feed {feed.feed}: ok")
    if problems:
        sys.exit(EXIT_FAILED)


if __name__ == "__main__":  # pragma: no cover
    main()
