"""The composition root: ``make_app(config)`` builds an ``App`` that polls, queues and posts.

The store decides what is due; ``App`` methods are idempotent steps that the daemon, the CLI
and tests call: ``poll_due_feeds``, ``dispatch_due``, ``post_now``, ``history``, ``preview``.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import requests

from adapters import adapter_class, spec
from adapters.base import Adapter, Reconciler
from bot import feeds, media, pages
from bot.config import Config, TargetSettings
from bot.errors import (
    AuthError,
    DuplicatePostError,
    EntryNotFoundError,
    FeedError,
    FeedRelayError,
    OperatorError,
    OutcomeUnknownError,
    PublishError,
    RateLimitedError,
)
from bot.model import Delivery, DeliveryState, Entry, Limits, MediaFile, Post, Published
from bot.render import Rendered, Style, render
from bot.store import FeedState, NewDelivery, Store

log = logging.getLogger(__name__)

Clock = Callable[[], datetime]
AdapterFactory = Callable[[str, TargetSettings], Adapter]

MAX_ATTEMPTS = 8
RETRY_BACKOFF = (60, 300, 900, 3600, 3 * 3600, 6 * 3600)
FEED_BACKOFF_MAX = timedelta(hours=6)
FETCH_WORKERS = 4
AUTH_PAUSE = timedelta(hours=1)
GONE_RECHECK = timedelta(days=30)
MANUAL_FEED = "(manual)"  # the feed of entries posted by hand from a page no feed lists


def utc_now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, kw_only=True)
class FeedResult:
    """What one poll of one feed did."""

    feed: str
    new: int = 0
    queued: int = 0
    baseline: bool = False
    unchanged: bool = False
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What one dispatch attempt did to one delivery."""

    delivery: Delivery
    state: DeliveryState
    published: Published | None = None
    error: str | None = None


@dataclass(frozen=True, kw_only=True)
class PostResult:
    """What ``post_now`` did for one target."""

    target: str
    outcome: Outcome | None = None
    note: str = ""


@dataclass(frozen=True, kw_only=True)
class Status:
    counts: dict[str, dict[str, int]]
    attention: list[Delivery]
    feeds: dict[str, FeedState | None]


@dataclass(frozen=True, kw_only=True)
class PreviewItem:
    entry: Entry
    target: str
    platform: str
    rendered: Rendered


@dataclass
class _DryRunPublisher:
    """Stands in for every adapter under ``--dry-run``: records, never sends."""

    limits: Limits
    sent: list[Post] = field(default_factory=list)

    def publish(self, post: Post, media: MediaFile | None = None) -> Published:
        self.sent.append(post)
        return Published(remote_id=f"dry-run-{len(self.sent)}", url="")

    def verify(self) -> str:
        return "dry run"

    def close(self) -> None:
        pass


def style_for(target: TargetSettings) -> Style:
    """The rendering options of one configured target (from its platform's spec)."""
    return spec(target.platform).style(target)


def limits_for(platform: str) -> Limits:
    return spec(platform).limits


def _default_adapter(name: str, target: TargetSettings) -> Adapter:
    adapter: Adapter = adapter_class(target.platform)(target=name, **target.adapter_options())
    return adapter


def make_app(
    config: Config,
    *,
    clock: Clock = utc_now,
    adapter_factory: AdapterFactory = _default_adapter,
    dry_run: bool = False,
    session: requests.Session | None = None,
) -> App:
    """Open the store (an in-memory copy under ``dry_run``) and return the app over it."""
    opener = Store.open_copy if dry_run else Store.open
    store = opener(config.database_path)
    return App(
        config,
        store,
        clock=clock,
        adapter_factory=adapter_factory,
        dry_run=dry_run,
        session=session or feeds.make_session(),
    )


class App:
    """FeedRelay's operations over one config and one store."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Clock,
        adapter_factory: AdapterFactory,
        dry_run: bool,
        session: requests.Session,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.dry_run = dry_run
        self.session = session
        self._adapter_factory = adapter_factory
        self._adapters: dict[str, Any] = {}
        self._blocked_until: dict[str, datetime] = {}
        self._images: dict[str, MediaFile | media.ImageError] = {}
        self._moved_reported: set[str] = set()

    def close(self) -> None:
        for adapter in self._adapters.values():
            adapter.close()
        self._adapters.clear()
        self.store.close()
        self.session.close()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- start-up ------------------------------------------------------------------------
    def recover(self) -> int:
        """Rows left in ``sending`` by a crash become ``unknown`` (checked before re-send)."""
        count = self.store.sending_to_unknown(self.clock())
        if count:
            log.warning("%d deliveries were interrupted while sending; will check them", count)
        return count

    # -- polling -------------------------------------------------------------------------
    def poll_due_feeds(self, *, everything: bool = False) -> list[FeedResult]:
        """Fetch the feeds that are due (all with ``everything``), queue their new entries."""
        now = self.clock()
        due = []
        for name in self.config.feeds:
            state = self.store.feed_state(name)
            next_check = state.next_check_at if state else None
            moved = state is not None and state.url != self.config.feed_url(name)
            if everything or moved or next_check is None or next_check <= now:
                due.append((name, state))
        with ThreadPoolExecutor(max_workers=FETCH_WORKERS) as pool:
            fetched = list(pool.map(lambda item: self._fetch(*item), due))
        results = []
        for (name, state), outcome in zip(due, fetched, strict=True):
            results.append(self._ingest(name, state, outcome))
        return results

    def _fetch(self, name: str, state: FeedState | None) -> feeds.Fetched | FeedError:
        url = self.config.feed_url(name)
        same_url = state is not None and state.url == url
        try:
            return feeds.fetch(
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

    def _ingest(
        self, name: str, state: FeedState | None, fetched: feeds.Fetched | FeedError
    ) -> FeedResult:
        now = self.clock()
        url = self.config.feed_url(name)
        state = state or FeedState(name=name, url=url)
        if state.url != url:
            state = FeedState(name=name, url=url, baseline_done=state.baseline_done)
        if isinstance(fetched, FeedError):
            return self._feed_failed(state, fetched, now)
        if fetched.moved_to and fetched.moved_to not in self._moved_reported:
            self._moved_reported.add(fetched.moved_to)
            log.warning(
                "feed %s has moved permanently to %s: put that url in the config",
                name,
                fetched.moved_to,
            )
        if fetched.body is None or fetched.body_hash == state.body_hash:
            self._save_feed(state, fetched, now)
            return FeedResult(feed=name, unchanged=True)
        try:
            parsed = feeds.parse(name, fetched)
        except FeedError as error:
            return self._feed_failed(state, error, now)
        if parsed.problem:
            log.warning("feed %s is malformed (%s); keeping its entries", name, parsed.problem)
        baseline = not state.baseline_done
        new = _new_in_publication_order(parsed.entries, self.store)
        post_from = len(new) - self.config.feeds[name].backfill if baseline else 0
        queued = 0
        for index, entry in enumerate(new):
            planned = self._plan_deliveries(entry, now) if index >= post_from else []
            self.store.add_entry(
                entry, content_hash=feeds.content_hash(entry), seen_at=now, deliveries=planned
            )
            queued += sum(1 for p in planned if p.state is DeliveryState.QUEUED)
        self._save_feed(state, fetched, now, baseline_done=True)
        if baseline:
            log.info(
                "feed %s: first poll, %d entries recorded as seen, %d deliveries queued"
                " (backfill %d)",
                name,
                len(new),
                queued,
                self.config.feeds[name].backfill,
            )
        elif new:
            log.info("feed %s: %d new entries, %d deliveries queued", name, len(new), queued)
        return FeedResult(feed=name, new=len(new), queued=queued, baseline=baseline)

    def _plan_deliveries(self, entry: Entry, now: datetime) -> list[NewDelivery]:
        """One delivery per target of the entry's feed; a link the target has posted
        before (the same page under another entry) is recorded as skipped."""
        planned = []
        for target_name in self.config.feeds[entry.feed].targets:
            delivery = self._new_delivery(entry, target_name, now)
            if self.store.link_posted(target_name, entry.link):
                delivery = replace(
                    delivery,
                    state=DeliveryState.SKIPPED,
                    error="this link was posted to this target before",
                )
            planned.append(delivery)
        return planned

    def _new_delivery(
        self, entry: Entry, target_name: str, now: datetime, *, repost: int = 0
    ) -> NewDelivery:
        return NewDelivery(
            target=target_name,
            platform=self.config.targets[target_name].platform,
            post=self.render(entry, target_name).post,
            due_at=now,
            repost=repost,
        )

    def render(self, entry: Entry, target_name: str) -> Rendered:
        target = self.config.targets[target_name]
        return render(entry, style_for(target), limits_for(target.platform))

    def _feed_failed(self, state: FeedState, error: FeedError, now: datetime) -> FeedResult:
        count = state.error_count + 1
        interval = self.config.poll_interval(state.name)
        backoff = min(interval * (2 ** min(count - 1, 10)), max(FEED_BACKOFF_MAX, interval))
        next_check = error.retry_at or now + backoff
        if error.gone:
            # Polled again only when its url changes in the config (or a month on).
            next_check = now + GONE_RECHECK
        self.store.save_feed_state(
            FeedState(
                **{
                    **state.__dict__,
                    "last_error": str(error),
                    "error_count": count,
                    "last_checked_at": now,
                    "next_check_at": next_check,
                }
            )
        )
        if error.gone:
            log.error("%s: remove the feed from the config or give it its new url", error)
        else:
            log.warning("%s (next try %s)", error, next_check.isoformat(timespec="seconds"))
        return FeedResult(feed=state.name, error=str(error))

    def _save_feed(
        self,
        state: FeedState,
        fetched: feeds.Fetched,
        now: datetime,
        *,
        baseline_done: bool | None = None,
    ) -> None:
        interval = self.config.poll_interval(state.name)
        jitter = interval.total_seconds() * random.uniform(-0.1, 0.1)
        self.store.save_feed_state(
            FeedState(
                name=state.name,
                url=state.url,
                etag=fetched.etag,
                last_modified=fetched.last_modified,
                body_hash=fetched.body_hash or state.body_hash,
                baseline_done=state.baseline_done if baseline_done is None else baseline_done,
                next_check_at=now + interval + timedelta(seconds=jitter),
                last_checked_at=now,
                last_error=None,
                error_count=0,
            )
        )

    # -- dispatch ------------------------------------------------------------------------
    def dispatch_due(
        self,
        *,
        only: Iterable[int] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> list[Outcome]:
        """Send what is due, one delivery at a time, recording each outcome durably."""
        wanted = set(only) if only is not None else None
        self._reconcile_unknown(wanted)
        outcomes: list[Outcome] = []
        self._images.clear()  # each image is downloaded once per dispatch, for every target
        now = self.clock()
        for delivery in self.store.due(now, limit=1000):
            if should_stop():
                break
            if wanted is not None and delivery.id not in wanted:
                continue
            target = self.config.targets.get(delivery.target)
            if target is None:
                continue  # the target was removed from the config; its rows wait
            later = self._not_yet(delivery, target, manual=wanted is not None)
            if later is not None:
                self.store.postpone(delivery.id, later, now=self.clock())
                continue
            if delivery.repost == 0 and self.store.link_posted(delivery.target, delivery.link):
                # The same page reached this target through another entry (two feeds of
                # one blog, say) since this row was queued.
                self.store.finish(
                    delivery.id,
                    DeliveryState.SKIPPED,
                    now=self.clock(),
                    error="this link was posted to this target before",
                )
                continue
            outcome = self._send(delivery)
            if outcome is not None:
                outcomes.append(outcome)
        return outcomes

    def _not_yet(
        self, delivery: Delivery, target: TargetSettings, *, manual: bool
    ) -> datetime | None:
        now = self.clock()
        blocked = self._blocked_until.get(delivery.target)
        if blocked is not None and blocked > now:
            return blocked
        if manual or not target.min_interval:
            return None
        last = self.store.last_sent_at(delivery.target)
        if last is not None and last + target.min_interval > now:
            return last + target.min_interval
        return None

    def _send(self, delivery: Delivery) -> Outcome | None:
        try:
            adapter = self._adapter(delivery.target)
        except FeedRelayError as error:
            log.error("target %s cannot be used: %s", delivery.target, error)
            return None
        post = delivery.post
        media_file = self._media_for(delivery, adapter)
        if post.image is not None and media_file is None and not self.dry_run:
            post = replace(post, image=None)  # a broken image is not shown anywhere
        if not self.store.claim(delivery.id, self.clock()):
            return None  # another process took it
        attempts = delivery.attempts + 1
        try:
            published = adapter.publish(post, media_file)
        except DuplicatePostError as error:
            published = self._find(adapter, delivery.post) or Published(remote_id="", url="")
            return self._finish(
                delivery,
                DeliveryState.POSTED,
                published=published,
                error=f"already on the platform: {error.message}",
            )
        except RateLimitedError as error:
            self._blocked_until[delivery.target] = error.retry_at
            return self._finish(
                delivery, DeliveryState.RETRY, error=str(error), not_before_at=error.retry_at
            )
        except OutcomeUnknownError as error:
            return self._finish(delivery, DeliveryState.UNKNOWN, error=str(error))
        except AuthError as error:
            # Every post to this target would fail the same way: this one fails, the rest
            # wait an hour instead of failing one by one while the credentials are fixed.
            self._blocked_until[delivery.target] = self.clock() + AUTH_PAUSE
            return self._finish(delivery, DeliveryState.FAILED, error=str(error))
        except PublishError as error:
            if error.retryable and attempts < MAX_ATTEMPTS:
                delay = RETRY_BACKOFF[min(attempts - 1, len(RETRY_BACKOFF) - 1)]
                return self._finish(
                    delivery,
                    DeliveryState.RETRY,
                    error=str(error),
                    not_before_at=self.clock() + timedelta(seconds=delay),
                )
            reason = str(error)
            if error.retryable:
                reason = f"gave up after {attempts} attempts: {reason}"
            return self._finish(delivery, DeliveryState.FAILED, error=reason)
        except Exception as error:
            # A bug, not a platform answer: record it so that the row is not left in
            # 'sending' for the daemon's whole life, then let it surface with its traceback.
            self._finish(
                delivery,
                DeliveryState.UNKNOWN,
                error=f"unexpected {type(error).__name__} while sending; checked before re-send",
            )
            raise
        return self._finish(delivery, DeliveryState.POSTED, published=published)

    def _finish(
        self,
        delivery: Delivery,
        state: DeliveryState,
        *,
        published: Published | None = None,
        error: str | None = None,
        not_before_at: datetime | None = None,
    ) -> Outcome:
        self.store.finish(
            delivery.id,
            state,
            now=self.clock(),
            remote_id=published.remote_id if published else None,
            remote_url=published.url if published else None,
            error=error,
            not_before_at=not_before_at,
        )
        if self.dry_run:
            log.info("dry run: would post %s to %s", delivery.link, delivery.target)
        elif state is DeliveryState.POSTED:
            log.info(
                "posted %s to %s: %s",
                delivery.link or delivery.entry_key,
                delivery.target,
                (published.url if published else "") or "(no link)",
            )
        else:
            log.warning(
                "%s %s to %s: %s",
                state.value,
                delivery.link or delivery.entry_key,
                delivery.target,
                error,
            )
        return Outcome(delivery=delivery, state=state, published=published, error=error)

    def _reconcile_unknown(self, wanted: set[int] | None) -> None:
        """Look on the platform for posts whose outcome is unknown before sending again."""
        for delivery in self.store.in_state(DeliveryState.UNKNOWN):
            if wanted is not None and delivery.id not in wanted:
                continue
            if delivery.target not in self.config.targets:
                continue
            try:
                adapter = self._adapter(delivery.target)
            except FeedRelayError:
                continue
            now = self.clock()
            if isinstance(adapter, Reconciler):
                try:
                    found = adapter.find_existing(delivery.post)
                except PublishError as error:
                    log.warning(
                        "cannot check %s on %s yet: %s", delivery.link, delivery.target, error
                    )
                    continue
                if found is not None:
                    self.store.finish(
                        delivery.id,
                        DeliveryState.POSTED,
                        now=now,
                        remote_id=found.remote_id,
                        remote_url=found.url,
                        error="found on the platform after an unknown outcome",
                    )
                    log.info("found %s on %s: %s", delivery.link, delivery.target, found.url)
                else:
                    self.store.requeue(delivery.id, now=now, from_states=[DeliveryState.UNKNOWN])
                    log.info("%s is not on %s; sending it again", delivery.link, delivery.target)
            elif getattr(adapter, "resend_is_safe", False):
                # The platform refuses an identical re-send as a duplicate, which we record
                # as posted: sending again is how this platform is checked.
                self.store.requeue(delivery.id, now=now, from_states=[DeliveryState.UNKNOWN])

    def _find(self, adapter: Any, post: Post) -> Published | None:
        if not isinstance(adapter, Reconciler):
            return None
        try:
            return adapter.find_existing(post)
        except PublishError:
            return None

    def _adapter(self, name: str) -> Any:
        if name not in self._adapters:
            target = self.config.targets[name]
            if self.dry_run:
                self._adapters[name] = _DryRunPublisher(limits=limits_for(target.platform))
            else:
                self._adapters[name] = self._adapter_factory(name, target)
        return self._adapters[name]

    def _media_for(self, delivery: Delivery, adapter: Any) -> MediaFile | None:
        image = delivery.post.image
        if image is None or not adapter.limits.max_media or self.dry_run:
            return None
        if image.url not in self._images:
            try:
                self._images[image.url] = media.download_image(
                    self.session, image, max_bytes=self.config.bot.max_image_bytes
                )
            except media.ImageError as error:
                self._images[image.url] = error
        found = self._images[image.url]
        if isinstance(found, media.ImageError):
            log.warning(
                "posting %s to %s without its image: %s", delivery.link, delivery.target, found
            )
            return None
        return replace(found, alt=image.alt)

    # -- manual posting ------------------------------------------------------------------
    def post_now(
        self, reference: str, *, targets: Sequence[str] = (), force: bool = False
    ) -> list[PostResult]:
        """Post one entry (by link or id) to its feed's targets, or the named ones, now."""
        entry_id, entry = self._find_entry(reference)
        if not targets and entry.feed not in self.config.feeds:
            raise EntryNotFoundError(
                f"{entry.link} is on no configured feed's site: name the targets with --to"
            )
        names = list(targets) or list(self.config.feeds[entry.feed].targets)
        unknown = [n for n in names if n not in self.config.targets]
        if unknown:
            raise EntryNotFoundError(f"no target named {', '.join(map(repr, unknown))}")
        now = self.clock()
        results: list[PostResult] = []
        to_send: dict[int, str] = {}
        for name in names:
            existing = self.store.deliveries_for(entry_id, name)
            posted = [d for d in existing if d.state is DeliveryState.POSTED]
            if posted and not force:
                where = posted[-1].remote_url or posted[-1].remote_id or "(no link)"
                results.append(
                    PostResult(
                        target=name, note=f"already posted: {where} (use --force to post again)"
                    )
                )
                continue
            if not force and self.store.link_posted(name, entry.link):
                results.append(
                    PostResult(
                        target=name, note="this link was posted before (use --force to post again)"
                    )
                )
                continue
            pending = [d for d in existing if d.state is not DeliveryState.POSTED]
            if pending and not posted:
                current = pending[-1]
                if current.state in (DeliveryState.SENDING, DeliveryState.UNKNOWN):
                    results.append(
                        PostResult(
                            target=name,
                            note=f"delivery {current.id} is {current.state.value}; "
                            "resolve it first",
                        )
                    )
                    continue
                self.store.requeue(
                    current.id,
                    now=now,
                    from_states=[
                        DeliveryState.QUEUED,
                        DeliveryState.RETRY,
                        DeliveryState.FAILED,
                        DeliveryState.HELD,
                        DeliveryState.SKIPPED,
                    ],
                )
                to_send[current.id] = name
                continue
            repost = max((d.repost for d in existing), default=-1) + 1
            delivery_id = self.store.queue(
                entry_id, self._new_delivery(entry, name, now, repost=repost), now=now
            )
            if delivery_id is not None:
                to_send[delivery_id] = name
        outcomes = {o.delivery.id: o for o in self.dispatch_due(only=to_send)}
        for delivery_id, name in to_send.items():
            outcome = outcomes.get(delivery_id)
            note = "" if outcome else "not sent now (rate limited or spaced); it stays queued"
            results.append(PostResult(target=name, outcome=outcome, note=note))
        return results

    def _find_entry(self, reference: str) -> tuple[int, Entry]:
        """The entry by link or id: from the store, else from the feeds, else (a web page no
        feed lists, such as an old post) described from the page's own metadata."""
        link = feeds.normalise_link(reference)
        for stored in self.store.find_entries(link=link) or self.store.find_entries(key=reference):
            if stored.entry.feed in self.config.feeds or stored.entry.feed == MANUAL_FEED:
                return stored.id, stored.entry
        for name in self.config.feeds:
            state = self.store.feed_state(name)
            fetched = self._fetch(name, None)
            if isinstance(fetched, FeedError) or fetched.body is None:
                continue
            try:
                parsed = feeds.parse(name, fetched)
            except FeedError:
                continue
            for entry in parsed.entries:
                if reference in (entry.key, entry.link) or link == entry.link:
                    entry_id = self.store.add_entry(
                        entry, content_hash=feeds.content_hash(entry), seen_at=self.clock()
                    )
                    if state is None:
                        log.info(
                            "feed %s has not been polled yet; recorded only %s", name, entry.link
                        )
                    return entry_id, entry
        return self._describe_page(reference)

    def _describe_page(self, url: str) -> tuple[int, Entry]:
        final_url, body = pages.fetch_page(self.session, url)
        entry = pages.describe_page(self._feed_for_page(final_url), final_url, body)
        link = feeds.normalise_link(entry.link)
        for stored in self.store.find_entries(link=link):
            return stored.id, stored.entry
        entry = replace(entry, key=link, link=link)
        entry_id = self.store.add_entry(
            entry, content_hash=feeds.content_hash(entry), seen_at=self.clock()
        )
        log.info("described %s from the page itself (no feed lists it)", link)
        return entry_id, entry

    def _feed_for_page(self, url: str) -> str:
        """The configured feed on the page's site, else the pseudo-feed of manual posts."""
        host = urlsplit(url).hostname
        for name, feed in self.config.feeds.items():
            if host and urlsplit(feed.url).hostname == host:
                return name
        return MANUAL_FEED

    # -- operator actions ----------------------------------------------------------------
    def retry(self, delivery_id: int) -> Delivery:
        """Send a delivery again now (failed, unknown, held, skipped or waiting to retry)."""
        delivery = self._delivery(delivery_id)
        if not self.store.requeue(
            delivery_id,
            now=self.clock(),
            from_states=[
                DeliveryState.FAILED,
                DeliveryState.UNKNOWN,
                DeliveryState.HELD,
                DeliveryState.SKIPPED,
                DeliveryState.RETRY,
                DeliveryState.QUEUED,
            ],
        ):
            raise OperatorError(
                f"delivery {delivery_id} is {delivery.state.value}; "
                "only a delivery that has not gone out can be retried"
            )
        return self._delivery(delivery_id)

    def skip(self, delivery_id: int) -> Delivery:
        """Never send this delivery (it stays in the history as skipped)."""
        delivery = self._delivery(delivery_id)
        if delivery.state in (DeliveryState.POSTED, DeliveryState.SENDING):
            raise OperatorError(f"delivery {delivery_id} is {delivery.state.value}")
        self.store.finish(
            delivery_id, DeliveryState.SKIPPED, now=self.clock(), error="skipped by the operator"
        )
        return self._delivery(delivery_id)

    def resolve(self, delivery_id: int, *, url: str = "", remote_id: str = "") -> Delivery:
        """Record that this delivery is on the platform (checked by hand)."""
        delivery = self._delivery(delivery_id)
        if delivery.state is DeliveryState.POSTED:
            raise OperatorError(f"delivery {delivery_id} is posted already")
        self.store.finish(
            delivery_id,
            DeliveryState.POSTED,
            now=self.clock(),
            remote_id=remote_id,
            remote_url=url,
            error="marked as posted by the operator",
        )
        return self._delivery(delivery_id)

    def _delivery(self, delivery_id: int) -> Delivery:
        delivery = self.store.get(delivery_id)
        if delivery is None:
            raise OperatorError(f"no delivery {delivery_id}")
        return delivery

    def status(self) -> Status:
        """Counts per target and state, what needs attention, and failing feeds."""
        counts: dict[str, dict[str, int]] = {}
        attention = []
        for delivery in self.store.history():
            per_target = counts.setdefault(delivery.target, {})
            per_target[delivery.state.value] = per_target.get(delivery.state.value, 0) + 1
            if delivery.state in (
                DeliveryState.UNKNOWN,
                DeliveryState.FAILED,
                DeliveryState.RETRY,
                DeliveryState.HELD,
                DeliveryState.SENDING,
            ):
                attention.append(delivery)
        feed_states = {name: self.store.feed_state(name) for name in self.config.feeds}
        return Status(counts=counts, attention=attention, feeds=feed_states)

    # -- reading -------------------------------------------------------------------------
    def history(
        self, *, target: str | None = None, state: str | None = None, limit: int | None = None
    ) -> list[Delivery]:
        return self.store.history(target=target, state=state, limit=limit)

    def pending(self) -> list[Delivery]:
        return self.store.in_state(
            DeliveryState.QUEUED,
            DeliveryState.RETRY,
            DeliveryState.UNKNOWN,
            DeliveryState.HELD,
        )

    def preview(self, feed: str | None = None, *, limit: int = 3) -> list[PreviewItem]:
        """The latest entries of each feed (or one) rendered for each of its targets."""
        names = [feed] if feed else list(self.config.feeds)
        for name in names:
            if name not in self.config.feeds:
                raise EntryNotFoundError(f"no feed named {name!r}")
        items = []
        for name in names:
            fetched = self._fetch(name, None)
            if isinstance(fetched, FeedError):
                raise fetched
            assert fetched.body is not None
            entries = feeds.parse(name, fetched).entries
            latest = _publication_order(entries)[-limit:] if limit > 0 else []
            for entry in reversed(latest):
                for target_name in self.config.feeds[name].targets:
                    items.append(
                        PreviewItem(
                            entry=entry,
                            target=target_name,
                            platform=self.config.targets[target_name].platform,
                            rendered=self.render(entry, target_name),
                        )
                    )
        return items

    def verify_targets(self) -> dict[str, str | PublishError]:
        """Each target's account name, or the error its credentials gave."""
        results: dict[str, str | PublishError] = {}
        for name in self.config.targets:
            try:
                adapter = self._adapter_factory(name, self.config.targets[name])
                try:
                    results[name] = adapter.verify()
                finally:
                    adapter.close()
            except PublishError as error:
                results[name] = error
        return results


def _publication_order(entries: Sequence[Entry]) -> list[Entry]:
    """Oldest first. Dated entries by date; undated ones after them, assuming the feed lists
    newest first (as Blogger, WordPress and most generators do)."""
    dated = [(e.published_at, i, e) for i, e in enumerate(entries) if e.published_at]
    undated = [e for e in entries if not e.published_at]
    dated.sort(key=lambda item: (item[0], -item[1]))
    return [e for _, _, e in dated] + list(reversed(undated))


def _new_in_publication_order(entries: Sequence[Entry], store: Store) -> list[Entry]:
    unique: dict[str, Entry] = {}
    for entry in entries:
        unique.setdefault(entry.key, entry)
    known = store.known_keys(next(iter(unique.values())).feed, list(unique)) if unique else set()
    return [e for e in _publication_order(list(unique.values())) if e.key not in known]
