"""How results read on a terminal: the text presenters beside ``bot.reports``' JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, TextIO

import click

from bot import policy
from bot.model import Delivery, DeliveryState, Post, PushSubscription

if TYPE_CHECKING:
    from bot.app import App, FeedResult, Outcome
    from bot.config import Config
    from bot.reports import Status
    from bot.text.render import Description
from bot.cli.context import _cut, _indent, _when, plural


def _print_dry_run_json(app: App, outcomes: list[Outcome], skipped: list[Delivery]) -> None:
    from bot.reports import dry_run_json

    sent = [outcome.delivery for outcome in outcomes]
    data = dry_run_json(app.config, sent, app.pending(), list(reversed(skipped)))
    click.echo(json.dumps(data, indent=2, ensure_ascii=False))


def _heading(config: Config, target: str, platform: str, title: str) -> str:
    """``── TARGET (PLATFORM: PLACE, as ACCOUNT) · Title``: the target, its platform
    and where its posts go (its settings' ``destination``: the place, then the account),
    as far as the config says."""
    settings = config.targets.get(target)
    destination = settings.destination() if settings is not None else {}
    places = [f"{key} {value}" for key, value in destination.items() if key != "account" and value]
    account = destination.get("account")
    where = ", ".join([*places, *([f"as {account}"] if account else [])])
    return f"── {target} ({platform}{': ' + where if where else ''}) · {title}"


def _print_dry_run(
    app: App,
    outcomes: list[Outcome],
    skipped: Sequence[Delivery] = (),
    results: Sequence[FeedResult] = (),
) -> None:
    if not outcomes:
        click.echo("dry run: nothing to post now")
        note = _baseline_note(results, dry_run=True)
        if note:
            click.echo(note)
    else:
        click.echo(
            f"dry run: {plural(len(outcomes), 'post')} would go out now"
            " (nothing was sent or stored)"
        )
    for outcome in outcomes:
        delivery = outcome.delivery
        click.echo("")
        click.echo(
            _heading(
                app.config, delivery.target, delivery.platform, delivery.title or delivery.link
            )
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


def _print_status(report: Status) -> None:
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
        if t.pause_reason and t.pause_kind in policy.RECHECK_AFTER:
            again = f"; a post tries again {_when(t.paused_until)}" if t.paused_until else ""
            click.echo(
                f"   PAUSED: {t.pause_reason}{again} (`feedrelay resume {t.name}` tries now)"
            )
        elif t.pause_reason:
            until = f" until {_when(t.paused_until)}" if t.paused_until else ""
            click.echo(f"   PAUSED{until}: {t.pause_reason} (`feedrelay resume {t.name}` lifts it)")
        if t.lookups_refused:
            click.echo(
                f"   cannot read posts on the platform ({t.lookups_refused}): a post whose"
                " outcome is unknown waits for you"
            )
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
        if report.push is not None:
            click.echo(f"   push: {_push_words(report.push.get(name))}")
    if report.held:
        # Grouped: a flood of 21 entries to two targets is one line, not 42 times its reason.
        click.echo("")
        total = sum(group.count for group in report.held)
        click.echo(f"held: {plural(total, 'delivery')} (`feedrelay schedule` lists them by id)")
        for group in report.held:
            wait = "waits" if group.count == 1 else "wait"
            where = ""
            if group.feed is not None:
                where = " (" + ", ".join(f"{n} to {t}" for t, n in group.by_target.items()) + ")"
            click.echo(f"{group.count:>5} {wait} {group.what}{where}: {group.release}")
    # Each on its own line: failed ones, and those only a person can tell went out or not
    # (held as unknown: `resolve` or `retry` each, after looking on the platform).
    yours = [
        d
        for d in report.needs_person
        if d.state is not DeliveryState.HELD or d.held_for == policy.UNKNOWN_HOLD
    ]
    if yours:
        click.echo("")
        click.echo("needs you (feedrelay retry|skip|resolve ID):")
        for d in yours:
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


@contextmanager
def _feed_progress(
    quiet: bool, stream: TextIO | None = None
) -> Iterator[Callable[[FeedResult, int, int], None] | None]:
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

    def on_result(result: FeedResult, done: int, total: int) -> None:
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


def _print_run_summary(results: list[FeedResult], outcomes: list[Outcome]) -> None:
    """One line for the whole run, e.g. ``200 feeds: 5,000 entries recorded as seen,
    nothing posted; 2 feeds failing``, and what a first run did, said plainly."""
    seen = sum(r.new for r in results if r.baseline)
    new = sum(r.new for r in results if not r.baseline)
    held = sum(r.held for r in results)
    posted = sum(1 for o in outcomes if o.new)
    failed_posts = sum(1 for o in outcomes if o.state is DeliveryState.FAILED)
    # Held by a send attempt: the platform refused the target's credentials, or only a
    # person can tell whether it went out.
    refused = sum(1 for o in outcomes if o.held_for == policy.HELD_FOR_CREDENTIALS)
    for_you = sum(
        1
        for o in outcomes
        if o.state is DeliveryState.HELD and o.held_for != policy.HELD_FOR_CREDENTIALS
    )
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
    if refused:
        problems.append(
            f"{plural(refused, 'post')} held: the target's credentials were refused"
            " (`feedrelay status`)"
        )
    if for_you:
        problems.append(f"{plural(for_you, 'post')} held for you (`feedrelay status`)")
    line = f"{plural(len(results), 'feed')}: " + ", ".join(parts)
    click.echo(line + ("; " + ", ".join(problems) if problems else ""))
    note = _baseline_note(results)
    if note:
        click.echo(note)


def _baseline_note(results: Sequence[FeedResult], *, dry_run: bool = False) -> str:
    """What the first run of a feed did (or, in a dry run, what the first real run will
    do): record what the feed holds as a baseline, posting none of it; and how to post an
    entry now. Empty when no feed ran for the first time, or when one posts (backfill)."""
    first = [r for r in results if r.baseline and not r.error]
    if not first or any(r.queued or r.held for r in first):
        return ""
    which = f"feed {first[0].feed}" if len(first) == 1 else plural(len(first), "feed")
    table = f"[feeds.{first[0].feed}]" if len(first) == 1 else "its [feeds.NAME] table"
    if dry_run:
        done = (
            f"first run of {which}: the first real run records what the feed holds now"
            f" ({plural(sum(r.new for r in first), 'entry')}) as seen, as a baseline, and"
            " posts none of it; entries published after it are posted."
        )
    else:
        done = (
            f"first run of {which}: what is in the feed now was recorded as seen, as a"
            " baseline, and nothing of it was posted; entries published from now on will be."
        )
    return (
        f"{done} To post an older entry now: `feedrelay post URL`. To post the N newest"
        f" entries on the first run instead, put `backfill = N` in {table} before it."
    )


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


def _push_words(sub: PushSubscription | None) -> str:
    """A feed's WebSub state in words (``[web] public_url``)."""
    if sub is None:
        return "not looked for yet"
    if sub.state == "subscribed":
        return f"subscribed until {_when(sub.lease_until)}"
    if sub.state == "requested":
        return f"asked {_when(sub.requested_at)}, waiting for the hub"
    if sub.state == "refused":
        return f"refused: {sub.error}"
    if sub.state == "failing":
        return f"failing: {sub.error}; next try {_when(sub.next_attempt_at)}"
    if sub.state == "none":
        return "not offered (the feed names no hub)"
    return sub.state
