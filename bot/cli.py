"""The ``feedrelay`` command: a thin layer of click commands over ``bot.app.App``.

Our own errors become a clean message and a non-zero exit status here, in one place;
anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from datetime import timedelta
from typing import TYPE_CHECKING, Any

import click

from bot import __version__
from bot.config import Config, config_path, load_config
from bot.errors import ConfigError, PluginError
from bot.exits import EXIT_CONFIG, EXIT_FAILED, Commands
from bot.model import Delivery, DeliveryState, Post
from bot.settings import Between, DurationTooLongError, format_duration, parse_duration

if TYPE_CHECKING:
    from bot.text.render import Description

# Exit codes (bot/exits.py, README "Exit codes"): 0 done, 1 something failed, 2 the command
# line or the config is wrong (click's own usage errors are 2 as well).
STATUSES = [state.value for state in DeliveryState]
# What a command line may ask for: a value beyond these is a usage error (exit 2), in words.
LARGEST_ID = 2**63 - 1  # a store's ids are signed 64-bit integers (SQLite, PostgreSQL bigint)
HISTORY_LIMIT = 100_000
PREVIEW_LIMIT = 1_000
LONGEST_PAUSE = timedelta(days=365)
# The core's own libraries that log request headers at DEBUG: requests' transport, and the
# notification senders. The platforms name theirs in their specs (``quiet_loggers``).
CORE_LIBRARY_LOGGERS = ("urllib3", "apprise")
FURTHEST_AT = timedelta(days=365)  # post --at: how far ahead a post may be queued


def _delivery_ids(ctx: click.Context, param: click.Parameter, values: Any) -> Any:
    """``ID...`` (a tuple) or ``ID`` as ints: whole numbers from 1, as ``history`` and
    ``status`` show them, that fit the store; anything else is a usage error in words."""
    if values is None or isinstance(values, int):
        return values
    if isinstance(values, str):
        return _delivery_id(values, param, ctx)
    return tuple(_delivery_id(value, param, ctx) for value in values)


def _delivery_id(value: Any, param: click.Parameter, ctx: click.Context) -> int:
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()):
        raise click.BadParameter(
            f"{_quoted(value)} is not a delivery id: ids are whole numbers from 1, as"
            " `feedrelay history` shows them",
            ctx,
            param,
        )
    if len(text.lstrip("0")) > len(str(LARGEST_ID)) or not 1 <= int(text) <= LARGEST_ID:
        raise click.BadParameter(
            f"{_quoted(text)} is not a delivery id: ids run from 1 to {LARGEST_ID:,}", ctx, param
        )
    return int(text)


def _pause_for(ctx: click.Context, param: click.Parameter, value: str | None) -> Any:
    """``pause --for``: a duration from 1s to ``LONGEST_PAUSE``, or ``None``."""
    if value is None:
        return None
    shortest = timedelta(seconds=1)
    allowed = Between(shortest, LONGEST_PAUSE)
    try:
        duration = parse_duration(value)
    except DurationTooLongError:
        raise click.BadParameter(allowed.message(value), ctx, param) from None
    except ValueError as error:
        raise click.BadParameter(str(error), ctx, param) from None
    if not shortest <= duration <= LONGEST_PAUSE:
        raise click.BadParameter(allowed.message(duration), ctx, param)
    return duration


def _quoted(value: object) -> str:
    text = repr(value) if isinstance(value, str) else str(value)
    return text if len(text) <= 40 else text[:37] + "..."


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``"1 feed"``, ``"2 feeds"``, ``"5,000 entries"``."""
    many = nouns or (noun[:-1] + "ies" if noun.endswith("y") else noun + "s")
    return f"{count:,} {noun if count == 1 else many}"


class Context:
    def __init__(self, config_option: str | None, verbose: int, quiet: bool = False) -> None:
        self.config_option = config_option
        self.verbose = verbose
        self.quiet = quiet

    def load(self, *, dry_run: bool = False, posts: bool = True) -> Config:
        """The config; credentials may be missing in a dry run or where nothing is posted."""
        path = config_path(self.config_option)
        config = load_config(path, allow_missing_secrets=dry_run or not posts)
        for notice in config.notices:
            click.echo(f"warning: {notice}", err=True)
        if config.warnings and posts and not self.quiet:
            click.echo(
                f"note: {plural(len(config.warnings), 'credential')} not set; a dry run needs"
                " none" + ("" if self.verbose else " (-v lists them)"),
                err=True,
            )
            if self.verbose:
                for warning in config.warnings:
                    click.echo(f"  {warning}", err=True)
        return config

    @contextmanager
    def app(
        self,
        *,
        dry_run: bool = False,
        posts: bool = True,
        config: Config | None = None,
        read_only: bool = False,
    ) -> Iterator[Any]:
        """The app; ``posts=False`` for commands that only read or edit the record,
        ``read_only`` for those that only read it (the store is opened read-only: they work
        on a full disk, and never migrate or write)."""
        from bot.app import make_app

        config = config or self.load(dry_run=dry_run, posts=posts)
        with make_app(config, dry_run=dry_run, read_only=read_only) as app:
            yield app

    def existing_store(self, *, as_json: bool, empty: Any) -> Config | None:
        """The config of a command that only reads, or ``None`` (having said so, and printed
        ``empty`` for --json) when there is no store yet: reading never creates one."""
        config = self.load(posts=False)
        if config.database_url is not None or config.database_path.exists():
            return config
        message = f"no store yet at {config.database_path}: nothing has run"
        if as_json:
            if not self.quiet:
                click.echo(message, err=True)
            click.echo(json.dumps(empty, indent=2, ensure_ascii=False))
        else:
            click.echo(message)
        return None


def _platform_loggers() -> list[str]:
    """The library loggers the installed platforms' specs name (``quiet_loggers``); a
    platform that cannot be loaded is reported where it is used, not here."""
    import adapters

    names: list[str] = []
    for platform in adapters.platforms():
        try:
            names += adapters.spec(platform).quiet_loggers
        except PluginError:
            continue
    return list(dict.fromkeys(names))


def _setup_logging(verbose: int) -> None:
    level = logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING
    logging.basicConfig(
        level=level, format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr
    )
    # At DEBUG these libraries print request headers, tokens included: the core's own, and
    # those each installed platform's spec names (reading a spec loads no library).
    for name in (*CORE_LIBRARY_LOGGERS, *_platform_loggers()):
        logging.getLogger(name).setLevel(max(level, logging.INFO))
    # APScheduler reports every tick at INFO; only -vv wants that.
    logging.getLogger("apscheduler").setLevel(logging.DEBUG if verbose > 1 else logging.WARNING)


@click.group(
    cls=Commands,
    context_settings={"help_option_names": ["-h", "--help"]},
    invoke_without_command=True,
    no_args_is_help=True,
)
@click.option(
    "--config",
    "config_option",
    metavar="PATH",
    help="Config file (default: $FEEDRELAY_CONFIG, else ./feedrelay.toml).",
)
@click.option("-v", "--verbose", count=True, help="Log more (-v: what happens, -vv: debug).")
@click.option("-q", "--quiet", is_flag=True, help="Print only warnings, errors and results.")
@click.option(
    "-V", "--version", is_flag=True, help="Print the version and exit (-V -v: with platforms)."
)
@click.pass_context
def main(
    ctx: click.Context, config_option: str | None, verbose: int, quiet: bool, version: bool
) -> None:
    """Announce every new blog post on X, Reddit and Tumblr, exactly once.

    Exit status: 0 done, 1 something failed, 2 a usage or config error.
    """
    if version:
        click.echo(f"feedrelay, version {__version__}")
        if verbose:
            _print_platforms()
        ctx.exit(0)
    if ctx.invoked_subcommand is None:
        raise click.UsageError("Missing command.")
    if quiet and verbose:
        raise click.UsageError("-q and -v contradict each other: give one")
    _setup_logging(verbose)
    ctx.obj = Context(config_option, verbose, quiet)


pass_context = click.make_pass_decorator(Context)


def _print_platforms() -> None:
    """The installed platforms, each with the package that brought it and whether it loads."""
    import adapters

    click.echo("platforms:")
    for name, plugin in adapters.installed().items():
        try:
            adapters.spec(name)
        except adapters.PluginError as error:
            state = f"cannot be loaded: {error}"
        else:
            state = "ok"
        click.echo(f"  {name:<10} {plugin.distribution} {plugin.version}  {state}")


@main.command()
@click.option("--once", is_flag=True, help="Poll every feed once, send what is due, exit.")
@click.option("--dry-run", is_flag=True, help="Print what would be posted; post and store nothing.")
@click.option(
    "--json", "as_json", is_flag=True, help="With --dry-run: a JSON array, one object per post."
)
@pass_context
def run(ctx: Context, once: bool, dry_run: bool, as_json: bool) -> None:
    """Watch the feeds and post new entries (a daemon; --once for cron)."""
    from bot.scheduling import run_daemon, stop_on_signals
    from bot.store import instance_lock

    if as_json and not dry_run:
        raise click.UsageError("--json goes with --dry-run")

    if not ctx.verbose and not ctx.quiet and not dry_run:
        logging.getLogger("bot").setLevel(logging.INFO)
    with ctx.app(dry_run=dry_run) as app:
        # One poller per SQLite store (a daemon or a --once from cron); on PostgreSQL several
        # share it. Either way, claims and their leases keep senders apart (bot/runners.py).
        alone = not dry_run and app.config.database_url is None
        lock = instance_lock(app.config.database_path) if alone else nullcontext()
        with lock, app.running("daemon" if not (once or dry_run) else "once"):
            app.start_polling()
            started_at = app.clock()
            if not (once or dry_run):
                run_daemon(app, reload_config=lambda: ctx.load())
                return
            with stop_on_signals() as stopping, _feed_progress(ctx.quiet) as on_result:
                results = app.poll_due_feeds(everything=True, on_result=on_result)
                outcomes = (
                    [] if stopping.is_set() else app.dispatch_due(should_stop=stopping.is_set)
                )
            app.notify()
            if dry_run:
                skipped = app.history(state="skipped", since=started_at)
                if as_json:
                    _print_dry_run_json(app, outcomes, skipped)
                else:
                    _print_dry_run(app, outcomes, skipped)
        failed = [r for r in results if r.error]
        for result in failed:
            click.echo(f"feed {result.feed}: {result.error}", err=True)
        if not dry_run and not ctx.quiet:
            _print_run_summary(results, outcomes)
        if failed or any(o.state is DeliveryState.FAILED for o in outcomes):
            sys.exit(EXIT_FAILED)


@contextmanager
def _feed_progress(
    quiet: bool, stream: Any = None
) -> Iterator[Callable[[Any, int, int], None] | None]:
    """A progress bar of the poll on stderr, only where stderr is a terminal (never in a
    log, a pipe or cron); log lines are written above it while it is drawn."""
    stream = stream or sys.stderr
    if quiet or not stream.isatty():
        yield None
        return
    from tqdm import tqdm
    from tqdm.contrib.logging import logging_redirect_tqdm

    bar: Any = None
    failing = 0

    def on_result(result: Any, done: int, total: int) -> None:
        nonlocal bar, failing
        if bar is None:
            bar = tqdm(total=total, desc="polling", unit="feed", file=stream, leave=False)
        bar.update(1)
        if result.error:  # rare: drawn at once, whatever tqdm's refresh interval
            failing += 1
            bar.set_postfix_str(f"{plural(failing, 'feed')} failing")

    with logging_redirect_tqdm():
        try:
            yield on_result
        finally:
            if bar is not None:
                bar.close()


def _print_run_summary(results: list[Any], outcomes: list[Any]) -> None:
    """One line for the whole run, e.g. ``200 feeds: 5,000 entries recorded as seen,
    nothing posted; 2 feeds failing``, and what a first run did, said plainly."""
    seen = sum(r.new for r in results if r.baseline)
    new = sum(r.new for r in results if not r.baseline)
    held = sum(r.held for r in results)
    posted = sum(1 for o in outcomes if o.new)
    failed_posts = sum(1 for o in outcomes if o.state is DeliveryState.FAILED)
    failing = sum(1 for r in results if r.error)
    parts = []
    if new:
        parts.append(plural(new, "new entry", "new entries"))
    if seen:
        parts.append(f"{plural(seen, 'entry')} recorded as seen")
    if not (new or seen):
        parts.append("nothing new")
    parts.append(f"{plural(posted, 'post')} sent" if posted else "nothing posted")
    if held:
        parts.append(f"{held:,} held (`feedrelay status`)")
    problems = []
    if failing:
        problems.append(f"{plural(failing, 'feed')} failing")
    if failed_posts:
        problems.append(f"{plural(failed_posts, 'post')} failed")
    line = f"{plural(len(results), 'feed')}: " + ", ".join(parts)
    click.echo(line + ("; " + ", ".join(problems) if problems else ""))
    first = [r for r in results if r.baseline]
    if first and not any(r.queued or r.held for r in first):
        which = f"feed {first[0].feed}" if len(first) == 1 else plural(len(first), "feed")
        click.echo(
            f"first run of {which}: what is in the feed now was recorded as seen, as a"
            " baseline, and nothing of it was posted; entries published from now on will be."
            " To post an older entry: `feedrelay post URL`. To post a new feed's N newest"
            " entries on its first run, put `backfill = N` in its [feeds.NAME] table first."
        )


def _print_dry_run_json(app: Any, outcomes: list[Any], skipped: list[Delivery]) -> None:
    from bot.reports import dry_run_json

    sent = [outcome.delivery for outcome in outcomes]
    data = dry_run_json(app.config, sent, app.pending(), list(reversed(skipped)))
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _print_dry_run(app: Any, outcomes: list[Any], skipped: Sequence[Delivery] = ()) -> None:
    if not outcomes:
        click.echo("dry run: nothing to post now")
    else:
        click.echo(
            f"dry run: {plural(len(outcomes), 'post')} would go out now"
            " (nothing was sent or stored)"
        )
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
        click.echo(f"{len(later):,} more not sent now:")
        for delivery in later:
            when = delivery.due_at.strftime("%Y-%m-%d %H:%M UTC") if delivery.due_at else ""
            click.echo(
                f"   {delivery.state.value:<7} {when}  {delivery.target}: "
                f"{delivery.title or delivery.link}"
            )
    if skipped:
        click.echo("")
        click.echo(f"{len(skipped)} skipped:")
        for delivery in reversed(skipped):
            what = delivery.title or delivery.link or delivery.entry_key
            click.echo(f"   {delivery.target}: {what}: {delivery.error}")


def _describe_post(platform: str, post: Post, budget: str | None = None) -> str:
    """A post as its platform's spec describes it, then how its length was spent (the
    render's own account in ``budget``, where there is one, else its length as counted
    by the platform's limits)."""
    from bot.app import describe_for

    return _show(describe_for(platform, post), budget)


def _show(described: Description, budget: str | None = None) -> str:
    """A post's description as lines of text, indented under its heading."""
    fields = [line.label for line in described.lines if line.kind == "field"]
    width = max(map(len, fields), default=0) if described.align else 0
    lines = []
    for line in described.lines:
        if line.kind == "block":
            lines.append(_indent(line.value))
        elif line.kind == "note":
            lines.append(f"   {line.value}")
        else:
            lines.append(f"   {(line.label + ':').ljust(width + 1)} {line.value}")
    lines.append(f"   [{budget or described.budget}]")
    return "\n".join(lines)


def _describe_delivery(delivery: Delivery) -> str:
    return _describe_post(delivery.platform, delivery.post)


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
            click.echo(_describe_delivery(outcome.delivery))
            continue
        where = (outcome.published.url if outcome.published else "") or ""
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


def _post_json(result: Any, *, dry_run: bool) -> dict[str, Any]:
    """One target's part of ``post --json``: ``result`` is ``posted``, ``queued``, ``would
    post``, ``already there`` (posted before, or refused as a duplicate), ``not posted``
    (see ``note``) or the delivery's state (``retry``, ``unknown``, ``failed``, ...)."""
    from bot.reports import delivery_json

    outcome = result.outcome
    row: dict[str, Any] = {"target": result.target, "note": result.note or None}
    if outcome is None:
        done = result.queued_at is not None
        row.update(result="queued" if done else "not posted", url=None, error=None, delivery=None)
        return row
    if dry_run:
        verdict = "would post"
    elif outcome.new:
        verdict = "posted"
    elif outcome.state is DeliveryState.POSTED:
        verdict = "already there"
    else:
        verdict = outcome.state.value
    # The outcome's delivery is the row as it was claimed; what the attempt made of it:
    delivery = {**delivery_json(outcome.delivery), "status": outcome.state.value}
    if outcome.published:
        delivery.update(remote_id=outcome.published.remote_id, remote_url=outcome.published.url)
    row.update(
        result=verdict,
        url=(outcome.published.url if outcome.published else None) or None,
        error=outcome.error,
        delivery=delivery,
    )
    return row


@main.command()
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
    from bot.reports import delivery_json

    config = ctx.existing_store(as_json=as_json, empty=[])
    if config is None:
        return
    with ctx.app(posts=False, config=config, read_only=True) as app:
        after = _since(since, app.config.bot.timezone, app.clock()) if since else None
        rows = app.history(target=target, state=status, limit=limit, since=after)
    if as_json:
        click.echo(json.dumps([delivery_json(d) for d in rows], indent=2, ensure_ascii=False))
        return
    if not rows:
        click.echo("no deliveries" + (" since then" if since else " yet"))
        return
    _print_history(rows)


def _print_history(rows: list[Delivery]) -> None:
    """One row per delivery under a header, titles cut to the terminal's width; where it
    went (or why not) on a line of its own, never cut."""
    import shutil

    id_width = max(2, *(len(str(d.id)) for d in rows))
    target_width = max(6, *(len(d.target) for d in rows))
    columns = shutil.get_terminal_size((100, 24)).columns
    title_width = max(20, columns - (id_width + 2 + 16 + 2 + 8 + 1 + target_width + 1))
    click.echo(
        f"{'ID':>{id_width}}  {'UPDATED (UTC)':<16}  {'STATUS':<8} {'TARGET':<{target_width}} TITLE"
    )
    for d in rows:
        when = d.updated_at.strftime("%Y-%m-%d %H:%M") if d.updated_at else ""
        title = _cut(d.title or d.link, title_width)
        click.echo(
            f"{d.id:>{id_width}}  {when:<16}  {d.state.value:<8} {d.target:<{target_width}}"
            f" {title}".rstrip()
        )
        detail = d.remote_url or d.error or ""
        if detail:
            click.echo(f"{'':>{id_width}}  {detail}")


def _cut(text: str, width: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _since(text: str, timezone: str, now: Any) -> Any:
    """``"2d"`` (that long ago) or ``"2026-01-31"`` / ``"2026-01-31 09:00"`` (local time)."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    try:
        return now - parse_duration(text)
    except DurationTooLongError as error:
        raise click.BadParameter(f"{error}; give a date instead", param_hint="--since") from None
    except ValueError:
        pass
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(
            f"{_quoted(text)} is neither a duration ('2d', '12h') nor a date ('2026-01-31')",
            param_hint="--since",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(timezone))
    try:
        return when.astimezone(UTC)
    except OverflowError:  # 0001-01-01 east of UTC, 9999-12-31 west of it
        raise click.BadParameter(f"{text} is out of range", param_hint="--since") from None


@main.command()
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_context
def status(ctx: Context, as_json: bool) -> None:
    """Show each target and feed, what waits and why, and what needs attention."""
    from datetime import UTC, datetime

    from bot.reports import Status, status_json

    config = ctx.load(posts=False)
    if config.database_url is None and not config.database_path.exists():
        nothing = Status(
            feeds=dict.fromkeys(config.feeds),
            targets=[],
            needs_person=[],
            will_retry=[],
            in_flight=[],
            runners=[],
            holder_pid=None,
            now=datetime.now(UTC),
        )
        ctx.existing_store(as_json=as_json, empty=status_json(nothing))
        return
    with ctx.app(posts=False, config=config, read_only=True) as app:
        report = app.status()
    if as_json:
        click.echo(json.dumps(status_json(report), indent=2, ensure_ascii=False))
        return
    _print_status(report)


def _print_status(report: Any) -> None:
    holder = report.holder_pid
    runners = report.runners
    if holder or runners:
        for runner in runners:
            beat = runner.heartbeat_at.strftime("%H:%M:%S")
            click.echo(
                f"runner: {runner.mode} pid {runner.pid} on {runner.host}, "
                f"last heartbeat {beat} UTC"
            )
        if holder and not any(r.pid == holder for r in runners):
            click.echo(f"runner: pid {holder} holds the store")
    else:
        click.echo("runner: none (no daemon holds the store)")
    if not report.targets:
        click.echo("no deliveries yet")
    for t in report.targets:
        summary = ", ".join(f"{n} {state}" for state, n in sorted(t.counts.items())) or "nothing"
        click.echo(f"target {t.name}: {summary}")
        if t.pause_reason:
            until = f" until {_when(t.paused_until)}" if t.paused_until else ""
            click.echo(f"   PAUSED{until}: {t.pause_reason} (`feedrelay resume {t.name}` lifts it)")
        if t.rate_limited_until:
            click.echo(f"   rate limited until {_when(t.rate_limited_until)}")
        if t.next_post_at:
            click.echo(f"   next post {_when(t.next_post_at)}")
        if t.budget_usd:
            left = t.budget_usd - t.spent_usd
            click.echo(
                f"   budget: {t.spent_usd:.2f} of {t.budget_usd:.2f} USD spent this month,"
                f" {left:.2f} left"
            )
        for reason, n in sorted(t.held.items()):
            wait = "waits" if n == 1 else "wait"
            what = {"approval": f"{wait} for approval", "budget": f"{wait} for the budget"}.get(
                reason, f"held ({reason})"
            )
            click.echo(f"   {n} {what}")
    for name, feed in report.feeds.items():
        if feed is None or feed.last_checked_at is None:
            click.echo(f"feed {name}: not polled yet")
            continue
        checked = _when(feed.last_checked_at)
        if feed.gone:
            click.echo(f"feed {name}: GONE ({feed.last_error}); not polled until its url changes")
        elif feed.last_error:
            click.echo(
                f"feed {name}: failing ({feed.error_count}x): {feed.last_error};"
                f" next try {_when(feed.next_check_at)}"
            )
        elif feed.last_warning:
            click.echo(
                f"feed {name}: warning: {feed.last_warning}; last checked {checked},"
                f" next {_when(feed.next_check_at)}"
            )
        else:
            click.echo(f"feed {name}: ok, last checked {checked}, next {_when(feed.next_check_at)}")
    if report.needs_person:
        click.echo("")
        click.echo("needs you (feedrelay retry|skip|resolve|approve ID):")
        for d in report.needs_person:
            click.echo(f"{d.id:>5}  {d.state.value:<8} {d.target:<12} {d.title or d.link}")
            if d.error:
                click.echo(f"       {d.error}")
    if report.will_retry:
        click.echo("")
        click.echo("will be tried again by itself:")
        for d in report.will_retry:
            what = "look-up" if d.state is DeliveryState.UNKNOWN else "retry"
            click.echo(
                f"{d.id:>5}  {d.state.value:<8} {d.target:<12} {what} {_when(d.due_at)}:"
                f" {d.title or d.link}"
            )
            if d.error:
                click.echo(f"       {d.error}")
    if report.in_flight:
        click.echo("")
        click.echo("being sent now:")
        for d in report.in_flight:
            click.echo(f"{d.id:>5}  {d.state.value:<8} {d.target:<12} {d.title or d.link}")


def _local_time(text: str, timezone: str, now: Any) -> Any:
    """``"2026-12-02 09:00"`` in the config's time zone, as aware UTC; in the future."""
    from datetime import UTC, datetime
    from zoneinfo import ZoneInfo

    try:
        naive = datetime.fromisoformat(text.strip())
        if naive.tzinfo is None:
            naive = naive.replace(tzinfo=ZoneInfo(timezone))
        at = naive.astimezone(UTC)
    except (ValueError, OverflowError):  # OverflowError: year 1 or 9999 across UTC
        raise click.BadParameter(
            f"{_quoted(text)} is not a time such as '2026-12-02 09:00'", param_hint="--at"
        ) from None
    if at <= now:
        raise click.BadParameter(f"{text} ({timezone}) is in the past", param_hint="--at")
    if at > now + FURTHEST_AT:
        raise click.BadParameter(
            f"{text} ({timezone}) is more than {format_duration(FURTHEST_AT)} ahead",
            param_hint="--at",
        )
    return at


def _when(value: Any) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else "?"


@main.command()
@click.argument("delivery_ids", metavar="ID...", nargs=-1, callback=_delivery_ids, required=True)
@pass_context
def retry(ctx: Context, delivery_ids: tuple[int, ...]) -> None:
    """Send deliveries again now (failed, unknown, held or skipped ones)."""
    with ctx.app(posts=False) as app:
        for delivery_id in delivery_ids:
            delivery = app.retry(delivery_id)
            state = app.store.target_state(delivery.target)
            if state.pause_reason is not None:
                click.echo(
                    f"{delivery_id}: queued, but target {delivery.target} is paused"
                    f" ({state.pause_reason}); `feedrelay resume {delivery.target}` lifts it"
                )
            else:
                click.echo(f"{delivery_id}: queued; it goes out with the next dispatch")


@main.command()
@click.argument("delivery_ids", metavar="ID...", nargs=-1, callback=_delivery_ids, required=True)
@pass_context
def skip(ctx: Context, delivery_ids: tuple[int, ...]) -> None:
    """Never send these deliveries (they stay in the history as skipped)."""
    with ctx.app(posts=False) as app:
        for delivery_id in delivery_ids:
            app.skip(delivery_id)
            click.echo(f"{delivery_id}: skipped")


@main.command()
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


@main.command()
@click.argument("target", required=False)
@click.option("--json", "as_json", is_flag=True, help="Print a JSON array.")
@pass_context
def schedule(ctx: Context, target: str | None, as_json: bool) -> None:
    """When each queued or held delivery is planned to go, and why it waits."""
    from bot.reports import schedule_json

    config = ctx.existing_store(as_json=as_json, empty=[])
    if config is None:
        return
    with ctx.app(posts=False, config=config, read_only=True) as app:
        plans = app.schedule(target)
        timezone = app.config.bot.timezone
    if as_json:
        click.echo(json.dumps(schedule_json(plans), indent=2, ensure_ascii=False))
        return
    from zoneinfo import ZoneInfo

    zone = ZoneInfo(timezone)
    for name, planned in plans.items():
        click.echo(f"target {name}: {len(planned)} waiting" if planned else f"target {name}: -")
        for plan in planned:
            d = plan.delivery
            when = plan.at.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z") if plan.at else "-"
            click.echo(f"{d.id:>5}  {when:<20} {d.title or d.link}")
            click.echo(f"       {plan.reason}")


@main.command()
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


@main.command()
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
    click.echo(f"{target}: {state.pause_reason}")


@main.command("migrate-store")
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
        f"copied into {shown}: {copied['entries']} entries, {copied['deliveries']} deliveries,"
        f" {copied['feeds']} feeds, {copied['target_state']} target states (counts checked)"
    )
    click.echo(f'now set [bot] database = "{shown}" (the password from ${{VAR}}) and start')


@main.command()
@click.argument("target")
@pass_context
def resume(ctx: Context, target: str) -> None:
    """Lift a target's pause (after refused credentials were fixed, or your own pause)."""
    with ctx.app(posts=False) as app:
        app.resume(target)
    click.echo(f"{target}: resumed; its deliveries go out with the next dispatch")


@main.command()
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
    """Show the latest entries as each target would post them, with their lengths."""
    with ctx.app(dry_run=True) as app:
        items = app.preview(feed, limit=limit)
        if as_json:
            from bot.reports import preview_json

            click.echo(json.dumps(preview_json(app.config, items), indent=2, ensure_ascii=False))
            return
    for item in items:
        title = item.entry.title or item.entry.link or item.entry.key
        click.echo(f"── {item.target} ({item.platform}) · {title}")
        if item.rendered.skip_reason:
            click.echo(f"   skipped: {item.rendered.skip_reason}")
        else:
            click.echo(_describe_post(item.platform, item.rendered.post, item.rendered.budget))
        click.echo("")


@main.command()
@click.option("--online", is_flag=True, help="Also log in to each target and fetch each feed.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@pass_context
def check(ctx: Context, online: bool, as_json: bool) -> None:
    """Validate the config; with --online, verify credentials too.

    Exits 0 when all is well, 1 when a target or feed failed the online check, 2 when the
    config is wrong.
    """
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
            click.echo(f"{plural(problems, 'problem')}: fix them and run this again")
    return {"targets": targets, "feeds": feeds}


from bot.cli_setup import register  # noqa: E402  (init, auth: their own module)

register(main)

if __name__ == "__main__":  # pragma: no cover
    main()
