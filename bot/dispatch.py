"""Send what is due: claim, publish, record the outcome, reconcile unknown outcomes.

Each target is its own lane: one thread at a time per target (praw is not thread-safe, and
one adapter instance serves one lane), lanes side by side, so a slow or hung platform delays
only its own posts. What may go is decided by ``policy`` inside the store's claim.
"""

from __future__ import annotations

import inspect
import logging
import threading
import time
from collections.abc import Callable, Collection, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from adapters import spec
from adapters.base import Adapter, Metered, Reconciler, Resender
from bot import media, policy
from bot.config import Config, TargetSettings
from bot.errors import (
    CannotResendError,
    DuplicatePostError,
    FeedRelayError,
    ImageError,
    LookupIncompleteError,
    LookupRefusedError,
    PublishError,
)
from bot.failpoints import failpoint
from bot.http import DeadlineSession
from bot.model import (
    Clock,
    Decision,
    Delivery,
    DeliveryState,
    Image,
    Limits,
    MediaFile,
    Post,
    Published,
    Settlement,
    TargetState,
)
from bot.store import Store
from bot.targets import cost_of, rules_for

log = logging.getLogger(__name__)

AdapterFactory = Callable[[str, TargetSettings], Adapter]

# A lookup asks for posts made since a delivery was first tried, less this much: the
# platform's clock and ours may differ.
LOOKUP_MARGIN = timedelta(minutes=5)


@dataclass(frozen=True, kw_only=True)
class Outcome:
    """What one attempt did to one delivery. ``new``: a post went out that was not there."""

    delivery: Delivery
    state: DeliveryState
    published: Published | None = None
    error: str | None = None
    new: bool = False
    held_for: str | None = None  # held: why (``policy.HELD_FOR_CREDENTIALS``, ...)


class DryRunPublisher:
    """Stands in for every adapter under ``--dry-run``: records, never sends."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.sent: list[Post] = []

    def publish(self, post: Post, media: MediaFile | None = None) -> Published:
        self.sent.append(post)
        return Published(remote_id=f"dry-run-{len(self.sent)}", url="")

    def verify(self) -> str:
        return "dry run"

    def close(self) -> None:
        pass


class Dispatcher:
    """Sends due deliveries for the targets of one config, one lane per target."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Clock,
        open_adapter: Callable[[str], Adapter],
        worker: str,
        content_session: DeadlineSession,
        dry_run: bool = False,
        dead_runners: Callable[[], Collection[str]] = tuple,
        on_settled: Callable[[str], None] = lambda target: None,
    ) -> None:
        """``content_session`` downloads entries' images (``bot.http.make_content_session``:
        the address guard and the fetch deadline); ``on_settled(target)`` is called, in the
        lane's thread, once each attempt's outcome is recorded."""
        self.config = config
        self.store = store
        self.clock = clock
        self.worker = worker
        self.dry_run = dry_run
        self._dead_runners = dead_runners
        self._on_settled = on_settled
        self._open_adapter = open_adapter
        self._content_session = content_session
        self._adapters: dict[str, Adapter] = {}
        self._lanes: dict[str, threading.Lock] = {}
        self._guard = threading.Lock()
        self._images: dict[str, MediaFile | ImageError] = {}
        self._image_locks: dict[str, threading.Lock] = {}
        # Why each image URL failed, as logged: a reason is logged once per URL while this
        # dispatcher lives (a daemon's run), not at every delivery and every dispatch.
        self._image_failures_told: dict[str, str] = {}
        # What each target waits for, as logged at DEBUG (`run -v`): said when it changes.
        self._waits_told: dict[str, str] = {}
        # Requests to the platforms under way, by delivery id: what a stop waits for.
        self._in_flight: dict[int, str] = {}

    def in_flight(self) -> list[str]:
        """What is being sent or looked up on a platform now, in words ("the post to x:
        Title"). Safe to call from a signal handler: it takes no lock."""
        return list(self._in_flight.copy().values())

    def close(self) -> None:
        for adapter in self._adapters.values():
            adapter.close()
        self._adapters.clear()

    def dispatch_due(
        self,
        *,
        only: Collection[int] | None = None,
        targets: Sequence[str] | None = None,
        manual: bool = False,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> list[Outcome]:
        """Every lane with work, side by side; return what each attempt did."""
        now = self.clock()
        self.expire_claims()
        if targets is None:
            busy = self.store.targets_with_work(now)
            targets = [name for name in self.config.targets if name in busy]
        self._images.clear()  # an image is downloaded once per dispatch, for every target
        self._image_locks.clear()
        if len(targets) <= 1 or self.dry_run:
            outcomes: list[Outcome] = []
            for name in targets:
                outcomes += self.run_lane(name, only=only, manual=manual, should_stop=should_stop)
            return outcomes
        with ThreadPoolExecutor(len(targets), thread_name_prefix="lane") as pool:
            lanes = [
                pool.submit(self.run_lane, name, only=only, manual=manual, should_stop=should_stop)
                for name in targets
            ]
            return [outcome for lane in lanes for outcome in lane.result()]

    def run_lane(
        self,
        target: str,
        *,
        only: Collection[int] | None = None,
        manual: bool = False,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> list[Outcome]:
        """Send the target's due rows one by one until none may go now, and look up its
        unknown outcomes, a batch at a time between the posts and after them
        (``policy.lane_step`` decides the order). One thread at a time per target."""
        if target not in self.config.targets:
            return []  # removed from the config: its rows wait
        with self._lane(target):
            try:
                adapter = self._adapter(target)
            except FeedRelayError as error:
                log.error("target %s cannot be used: %s", target, error)
                return []
            rules = rules_for(self.config, target)
            # A runner that died mid-post: its claims are looked up, never re-sent.
            self.expire_claims()
            self._lift_stale_pause(target, rules)
            self._release_for_new_month(target, rules)
            unknown = self._to_look_up(target, adapter, only)
            looking = self._reconcile(target, adapter, rules, unknown)
            outcomes: list[Outcome] = []
            may_post, lookups_left, owed = True, len(unknown), 0
            while not should_stop():
                step = policy.lane_step(may_post=may_post, lookups_left=lookups_left, owed=owed)
                if step == "look up":
                    # A row the look-up queues for now (not found; one re-send) may go.
                    may_post = next(looking) or may_post
                    lookups_left, owed = lookups_left - 1, max(owed - 1, 0)
                    continue
                if step == "done":
                    break
                claimed = self.store.claim_due(
                    self.clock(),
                    target=target,
                    worker=self.worker,
                    lease=self.config.bot.claim_lease,
                    decide=self._decider(rules, manual),
                    only=only,
                )
                if not claimed:
                    may_post = False
                    continue
                outcomes.append(self._send(claimed[0], adapter, rules))
                owed = policy.LOOKUPS_AFTER_POST
            return outcomes

    def expire_claims(self) -> list[Delivery]:
        """Claims of runners known to be dead, or whose lease ran out, become ``unknown``."""
        return self.store.expire_claims(self.clock(), dead_runners=self._dead_runners())

    def _decider(
        self, rules: policy.TargetRules, manual: bool
    ) -> Callable[[Delivery, TargetState, bool], Decision]:
        def decide(delivery: Delivery, state: TargetState, link_posted: bool) -> Decision:
            now = self.clock()
            cost = cost_of(self.config, delivery.target, delivery.post)
            decision = policy.decide(
                delivery,
                state,
                rules,
                now,
                link_posted=link_posted,
                manual=manual or delivery.manual,
                cost=cost,
            )
            if decision.action == "send":
                sent = policy.record_send(state, rules, now, cost=cost)
                decision = replace(decision, target_state=sent)
                self._waits_told.pop(delivery.target, None)
            elif (
                decision.action == "wait"
                and self._waits_told.get(delivery.target) != decision.reason
            ):
                self._waits_told[delivery.target] = decision.reason
                log.debug("target %s waits: %s", delivery.target, decision.reason)
            return decision

        return decide

    def _release_for_new_month(self, target: str, rules: policy.TargetRules) -> None:
        now = self.clock()
        fresh = policy.new_budget_month(self.store.target_state(target), rules, now)
        if fresh is None:
            return
        self.store.save_target_state(fresh)
        released = self.store.release_held(now=now, target=target, held_for="budget")
        if released:
            log.info(
                "target %s: a new month; %d posts held for the budget go", target, len(released)
            )

    def lift_stale_pauses(self) -> list[str]:
        """At start-up and on reload: each target paused for refused credentials that have
        changed since is resumed, and the posts held for them go; posts held for
        credentials on a target no longer paused for them go too. The targets resumed."""
        resumed = []
        for name in self.config.targets:
            if self._lift_stale_pause(name, rules_for(self.config, name)):
                resumed.append(name)
            elif policy.release_held_for_pause(self.store.target_state(name)):
                self._release_for_credentials(name)
        return resumed

    def _lift_stale_pause(self, target: str, rules: policy.TargetRules) -> bool:
        state = self.store.target_state(target)
        if not policy.pause_lifted(state, rules):
            return False
        # Released first: a crash before the lift leaves them queued behind the pause,
        # which the next start lifts; the other way round they would stay held.
        released = self._release_for_credentials(target)
        self.store.save_target_state(policy.unpaused(state))
        log.info(
            "target %s: its credentials changed since they were refused; posting resumes"
            " (%d held %s)",
            target,
            len(released),
            "post goes" if len(released) == 1 else "posts go",
        )
        return True

    def _release_for_credentials(self, target: str) -> list[int]:
        return self.store.release_held(
            now=self.clock(), target=target, held_for=policy.HELD_FOR_CREDENTIALS, keep_due=True
        )

    # -- one attempt ---------------------------------------------------------------------
    def _send(self, delivery: Delivery, adapter: Adapter, rules: policy.TargetRules) -> Outcome:
        post = delivery.post
        resend = delivery.resend and not self.dry_run
        media_file = None if resend else self._media_for(delivery, adapter)
        if post.image is not None and media_file is None and not self.dry_run and not resend:
            post = replace(post, image=None)  # a broken image is not shown anywhere
        failpoint("after-claim")
        new = False
        what = delivery.title or delivery.link or delivery.entry_key
        self._in_flight[delivery.id] = f"the post to {delivery.target} ({what})"
        began = time.monotonic()
        try:
            published = self._resend(adapter, post) if resend else adapter.publish(post, media_file)
        except DuplicatePostError as error:
            found = self._find(adapter, delivery)
            settlement = policy.after_duplicate(found, error.message)
        except PublishError as error:
            settlement = policy.after_error(
                error,
                attempts=delivery.attempts,
                rules=rules,
                now=self.clock(),
                cost=cost_of(self.config, delivery.target, delivery.post),
                resend=resend,
            )
        except Exception as error:
            # A bug, not a platform answer: record it so that the row is not left in
            # 'sending', then let it surface with its traceback.
            self.store.settle(
                delivery,
                Settlement(
                    state=DeliveryState.UNKNOWN,
                    due_at=self.clock(),
                    error=f"unexpected {type(error).__name__} while sending; "
                    "checked before re-send",
                ),
                now=self.clock(),
            )
            raise
        else:
            failpoint("after-response")
            settlement = policy.after_publish(published)
            new = True
        finally:
            self._in_flight.pop(delivery.id, None)
        elapsed = time.monotonic() - began
        settlement = self._with_spent(settlement, adapter, rules)
        return self._settle(delivery, settlement, new=new, elapsed=elapsed)

    def _resend(self, adapter: Adapter, post: Post) -> Published:
        if not isinstance(adapter, Resender):
            raise CannotResendError("this platform cannot re-send a post as a checked duplicate")
        return adapter.resend(post)

    def _with_spent(
        self, settlement: Settlement, adapter: Adapter, rules: policy.TargetRules
    ) -> Settlement:
        """``settlement`` with what the adapter's other requests (lookups) cost."""
        spent = adapter.take_spent() if isinstance(adapter, Metered) else 0.0
        if not spent:
            return settlement
        month = policy.local_day(self.clock(), rules)[:7]
        return replace(settlement, spent=spent, spent_month=month)

    def _settle(
        self,
        delivery: Delivery,
        settlement: Settlement,
        *,
        new: bool = False,
        elapsed: float | None = None,
    ) -> Outcome:
        settlement = record_outcome(
            self.store, delivery, settlement, now=self.clock(), elapsed=elapsed
        )
        self._on_settled(delivery.target)
        published = settlement.published
        what = delivery.link or delivery.entry_key
        if self.dry_run:
            log.info("dry run: would post %s to %s", what, delivery.target)
        elif settlement.state is DeliveryState.POSTED:
            where = (published.url if published else "") or "(no link)"
            note = "" if new else f" ({settlement.error})"
            log.info("posted %s to %s: %s%s", what, delivery.target, where, note)
        else:
            when = f" (next at {settlement.due_at:%Y-%m-%d %H:%M} UTC)" if settlement.due_at else ""
            log.warning(
                "%s %s to %s: %s%s",
                settlement.state.value,
                what,
                delivery.target,
                settlement.error,
                when if settlement.state is DeliveryState.RETRY else "",
            )
        return Outcome(
            delivery=delivery,
            state=settlement.state,
            published=published,
            error=settlement.error,
            new=new,
            held_for=settlement.held_for,
        )

    # -- unknown outcomes ----------------------------------------------------------------
    def _to_look_up(
        self, target: str, adapter: Adapter, only: Collection[int] | None
    ) -> list[Delivery]:
        """The target's unknown outcomes to settle in this run (``policy.LOOKUPS_PER_RUN``
        at most, oldest first). None in a dry run: it asks no platform and changes nothing,
        so they stay ``unknown`` (and are listed as such); nor where the platform cannot
        tell: they wait for the operator."""
        if self.dry_run:
            return []
        platform = self.config.targets[target].platform
        if not isinstance(adapter, Reconciler) and not spec(platform).resend_is_safe:
            return []
        rows = self.store.to_reconcile(self.clock(), target=target, limit=policy.LOOKUPS_PER_RUN)
        return [row for row in rows if only is None or row.id in only]

    def _reconcile(
        self,
        target: str,
        adapter: Adapter,
        rules: policy.TargetRules,
        unknown: Sequence[Delivery],
    ) -> Iterator[bool]:
        """Look on the platform for posts whose outcome is unknown, before any re-send:
        one of ``unknown`` settled at each step, which says whether that row is queued to
        go now."""
        state = self.store.target_state(target)
        refused = policy.lookups_refused(state, self.clock())
        for delivery in unknown:
            now = self.clock()
            if isinstance(adapter, Reconciler) and refused is not None:
                # Learnt before: asking again would only be refused again.
                settlement = policy.after_refused_lookup(
                    delivery, refused=refused, rules=rules, now=now
                )
            elif isinstance(adapter, Reconciler):
                self._in_flight[delivery.id] = f"a look-up on {target}"
                try:
                    found = _find_existing(adapter, delivery)
                except LookupRefusedError as error:
                    refused = str(error)
                    log.warning(
                        "target %s: the platform will not show the account's posts (%s);"
                        " posts whose outcome is unknown wait for the operator%s",
                        target,
                        refused,
                        " after one re-send" if rules.resend_unknown else "",
                    )
                    settlement = replace(
                        policy.after_refused_lookup(
                            delivery, refused=refused, rules=rules, now=now
                        ),
                        lookups_refused=refused,
                        lookups_refused_at=now,
                    )
                except LookupIncompleteError as error:
                    # As far back as a lookup may read, and not found: only a person (or a
                    # re-send the platform refuses as a duplicate) can tell.
                    settlement = policy.after_refused_lookup(
                        delivery, refused=str(error), rules=rules, now=now
                    )
                except PublishError as error:
                    settlement = policy.after_failed_lookup(delivery, error, now=now)
                else:
                    settlement = policy.after_lookup(delivery, found, rules=rules, now=now)
                    if state.lookups_refused is not None:  # the platform answers now
                        settlement = replace(settlement, lookups_refused="")
                        state = replace(state, lookups_refused=None)
                finally:
                    self._in_flight.pop(delivery.id, None)
                settlement = self._with_spent(settlement, adapter, rules)
            else:
                # The platform refuses an identical re-send as a duplicate, which is
                # recorded as posted: sending again (after the backoff) is the check.
                settlement = policy.after_lookup(delivery, None, rules=rules, now=now)
            self._settle(delivery, settlement)
            yield settlement.state is DeliveryState.RETRY and (settlement.due_at or now) <= now

    def _find(self, adapter: Adapter, delivery: Delivery) -> Published | None:
        if not isinstance(adapter, Reconciler):
            return None
        if policy.lookups_refused(self.store.target_state(delivery.target), self.clock()):
            return None
        try:
            return _find_existing(adapter, delivery)
        except PublishError as error:
            log.info("cannot look up the existing post: %s", error)
            return None

    # -- adapters and media --------------------------------------------------------------
    def _lane(self, target: str) -> threading.Lock:
        with self._guard:
            return self._lanes.setdefault(target, threading.Lock())

    def _adapter(self, name: str) -> Adapter:
        if name not in self._adapters:
            self._adapters[name] = self._open_adapter(name)
        return self._adapters[name]

    def _download(self, image: Image) -> MediaFile | ImageError:
        """The image, or, where it asks for a larger size of a picture and that cannot be
        had, the picture as the feed gave it (``Image.fallback``); else why not."""
        failed = ImageError(f"no image address for {image.url!r}")
        for url in (image.url, image.fallback):
            if not url:
                continue
            try:
                return media.download_image(
                    self._content_session,
                    replace(image, url=url),
                    max_bytes=self.config.bot.max_image_bytes,
                )
            except ImageError as error:
                failed = error
                if url == image.url and image.fallback:
                    log.info("cannot get %s (%s); trying %s", url, error, image.fallback)
        return failed

    def _media_for(self, delivery: Delivery, adapter: Any) -> MediaFile | None:
        image = delivery.post.image
        if image is None or not adapter.limits.max_media or self.dry_run:
            return None
        with self._guard:
            downloading = self._image_locks.setdefault(image.url, threading.Lock())
        with downloading:  # lanes that want the same image wait for one download
            found = self._images.get(image.url)
            if found is None:
                found = self._download(image)
                self._images[image.url] = found
        if isinstance(found, ImageError):
            with self._guard:  # the reason first, once; lanes that follow refer to it
                if self._image_failures_told.get(image.url) == str(found):
                    log.info(
                        "posting %s to %s without its image (see above)",
                        delivery.link,
                        delivery.target,
                    )
                else:
                    self._image_failures_told[image.url] = str(found)
                    log.warning(
                        "posting %s to %s without its image: %s",
                        delivery.link,
                        delivery.target,
                        found,
                    )
            return None
        return replace(found, alt=image.alt)


def _find_existing(adapter: Reconciler, delivery: Delivery) -> Published | None:
    """The adapter's lookup, asking only for posts made since the delivery was first tried
    where the adapter takes ``since`` (a plugin written before it may not)."""
    if delivery.first_try_at is None or "since" not in _parameters(adapter.find_existing):
        return adapter.find_existing(delivery.post)
    since = delivery.first_try_at - LOOKUP_MARGIN
    return adapter.find_existing(delivery.post, since=since)  # type: ignore[call-arg]


def _parameters(function: Callable[..., Any]) -> Collection[str]:
    try:
        return inspect.signature(function).parameters
    except (TypeError, ValueError):
        return ()


def record_outcome(
    store: Store,
    delivery: Delivery,
    settlement: Settlement,
    *,
    now: datetime,
    elapsed: float | None = None,
) -> Settlement:
    """Record how an attempt on ``delivery`` ended; return what the store now holds for it.

    If the claim was taken over meanwhile (its lease ran out while the platform was slow),
    the outcome is reconciled with the row as it is now (``policy.settle_late``), never
    dropped: a post that went out is recorded.
    """
    if store.settle(delivery, settlement, now=now, elapsed=elapsed):
        return settlement
    for _ in range(3):  # the row may change between the read and the write: look again
        current = store.get(delivery.id)
        if current is None:
            break
        late = policy.settle_late(current, settlement)
        if late is None:
            log.warning(
                "delivery %d to %s was taken over by another runner; it is %s there, and this"
                " attempt's outcome (%s) adds nothing",
                delivery.id,
                delivery.target,
                current.state.value,
                settlement.state.value,
            )
            return _as_settlement(current)
        if store.settle(current, late, now=now):
            log.warning(
                "delivery %d to %s was taken over by another runner while this attempt was in"
                " flight; recorded %s: %s",
                delivery.id,
                delivery.target,
                late.state.value,
                late.error,
            )
            return late
    log.error(
        "delivery %d to %s: this attempt's outcome (%s) could not be recorded; see history",
        delivery.id,
        delivery.target,
        settlement.state.value,
    )
    return settlement


def _as_settlement(row: Delivery) -> Settlement:
    published = (
        Published(remote_id=row.remote_id or "", url=row.remote_url or "")
        if row.state is DeliveryState.POSTED
        else None
    )
    return Settlement(state=row.state, due_at=row.due_at, error=row.error, published=published)
