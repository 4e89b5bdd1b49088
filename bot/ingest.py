"""Poll the feeds that are due, record their new entries and plan their deliveries.

Feeds are fetched side by side by a bounded pool of threads; a changed body is parsed by
the thread that fetched it, or, in a cycle with more than a few bodies to parse, by a pool
of worker processes (``bot.feeds.workers``: parsing holds the GIL). Each feed is recorded as
soon as it is parsed, in one transaction with its deliveries and its new state. What is
due, what is too old, what is a flood: ``policy`` decides.
"""

from __future__ import annotations

import hashlib
import logging
import random
import threading
from collections.abc import Callable, Collection, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlsplit

import requests

from bot import feeds, policy
from bot.config import Config
from bot.errors import FeedError
from bot.failpoints import failpoint
from bot.feeds.workers import Parsers, default_workers
from bot.model import Clock, DeliveryState, Entry, FeedState, Tally
from bot.routes import route
from bot.store import NewDelivery, NewEntry, Store
from bot.targets import render_for, rules_for
from bot.text.words import plural

log = logging.getLogger(__name__)

# A feed claimed by a runner on a shared store is another runner's to fetch again after
# this many fetch deadlines (its runner died mid-poll).
FEED_LEASE_FACTOR = 5
MAX_CATCH_UP_PAGES = 10  # Blogger's 25 a page: up to 275 entries missed in one poll


@dataclass(frozen=True, kw_only=True)
class FeedResult:
    """What one poll of one feed did."""

    feed: str
    new: int = 0
    queued: int = 0
    held: int = 0
    baseline: bool = False
    unchanged: bool = False
    not_modified: bool = False  # the server answered 304 Not Modified
    error: str | None = None
    warning: str | None = None

    @property
    def outcome(self) -> str:
        """How the poll went, as ``feedrelay_feed_polls_total`` counts it: ``error``,
        ``not_modified`` (304), ``new`` (new entries were recorded) or ``unchanged``."""
        if self.error:
            return "error"
        if self.not_modified:
            return "not_modified"
        return "new" if self.new else "unchanged"


def new_delivery(
    config: Config,
    entry: Entry,
    target_name: str,
    now: datetime,
    *,
    repost: int = 0,
    by_hand: bool = False,
) -> NewDelivery:
    """A delivery of ``entry`` to one target. Found by a poll, it is due after the target's
    delay and jitter, or held for approval where the target wants that; by hand, now (the
    caller marks it ``manual``). A post that must not go out (an empty entry, an entry the
    target cannot take: ``Rendered.skip_reason``) is ``skipped`` with that reason, and so is
    an entry that the route's filters keep out (``policy.filtered``), unless it is posted by
    hand. A skipped delivery keeps its post: ``retry`` can still send it."""
    rendered = render_for(config, entry, target_name)
    delivery = NewDelivery(
        target=target_name,
        platform=config.targets[target_name].platform,
        post=rendered.post,
        due_at=now,
        repost=repost,
    )
    filters = route(config, entry.feed, target_name).filters
    skip_reason = (None if by_hand else policy.filtered(entry, filters)) or rendered.skip_reason
    if skip_reason:
        return replace(delivery, state=DeliveryState.SKIPPED, error=skip_reason)
    if by_hand:
        return delivery
    rules = rules_for(config, target_name)
    due_at = policy.planned_at(
        first_seen_at=now, rules=rules, jitter_fraction=_fraction(entry, target_name)
    )
    if rules.approve:
        return replace(
            delivery,
            due_at=due_at,
            state=DeliveryState.HELD,
            held_for="approval",
            error=f"waits for approval: `feedrelay approve ID` or"
            f" `feedrelay approve --target {target_name} --all`",
        )
    return replace(delivery, due_at=due_at)


def _fraction(entry: Entry, target_name: str) -> float:
    """A number in [0, 1) fixed for one (entry, target): its share of the jitter."""
    digest = hashlib.sha256(f"{entry.feed}\0{entry.key}\0{target_name}".encode()).digest()
    return int.from_bytes(digest[:4], "big") / 2**32


class Poller:
    """Polls the feeds of one config into one store."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Clock,
        session: requests.Session,
        content_session: requests.Session,
    ) -> None:
        """``session`` fetches the configured feeds; ``content_session`` (the address guard,
        ``bot.http.make_content_session``) what only the feed's content names: a next page
        on another site."""
        self.config = config
        self.store = store
        self.clock = clock
        self.session = session
        self.content_session = content_session
        self._moved_reported: set[str] = set()
        self._fetching = 0  # fetches under way, for what a stop waits for
        self._fetching_lock = threading.Lock()

    def pull_back_next_checks(self) -> int:
        """At start-up: no healthy feed waits longer than its interval (it may have been
        shortened since the last check was planned). Returns how many moved."""
        now = self.clock()
        moved = []
        for name, state in self.store.feed_states().items():
            if name not in self.config.feeds or state.url != self.config.feed_url(name):
                continue
            earlier = policy.pulled_back(state, self.config.poll_interval(name), now)
            if earlier is not None:
                moved.append(replace(state, next_check_at=earlier))
        self.store.save_feed_states(moved)
        return len(moved)

    def next_poll_at(self) -> datetime | None:
        """When a configured feed is next due (``policy.next_poll_at``), from the store."""
        urls = {name: self.config.feed_url(name) for name in self.config.feeds}
        states: dict[str, FeedState | None] = dict(self.store.feed_states())
        return policy.next_poll_at(states, urls, self.clock())

    def due_feeds(
        self, *, everything: bool = False, now_too: Collection[str] = ()
    ) -> list[tuple[str, FeedState | None]]:
        """The feeds to fetch now: those due, every one but the gone with ``everything``,
        and those of ``now_too`` (a WebSub hub said they changed)."""
        now = self.clock()
        states = self.store.feed_states()
        due = []
        for name in self.config.feeds:
            state = states.get(name)
            url = self.config.feed_url(name)
            gone = state is not None and state.gone and state.url == url
            if ((everything or name in now_too) and not gone) or policy.feed_due(state, url, now):
                due.append((name, state))
        return due

    def poll_due_feeds(
        self,
        *,
        everything: bool = False,
        now_too: Collection[str] = (),
        on_result: Callable[[FeedResult, int, int], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> list[FeedResult]:
        """Fetch the feeds that are due (all but the gone ones with ``everything``; those
        of ``now_too`` due or not) and record each as soon as it arrives;
        ``on_result(result, done, total)`` is called in this thread after each feed is
        recorded (a progress display). Once ``should_stop`` says so, no other fetch starts:
        those under way are recorded, the rest wait for the next poll. How each poll went
        is added to the store's totals (the metrics)."""
        due = self.due_feeds(everything=everything, now_too=now_too)
        if self.store.shared:  # several daemons: each feed is fetched by one of them
            urls = {name: self.config.feed_url(name) for name, _ in due}
            lease = self.config.bot.fetch_deadline * FEED_LEASE_FACTOR
            taken = set(
                self.store.claim_feeds(urls, now=self.clock(), lease=lease, due_only=not everything)
            )
            due = [(name, state) for name, state in due if name in taken]
        results = []
        # Feeds that only were checked again (a 304, or the same body) are saved together
        # at the end: one transaction, not one a feed. A crash before it loses only the
        # times of those checks, and the next start checks those feeds again.
        checked_again: list[FeedState] = []
        workers = max(1, min(self.config.bot.fetch_workers, len(due)))
        parse_workers = self.config.bot.parse_workers
        with (
            Parsers(default_workers() if parse_workers is None else parse_workers) as parsers,
            ThreadPoolExecutor(max_workers=workers, thread_name_prefix="fetch") as pool,
        ):
            futures = {
                pool.submit(self._fetch_and_parse, name, state, parsers): (name, state)
                for name, state in due
            }
            for future in as_completed(futures):
                if future.cancelled():
                    continue
                # Dropped as it is recorded: 500 bodies and their entries held to the
                # end of the cycle would be the daemon's peak memory.
                name, state = futures.pop(future)
                fetched, parsed = future.result()
                results.append(
                    self._ingest(name, state, fetched, parsed, checked_again=checked_again)
                )
                if on_result is not None:
                    on_result(results[-1], len(results), len(due))
                if should_stop():
                    for waiting in futures:
                        waiting.cancel()  # the ones not started yet
        self.store.save_feed_states(checked_again)
        self._count(results)
        order = {name: index for index, (name, _) in enumerate(due)}
        return sorted(results, key=lambda result: order[result.feed])

    def _count(self, results: Sequence[FeedResult]) -> None:
        now = self.clock().timestamp()
        self.store.add_tallies(
            [Tally.of("feed_polls", feed=r.feed, result=r.outcome) for r in results],
            latest=[
                Tally.of("feed_last_success", now, feed=r.feed) for r in results if not r.error
            ],
        )

    def fetching(self) -> int:
        """How many feed fetches are under way now."""
        return self._fetching

    def fetch(self, name: str, state: FeedState | None) -> feeds.Fetched | FeedError:
        with self._fetching_lock:
            self._fetching += 1
        try:
            return self._fetch(name, state)
        finally:
            with self._fetching_lock:
                self._fetching -= 1

    def _fetch_and_parse(
        self, name: str, state: FeedState | None, parsers: Parsers
    ) -> tuple[feeds.Fetched | FeedError, feeds.ParsedFeed | FeedError | None]:
        """Fetch, and parse a body that is not the one last recorded (``None``: nothing
        to parse)."""
        fetched = self.fetch(name, state)
        if isinstance(fetched, FeedError) or not _changed(
            fetched, state, self.config.feed_url(name)
        ):
            return fetched, None
        try:
            return fetched, parsers.parse(name, fetched)
        except FeedError as error:
            return fetched, error

    def _fetch(self, name: str, state: FeedState | None) -> feeds.Fetched | FeedError:
        url = self.config.feed_url(name)
        same_url = state is not None and state.url == url
        if state is not None and same_url and state.moved_to:
            url = state.moved_to  # moved permanently: no redirect on every poll
        try:
            fetched = feeds.fetch(
                self.session,
                feed=name,
                url=url,
                etag=state.etag if state and same_url else None,
                last_modified=state.last_modified if state and same_url else None,
                max_bytes=self.config.bot.max_feed_bytes,
                now=self.clock(),
            )
        except FeedError as error:
            return error
        failpoint("mid-fetch")
        return fetched

    def _ingest(
        self,
        name: str,
        state: FeedState | None,
        fetched: feeds.Fetched | FeedError,
        parsed: feeds.ParsedFeed | FeedError | None = None,
        *,
        checked_again: list[FeedState] | None = None,
    ) -> FeedResult:
        """Record one feed's poll; ``parsed`` is its body parsed already, if it was. A feed
        found unchanged whose state changes only in its check's times and validators is
        added to ``checked_again`` for the caller to save, where it is given."""
        now = self.clock()
        url = self.config.feed_url(name)
        state = state or FeedState(name=name, url=url)
        if state.url != url:
            state = FeedState(name=name, url=url, baseline_done=state.baseline_done)
        if isinstance(fetched, FeedError):
            return self._failed(state, fetched, now)
        warning = None
        if fetched.moved_to:
            state = replace(state, moved_to=fetched.moved_to)
        if state.moved_to:
            warning = f"moved permanently to {state.moved_to}: put that url in the config"
            if state.moved_to not in self._moved_reported:
                self._moved_reported.add(state.moved_to)
                log.warning("feed %s has %s", name, warning)
        if not _changed(fetched, state, url):
            again = self._checked(state, fetched, now, warning=warning)
            if checked_again is not None and _only_times_differ(state, again):
                checked_again.append(again)
            else:
                self.store.save_feed_state(again)
            self._log_recovery(state)
            log.debug(
                "feed %s: unchanged%s; next check %s",
                name,
                " (304)" if fetched.body is None else "",
                _at(again.next_check_at),
            )
            return FeedResult(
                feed=name, unchanged=True, not_modified=fetched.body is None, warning=warning
            )
        if parsed is None:
            try:
                parsed = feeds.parse(name, fetched)
            except FeedError as error:
                parsed = error
        if isinstance(parsed, FeedError):
            return self._failed(state, parsed, now)
        if parsed.warning:
            warning = parsed.warning
            log.warning("feed %s: %s", name, warning)
        baseline = not state.baseline_done
        if not baseline:
            self._pick_up_edits(name, parsed.entries, now)
        entries = list(parsed.entries)
        new = _new_in_publication_order(entries, self.store)
        if not baseline and parsed.next_url and entries and len(new) >= len(entries):
            # Every entry of the page is new: more may be on the next pages (Blogger pages
            # 25 at a time), after a burst or a long downtime.
            entries += self._catch_up(name, parsed.next_url, entries, read_from=fetched.url)
            new = _new_in_publication_order(entries, self.store)
        settings = self.config.feeds[name]
        post_from = len(new) - settings.backfill if baseline else 0
        to_post = new[max(post_from, 0) :]
        fresh = [
            e
            for e in to_post
            if baseline or not policy.too_old(e.published_at, settings.max_age, now)
        ]
        newest_known = None if baseline else self.store.newest_published(name)
        redated = {
            e.key for e in fresh if policy.looks_redated(e.published_at, e.updated_at, newest_known)
        }
        flood = not baseline and policy.is_flood(len(redated), settings.max_new_per_poll)
        records = []
        for index, entry in enumerate(new):
            planned: list[NewDelivery] = []
            if index >= post_from:
                planned = self._plan(
                    entry,
                    now,
                    flood=flood and entry.key in redated,
                    new_count=len(redated),
                    baseline=baseline,
                )
            records.append(
                NewEntry(entry=entry, content_hash=feeds.content_hash(entry), deliveries=planned)
            )
        checked = self._checked(state, fetched, now, warning=warning, baseline_done=True)
        self.store.record_poll(records, seen_at=now, feed_state=checked)
        self._log_recovery(state)
        planned_rows = [d for r in records for d in r.deliveries]
        queued = sum(1 for d in planned_rows if d.state is DeliveryState.QUEUED)
        held = sum(1 for d in planned_rows if d.state is DeliveryState.HELD)
        if baseline:
            log.info(
                "feed %s: first poll, %d entries recorded as seen, %d deliveries queued"
                " (backfill %d)",
                name,
                len(new),
                queued,
                settings.backfill,
            )
        elif flood:
            log.warning(
                "feed %s: %d entries new by id but dated before what the feed had"
                " (max_new_per_poll = %d): held as a flood; `feedrelay approve --feed %s`"
                " posts them",
                name,
                len(redated),
                settings.max_new_per_poll,
                name,
            )
        elif new:
            log.info(
                "feed %s: %s, %s queued",
                name,
                plural(len(new), "new entry", "new entries"),
                plural(queued, "delivery"),
            )
        else:
            log.debug("feed %s: nothing new; next check %s", name, _at(checked.next_check_at))
        return FeedResult(
            feed=name, new=len(new), queued=queued, held=held, baseline=baseline, warning=warning
        )

    def _pick_up_edits(self, name: str, entries: Sequence[Entry], now: datetime) -> None:
        """Entries edited since they were seen: posts not sent yet take the edit (this is
        what a target's ``delay`` is for), and are skipped if a route's filter keeps the
        edited entry out. An edit never makes a new post."""
        hashes = self.store.entry_hashes(name, [e.key for e in entries])
        for entry in entries:
            known = hashes.get(entry.key)
            digest = feeds.content_hash(entry)
            if known is None or known == digest:
                continue
            targets = self.config.feeds[name].targets
            posts = {target: render_for(self.config, entry, target).post for target in targets}
            # An edit that a route's filter keeps out (a label "Sponsored" added during the
            # target's delay) is not sent; one that a filter now lets in stays as it was.
            filtered = {
                target: reason
                for target in targets
                if (reason := policy.filtered(entry, route(self.config, name, target).filters))
            }
            changed = self.store.refresh_unsent(
                entry, content_hash=digest, posts=posts, now=now, skipped=filtered
            )
            if changed:
                log.info("feed %s: %s was edited; its unsent posts take the edit", name, entry.link)

    def _catch_up(
        self, name: str, url: str | None, seen: list[Entry], *, read_from: str
    ) -> list[Entry]:
        """The entries of the feed's next pages, until a page holds one already known
        (or ``MAX_CATCH_UP_PAGES``); a page that fails ends the catch-up, not the poll.

        A next page on the feed's own site (the origin of its configured url, or of the
        address its first page was read from) is fetched as the feed is. One anywhere else
        is only named by the feed's content: it goes through the address guard, like an
        image (a feed cannot send FeedRelay into the operator's network), and one that is
        not a web address is not followed (a feed on the web cannot make FeedRelay read a
        file on this machine)."""
        own = {_origin(self.config.feed_url(name)), _origin(read_from)}
        more: list[Entry] = []
        for _ in range(MAX_CATCH_UP_PAGES):
            if url is None:
                break
            origin = _origin(url)
            if origin not in own and origin[0] not in ("http", "https"):
                log.warning("feed %s: not following its next page %s: not a web address", name, url)
                break
            session = self.session if origin in own else self.content_session
            try:
                fetched = feeds.fetch(
                    session,
                    feed=name,
                    url=url,
                    max_bytes=self.config.bot.max_feed_bytes,
                    now=self.clock(),
                )
                assert fetched.body is not None
                page = feeds.parse(name, fetched)
            except FeedError as error:
                log.warning("feed %s: catching up stopped at %s: %s", name, url, error)
                break
            keys = [e.key for e in page.entries]
            more += page.entries
            if not keys or self.store.known_keys(name, keys):
                break
            url = page.next_url
        if more:
            log.info("feed %s: caught up %d more entries from its next pages", name, len(more))
        return more

    def _plan(
        self, entry: Entry, now: datetime, *, flood: bool, new_count: int, baseline: bool
    ) -> list[NewDelivery]:
        """One delivery per target of the entry's feed: queued, skipped (nothing to post, a
        link the target posted before, or too old; a backfill asked for is never too old) or
        held (a flood)."""
        settings = self.config.feeds[entry.feed]
        planned = []
        for target_name in settings.targets:
            delivery = new_delivery(self.config, entry, target_name, now)
            if delivery.state is DeliveryState.SKIPPED:
                log.info(
                    "feed %s: %s skipped for %s: %s",
                    entry.feed,
                    entry.key,
                    target_name,
                    delivery.error,
                )
            elif self.store.link_posted(target_name, entry.link):
                delivery = replace(
                    delivery,
                    state=DeliveryState.SKIPPED,
                    error="this link was posted to this target before",
                )
            elif not baseline and policy.too_old(entry.published_at, settings.max_age, now):
                assert entry.published_at is not None
                delivery = replace(
                    delivery,
                    state=DeliveryState.SKIPPED,
                    error=f"published {entry.published_at:%Y-%m-%d}, older than max_age;"
                    " `feedrelay post` can still post it",
                )
            elif flood:
                delivery = replace(
                    delivery,
                    state=DeliveryState.HELD,
                    held_for="flood",
                    error=f"flood guard: {new_count} entries of feed {entry.feed} new by id"
                    " but dated before what it had, in one poll (max_new_per_poll ="
                    f" {settings.max_new_per_poll}); `feedrelay approve --feed {entry.feed}`"
                    " releases them",
                )
            planned.append(delivery)
        return planned

    def _log_recovery(self, before: FeedState) -> None:
        """Once, at the first good poll after failures (the count is reset by it)."""
        if before.error_count:
            log.info(
                "feed %s reads again after %d failed %s (the last: %s)",
                before.name,
                before.error_count,
                "poll" if before.error_count == 1 else "polls",
                (before.last_error or "").removeprefix(f"feed {before.name}: "),
            )

    def _failed(self, state: FeedState, error: FeedError, now: datetime) -> FeedResult:
        count = state.error_count + 1
        interval = self.config.poll_interval(state.name)
        next_check = policy.next_check_after_error(interval, count, now, retry_at=error.retry_at)
        self.store.save_feed_state(
            replace(
                state,
                last_error=error.reason,
                error_count=count,
                last_checked_at=now,
                next_check_at=next_check,
                gone=error.gone,
            )
        )
        if error.gone:
            log.error("%s: remove the feed from the config or give it its new url", error)
        else:
            log.warning("%s (next try %s)", error, next_check.isoformat(timespec="seconds"))
        return FeedResult(feed=state.name, error=error.reason)

    def _checked(
        self,
        state: FeedState,
        fetched: feeds.Fetched,
        now: datetime,
        *,
        warning: str | None,
        baseline_done: bool | None = None,
    ) -> FeedState:
        interval = self.config.poll_interval(state.name)
        return replace(
            state,
            etag=fetched.etag,
            last_modified=fetched.last_modified,
            body_hash=fetched.body_hash or state.body_hash,
            baseline_done=state.baseline_done if baseline_done is None else baseline_done,
            next_check_at=policy.next_check(interval, now, jitter=random.uniform(-1, 1)),
            last_checked_at=now,
            last_error=None,
            last_warning=warning,
            error_count=0,
            gone=False,
        )


def _changed(fetched: feeds.Fetched, state: FeedState | None, url: str) -> bool:
    """Whether the body is new to the store: not a 304, not the body last recorded for this
    url (the hash of one recorded for another url does not count)."""
    known = state.body_hash if state is not None and state.url == url else None
    return fetched.body is not None and fetched.body_hash != known


def _only_times_differ(before: FeedState, after: FeedState) -> bool:
    """Nothing a person or a notification sees changes: not an error, a warning, a move."""
    return after == replace(
        before,
        etag=after.etag,
        last_modified=after.last_modified,
        body_hash=after.body_hash,
        next_check_at=after.next_check_at,
        last_checked_at=after.last_checked_at,
    )


def _at(when: datetime | None) -> str:
    return when.isoformat(timespec="seconds") if when else "-"


def publication_order(entries: Sequence[Entry]) -> list[Entry]:
    """Oldest first. Dated entries by date; undated ones after them, assuming the feed lists
    newest first (as Blogger, WordPress and most generators do)."""
    dated = [(e.published_at, i, e) for i, e in enumerate(entries) if e.published_at]
    undated = [e for e in entries if not e.published_at]
    dated.sort(key=lambda item: (item[0], -item[1]))
    return [e for _, _, e in dated] + list(reversed(undated))


def _origin(url: str) -> tuple[str, str, int | None]:
    """``(scheme, host, port)`` of ``url``, the port filled in for http(s)."""
    parts = urlsplit(url)
    try:
        port = parts.port
    except ValueError:
        port = -1  # an unreadable port is nobody's origin
    default = {"http": 80, "https": 443}.get(parts.scheme)
    return parts.scheme, (parts.hostname or ""), port or default


def _new_in_publication_order(entries: Sequence[Entry], store: Store) -> list[Entry]:
    unique: dict[str, Entry] = {}
    for entry in entries:
        unique.setdefault(entry.key, entry)
    known = store.known_keys(next(iter(unique.values())).feed, list(unique)) if unique else set()
    return [e for e in publication_order(list(unique.values())) if e.key not in known]
