"""What a person does by hand: post one entry now, and settle deliveries and targets
(retry, skip, resolve, approve, pause, resume).

A manual post goes through the same outbox and the same claim as the daemon's, so it is
recorded like any other and never posted again on its own.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from urllib.parse import urlsplit

import requests

from bot import feeds, names, policy
from bot.config import Config
from bot.dispatch import Dispatcher, Outcome
from bot.errors import EntryNotFoundError, FeedError, OperatorError
from bot.feeds import pages
from bot.ingest import Poller, new_delivery
from bot.model import Clock, Delivery, DeliveryState, Entry, TargetState
from bot.routes import route
from bot.store import Store

log = logging.getLogger(__name__)

MANUAL_FEED = "(manual)"  # the feed of entries posted by hand from a page no feed lists
NOT_SENT = (
    DeliveryState.QUEUED,
    DeliveryState.RETRY,
    DeliveryState.FAILED,
    DeliveryState.HELD,
    DeliveryState.SKIPPED,
)


@dataclass(frozen=True, kw_only=True)
class PostResult:
    """What ``post_now`` did for one target: the attempt's ``outcome``, or ``queued_at``
    (queued by hand for that time), or neither (``note`` says why). ``new``: a post went
    out that was not there."""

    target: str
    outcome: Outcome | None = None
    queued_at: datetime | None = None
    note: str = ""

    @property
    def new(self) -> bool:
        return self.outcome is not None and self.outcome.new


class Manual:
    """Posting and settling by hand, over one config and one store."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Clock,
        session: requests.Session,
        poller: Poller,
        dispatcher: Dispatcher,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.session = session
        self.poller = poller
        self.dispatcher = dispatcher

    # -- post now ------------------------------------------------------------------------
    def post_now(
        self,
        reference: str,
        *,
        targets: Sequence[str] = (),
        force: bool = False,
        at: datetime | None = None,
    ) -> list[PostResult]:
        """Post one entry (by link or id) to its feed's targets, or the named ones, now;
        or, ``at`` a later time, queue it for then (the target's schedule is waived, never
        a pause, a platform rate limit or the budget). A route's filters do not apply: a
        result whose entry they would have kept out says so in its ``note``."""
        named = list(dict.fromkeys(names.target(self.config.targets, n) for n in targets))
        entry_id, entry = self._find_entry(reference)
        if not named and entry.feed not in self.config.feeds:
            raise EntryNotFoundError(
                f"{entry.link} is on no configured feed's site: name the targets with --to"
            )
        chosen = named or list(self.config.feeds[entry.feed].targets)
        now = self.clock()
        results: list[PostResult] = []
        to_send: dict[int, str] = {}
        for name in chosen:
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
                    current.id, now=now, from_states=NOT_SENT, due_at=at, manual=True
                )
                to_send[current.id] = name
                continue
            repost = max((d.repost for d in existing), default=-1) + 1
            delivery = new_delivery(self.config, entry, name, now, repost=repost, by_hand=True)
            if delivery.state is DeliveryState.SKIPPED:
                results.append(PostResult(target=name, note=f"not posted: {delivery.error}"))
                continue
            delivery = replace(delivery, due_at=at or now, manual=True)
            delivery_id = self.store.queue(entry_id, delivery, now=now)
            if delivery_id is not None:
                to_send[delivery_id] = name
        overridden = {name: self._filtered(entry, name) for name in set(to_send.values())}
        if at is not None:
            when = f"queued for {at:%Y-%m-%d %H:%M} UTC"
            return results + [
                PostResult(target=n, queued_at=at, note=_joined(when, overridden[n]))
                for n in to_send.values()
            ]
        outcomes = {
            o.delivery.id: o
            for o in self.dispatcher.dispatch_due(
                only=to_send, targets=sorted(set(to_send.values())), manual=True
            )
        }
        for delivery_id, name in to_send.items():
            outcome = outcomes.get(delivery_id)
            note = ""
            if outcome is None:
                wait = self.dispatcher.store.target_state(name)
                note = "not sent now; it stays queued" + _why_waiting(wait, self.clock())
            results.append(
                PostResult(target=name, outcome=outcome, note=_joined(note, overridden[name]))
            )
        return results

    def _filtered(self, entry: Entry, target: str) -> str:
        """What a post by hand says where the route's filters would keep the entry out (""
        where they let it through)."""
        reason = policy.filtered(entry, route(self.config, entry.feed, target).filters)
        return f"a post by hand overrides the filter ({reason})" if reason else ""

    def _find_entry(self, reference: str) -> tuple[int, Entry]:
        """The entry by link or id: from the store, else from the feeds, else (a web page no
        feed lists, such as an old post) described from the page's own metadata."""
        link = feeds.normalise_link(reference)
        for stored in self.store.find_entries(link=link) or self.store.find_entries(key=reference):
            if stored.entry.feed in self.config.feeds or stored.entry.feed == MANUAL_FEED:
                return stored.id, stored.entry
        for name in self.config.feeds:
            state = self.store.feed_state(name)
            fetched = self.poller.fetch(name, None)
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

    # -- deliveries ----------------------------------------------------------------------
    def retry(self, delivery_id: int) -> Delivery:
        """Send a delivery again now (failed, unknown, held, skipped or waiting to retry).
        A delivery that a route's filters skipped goes too: the filter is overridden for it
        (``overrides``) and for no other."""
        delivery = self._delivery(delivery_id)
        if not self.store.requeue(
            delivery_id,
            now=self.clock(),
            from_states=[*NOT_SENT, DeliveryState.UNKNOWN],
        ):
            raise OperatorError(
                f"delivery {delivery_id} is {delivery.state.value}; "
                "only a delivery that has not gone out can be retried"
            )
        return self._delivery(delivery_id)

    def overrides(self, delivery_id: int) -> str | None:
        """The filter that ``retry`` of this delivery would override (its reason for being
        skipped), or ``None``."""
        delivery = self._delivery(delivery_id)
        filtered = delivery.state is DeliveryState.SKIPPED and policy.is_filtered(delivery.error)
        return delivery.error if filtered else None

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

    def approve(
        self, *, ids: Collection[int] = (), feed: str | None = None, target: str | None = None
    ) -> list[int]:
        """Release held deliveries (by id, or all of a feed's or a target's): they go out
        as the target's schedule allows."""
        if feed is not None:
            feed = names.feed(self.config.feeds, feed)
        if target is not None:
            target = self._target(target)
        for delivery_id in ids:
            delivery = self._delivery(delivery_id)
            if delivery.state is not DeliveryState.HELD:
                raise OperatorError(f"delivery {delivery_id} is {delivery.state.value}, not held")
            if delivery.held_for == policy.UNKNOWN_HOLD:
                raise OperatorError(
                    f"delivery {delivery_id} may already be on the platform: look, then run"
                    f" `feedrelay resolve {delivery_id} --url URL` if it is there, or"
                    f" `feedrelay retry {delivery_id}` if it is not"
                )
        return self.store.release_held(
            now=self.clock(), feed=feed, target=target, ids=list(ids) if ids else None
        )

    def _delivery(self, delivery_id: int) -> Delivery:
        delivery = self.store.get(delivery_id)
        if delivery is None:
            raise OperatorError(f"no delivery {delivery_id}")
        return delivery

    # -- targets -------------------------------------------------------------------------
    def pause(self, target: str, *, until: datetime | None = None) -> TargetState:
        """Stop posting to a target (until a time, or until ``resume``)."""
        state = self.store.target_state(self._target(target))
        # The time is paused_until's: `status` shows it beside the reason, once.
        reason = "paused by the operator"
        paused = replace(state, paused_until=until, pause_reason=reason, pause_kind="operator")
        self.store.save_target_state(paused)
        return paused

    def resume(self, target: str) -> TargetState:
        """Lift a target's pause (refused credentials, or the operator's own); the posts
        held for refused credentials go too."""
        state = self.store.target_state(self._target(target))
        if state.pause_reason is None:
            raise OperatorError(f"target {state.target} is not paused")
        self.store.release_held(
            now=self.clock(),
            target=state.target,
            held_for=policy.HELD_FOR_CREDENTIALS,
            keep_due=True,
        )
        resumed = policy.unpaused(state)
        self.store.save_target_state(resumed)
        return resumed

    def _target(self, name: str) -> str:
        return names.target(self.config.targets, name)


def _joined(*notes: str) -> str:
    return "; ".join(note for note in notes if note)


def _why_waiting(state: TargetState, now: datetime) -> str:
    if state.paused_at(now):
        return f" ({state.pause_reason}; `feedrelay resume {state.target}` lifts it)"
    if state.rate_limited_until and state.rate_limited_until > now:
        return f" (rate limited until {state.rate_limited_until:%Y-%m-%d %H:%M} UTC)"
    return ""
