"""The composition root: ``make_app(config)`` builds an ``App`` over one config and one store.

``App`` is a thin facade that the daemon, the CLI and tests call; the work is done by
``ingest`` (polling), ``dispatch`` (sending), ``manual`` (by hand) and ``reports`` (reading),
and every decision by ``policy``.
"""

from __future__ import annotations

import logging
import os
import socket
from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import cast

import requests

from adapters import spec
from adapters.base import Adapter, LookupCheck, SelfCheck
from bot import feeds, reports, runners
from bot.config import Config, TargetSettings
from bot.dispatch import Dispatcher, DryRunPublisher, Outcome
from bot.errors import AuthError, FeedRelayError, PublishError, RateLimitedError
from bot.http import USER_AGENT, DeadlineSession, make_content_session
from bot.ingest import FeedResult, Poller
from bot.manual import Manual, PostResult
from bot.model import Clock, Delivery, DeliveryState, Entry, TargetState
from bot.netguard import AddressGuard
from bot.notify import AppriseSender, Notifier, Sender
from bot.push import Pusher
from bot.store import Runner, Store, open_store
from bot.targets import TargetMemory, describe_for, limits_for, options_for, render_for
from bot.text.render import Rendered

__all__ = [
    "App",
    "FeedCheck",
    "FeedResult",
    "Outcome",
    "PostResult",
    "TargetCheck",
    "describe_for",
    "limits_for",
    "make_app",
    "options_for",
]

log = logging.getLogger(__name__)

AdapterFactory = Callable[[str, TargetSettings], Adapter]

# A transaction may be open in each lane at once, and in the poll, the lease keeper, the
# notifications, WebSub and the web face beside them.
CONNECTIONS_BESIDE_LANES = 6


@dataclass(frozen=True, kw_only=True)
class TargetCheck:
    """What ``check --online`` found for one target: the account it posts as (when the
    credentials work), the error that stopped the check, and problems that would stop its
    posts. ``error`` and each problem say what to do (``fix`` for the error)."""

    platform: str
    account: str | None = None
    error: PublishError | None = None
    fix: str = ""
    problems: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()  # what does not stop posts, but matters

    @property
    def ok(self) -> bool:
        return self.error is None and not self.problems


@dataclass(frozen=True, kw_only=True)
class FeedCheck:
    """One feed fetched and read for ``check --online``; ``fix`` says what to do when it
    failed (for a web page: the feed it advertises)."""

    result: FeedResult
    fix: str = ""


def utc_now() -> datetime:
    return datetime.now(UTC)


def _apprise_sender(config: Config) -> Sender:
    return AppriseSender([url.get_secret_value() for url in config.notify.urls])


def make_app(
    config: Config,
    *,
    clock: Clock = utc_now,
    adapter_factory: AdapterFactory | None = None,
    dry_run: bool = False,
    session: requests.Session | None = None,
    content_session: DeadlineSession | None = None,
    notify_sender: Callable[[Config], Sender] | None = None,
    read_only: bool = False,
) -> App:
    """Open the store (under ``dry_run``, one whose changes are all rolled back at close;
    ``read_only`` for an app that only reads it) and return the app over it.
    ``notify_sender`` makes the sender of failure notifications from a config (default:
    Apprise over ``[notify] urls``).

    ``session`` fetches what the operator configured or named (feeds, ``post URL``'s
    page); ``content_session`` fetches URLs found in feed content (images), through the
    address guard (``bot.netguard``), by ``[bot] fetch_deadline``."""
    store = open_store(
        config.store,
        dry_run=dry_run,
        read_only=read_only,
        connections=len(config.targets) + CONNECTIONS_BESIDE_LANES,
    )
    return App(
        config,
        store,
        clock=clock,
        adapter_factory=adapter_factory,
        dry_run=dry_run,
        notify_sender=notify_sender,
        session=session
        or feeds.make_session(
            deadline=config.bot.fetch_deadline.total_seconds(),
            workers=config.bot.fetch_workers,
        ),
        content_session=content_session
        or make_content_session(
            user_agent=USER_AGENT,
            guard=AddressGuard(allow_private=config.bot.allow_private_images),
            deadline=config.bot.fetch_deadline.total_seconds(),
        ),
    )


class App:
    """FeedRelay's operations over one config and one store."""

    def __init__(
        self,
        config: Config,
        store: Store,
        *,
        clock: Clock,
        adapter_factory: AdapterFactory | None,
        dry_run: bool,
        session: requests.Session,
        content_session: DeadlineSession,
        notify_sender: Callable[[Config], Sender] | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.clock = clock
        self.dry_run = dry_run
        self.session = session
        self.content_session = content_session
        self.runner_id = runners.new_runner_id()
        self._scope = runners.process_scope()
        self._lease_keeper: runners.LeaseKeeper | None = None
        self._adapter_factory = adapter_factory or self._platform_adapter
        self.poller = Poller(
            config, store, clock=clock, session=session, content_session=content_session
        )
        self.dispatcher = Dispatcher(
            config,
            store,
            clock=clock,
            open_adapter=self._open_adapter,
            worker=self.runner_id,
            content_session=content_session,
            dry_run=dry_run,
            dead_runners=self.dead_runners,
            on_settled=lambda target: self._notify_about(f"target:{target}"),
        )
        self.manual = Manual(
            config,
            store,
            clock=clock,
            session=session,
            poller=self.poller,
            dispatcher=self.dispatcher,
        )
        self.push = Pusher(
            config, store, clock=clock, session=session, content_session=content_session
        )
        self._notify_sender = notify_sender or _apprise_sender
        self.notifier = self._make_notifier(config)

    def _make_notifier(self, config: Config) -> Notifier | None:
        if self.dry_run or not config.notify.urls:
            return None
        return Notifier(config, self.store, clock=self.clock, sender=self._notify_sender(config))

    def close(self) -> None:
        self.dispatcher.close()
        self.store.close()
        self.session.close()
        self.content_session.close()

    def __enter__(self) -> App:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _platform_adapter(self, name: str, target: TargetSettings) -> Adapter:
        """The platform's own adapter, keeping what it remembers in this store."""
        memory = TargetMemory(self.store, name, clock=self.clock)
        return spec(target.platform).open(name, target, memory=memory)

    def _open_adapter(self, name: str) -> Adapter:
        target = self.config.targets[name]
        if self.dry_run:
            return cast(Adapter, DryRunPublisher(limits_for(target.platform)))
        return self._adapter_factory(name, target)

    # -- this process as a runner ----------------------------------------------------------
    def dead_runners(self) -> list[str]:
        """Runners of this machine and pid namespace whose process is gone."""
        return runners.dead_runners(self.store.runners(), scope=self._scope, me=self.runner_id)

    def recover(self) -> int:
        """Claims of runners known to be dead, or whose lease ran out, become ``unknown``
        (looked up before any re-send). A live runner's claim is left alone: this runner
        starting is no reason to take it."""
        expired = self.dispatcher.expire_claims()
        if expired:
            log.warning(
                "%d deliveries were interrupted while sending; will check them", len(expired)
            )
        return len(expired)

    @contextmanager
    def running(self, mode: str) -> Iterator[None]:
        """While inside, this process is a registered runner of the store (``mode``:
        ``daemon``, ``once``, ``post``) whose claims in flight are renewed; it is forgotten
        at the end. Claims left by dead runners are recovered at the start. Nothing is
        registered in a dry run, whose store is thrown away."""
        if self.dry_run or self._lease_keeper is not None:
            yield
            return
        now = self.clock()
        self.store.register_runner(
            Runner(
                id=self.runner_id,
                pid=os.getpid(),
                host=socket.gethostname(),
                mode=mode,
                started_at=now,
                heartbeat_at=now,
                scope=self._scope,
            )
        )
        keeper = runners.LeaseKeeper(
            self.store, self.runner_id, clock=self.clock, lease=self.config.bot.claim_lease
        )
        self._lease_keeper = keeper
        keeper.start()
        try:
            self.recover()
            yield
        finally:
            keeper.stop()
            self._lease_keeper = None
            self.store.remove_runner(self.runner_id)

    def start_polling(self) -> None:
        """Before a run: bring feeds whose next check lies beyond one interval back to it,
        and resume targets paused for credentials that have changed since (their held
        posts go)."""
        self.poller.pull_back_next_checks()
        self.dispatcher.lift_stale_pauses()

    def reload(self, config: Config) -> None:
        """Use a new (validated) config from now on: same store, new adapters."""
        self.dispatcher.close()
        self.config = config
        self.poller.config = config
        self.dispatcher.config = config
        self.manual.config = config
        self.push.config = config
        self.notifier = self._make_notifier(config)
        self.poller.pull_back_next_checks()
        self.dispatcher.lift_stale_pauses()

    # -- the pipeline ----------------------------------------------------------------------
    def poll_due_feeds(
        self,
        *,
        everything: bool = False,
        now_too: Collection[str] = (),
        on_result: Callable[[FeedResult, int, int], None] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> list[FeedResult]:
        """Poll what is due (and ``now_too``, due or not); ``on_result(result, done,
        total)`` after each feed; no new fetch starts once ``should_stop`` says so. A feed
        that starts failing, or recovers, is notified as soon as its poll is recorded."""

        def recorded(result: FeedResult, done: int, total: int) -> None:
            self._notify_about(f"feed:{result.feed}")
            if on_result is not None:
                on_result(result, done, total)

        return self.poller.poll_due_feeds(
            everything=everything, now_too=now_too, on_result=recorded, should_stop=should_stop
        )

    def in_flight(self) -> list[str]:
        """What a stop would wait for, in words: posts and look-ups under way on the
        platforms, and feed fetches. Safe to call from a signal handler."""
        fetching = self.poller.fetching()
        feeds_now = [f"{fetching} feed fetch{'es' if fetching > 1 else ''}"] if fetching else []
        return self.dispatcher.in_flight() + feeds_now

    def next_poll_at(self) -> datetime | None:
        """When a feed is next due to be polled; ``None`` when none will be."""
        return self.poller.next_poll_at()

    def dispatch_due(
        self,
        *,
        only: Collection[int] | None = None,
        targets: Sequence[str] | None = None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> list[Outcome]:
        return self.dispatcher.dispatch_due(only=only, targets=targets, should_stop=should_stop)

    def notify(self) -> list[str]:
        """Say what started failing or recovered since the last check (``[notify] urls``);
        the titles of the messages sent. Nothing under a dry run or without urls."""
        return self.notifier.check() if self.notifier is not None else []

    def _notify_about(self, key: str) -> None:
        """Right after a poll or a delivery is recorded: say whether that feed or target
        (``feed:NAME``, ``target:NAME``) started failing or recovered, so that a failure
        fixed before the next periodic check is told too. Never stops the work."""
        notifier = self.notifier
        if notifier is None:
            return
        try:
            notifier.check(only={key})
        except FeedRelayError as error:
            log.warning("notifications not checked, the next check tries again: %s", error)

    def run_lane(self, target: str, *, should_stop: Callable[[], bool]) -> list[Outcome]:
        return self.dispatcher.run_lane(target, should_stop=should_stop)

    def render(self, entry: Entry, target_name: str) -> Rendered:
        return render_for(self.config, entry, target_name)

    # -- by hand -------------------------------------------------------------------------
    def post_now(
        self,
        reference: str,
        *,
        targets: Sequence[str] = (),
        force: bool = False,
        at: datetime | None = None,
    ) -> list[PostResult]:
        with self.running("post"):
            return self.manual.post_now(reference, targets=targets, force=force, at=at)

    def retry(self, delivery_id: int) -> Delivery:
        return self.manual.retry(delivery_id)

    def overrides(self, delivery_id: int) -> str | None:
        """The filter ``retry(delivery_id)`` would override, or ``None``."""
        return self.manual.overrides(delivery_id)

    def skip(self, delivery_id: int) -> Delivery:
        return self.manual.skip(delivery_id)

    def resolve(self, delivery_id: int, *, url: str = "", remote_id: str = "") -> Delivery:
        return self.manual.resolve(delivery_id, url=url, remote_id=remote_id)

    def approve(
        self, *, ids: Collection[int] = (), feed: str | None = None, target: str | None = None
    ) -> list[int]:
        return self.manual.approve(ids=ids, feed=feed, target=target)

    def pause(self, target: str, *, until: datetime | None = None) -> TargetState:
        return self.manual.pause(target, until=until)

    def resume(self, target: str) -> TargetState:
        return self.manual.resume(target)

    # -- reading -------------------------------------------------------------------------
    def status(self) -> reports.Status:
        return reports.status(self.config, self.store, self.clock())

    def planned(self, rows: Sequence[Delivery]) -> dict[int, datetime | None]:
        """When the schedule will send each of ``rows`` it plans, by id (``schedule``'s
        ``planned_at``)."""
        return reports.planned_times(self.config, self.store, self.clock(), rows)

    def history(
        self,
        *,
        target: str | None = None,
        state: str | None = None,
        limit: int | None = None,
        since: datetime | None = None,
        feed: str | None = None,
        text: str | None = None,
        before: int | None = None,
    ) -> list[Delivery]:
        return self.store.history(
            target=target,
            state=state,
            limit=limit,
            since=since,
            feed=feed,
            text=text,
            before=before,
        )

    def pending(self, *, limit: int = 100) -> list[Delivery]:
        return self.store.in_state(
            DeliveryState.QUEUED,
            DeliveryState.RETRY,
            DeliveryState.UNKNOWN,
            DeliveryState.HELD,
            limit=limit,
        )

    def preview(self, feed: str | None = None, *, limit: int = 3) -> list[reports.PreviewItem]:
        return reports.preview(self.config, self.poller, feed, limit=limit)

    def check_targets(self) -> dict[str, TargetCheck]:
        """Log in to each target, name its account, and look for what would stop its posts
        (the adapter's ``SelfCheck``: an app that may only read, a community's rules). Posts
        nothing."""
        results: dict[str, TargetCheck] = {}
        for name, target in self.config.targets.items():
            account: str | None = None
            try:
                adapter = self._adapter_factory(name, target)
                try:
                    account = adapter.verify()
                    problems = adapter.problems() if isinstance(adapter, SelfCheck) else []
                    notes = _lookup_notes(adapter, target)
                finally:
                    adapter.close()
            except PublishError as error:
                results[name] = TargetCheck(
                    platform=target.platform,
                    account=account,
                    error=error,
                    fix=_fix_for(target.platform, error),
                )
                continue
            results[name] = TargetCheck(
                platform=target.platform,
                account=account,
                problems=tuple(problems),
                notes=tuple(notes),
            )
        return results

    def check_feeds(self) -> list[FeedCheck]:
        """Fetch and read every feed once (in a dry run nothing is recorded); for a feed that
        fails, look at its address as ``feedrelay init`` would, to say what to put there."""
        from bot.feeds.discover import discover_feed

        checks = []
        for result in self.poll_due_feeds(everything=True):
            fix = ""
            if result.error:
                url = self.config.feed_url(result.feed)
                where = f"[feeds.{result.feed}]"
                try:
                    found = discover_feed(url, session=self.session)
                except FeedRelayError:
                    fix = f"check url in {where}: open it in a browser; it should show the feed"
                else:
                    if found.url != url:
                        fix = f'set url = "{found.url}" in {where} ({found.how})'
                    else:
                        fix = "it reads now: it may have been down; run the check again"
            checks.append(FeedCheck(result=result, fix=fix))
        return checks


def _lookup_notes(adapter: Adapter, target: TargetSettings) -> list[str]:
    """What ``check --online`` says of a platform that will not show the account's posts."""
    if not isinstance(adapter, LookupCheck):
        return []
    refused = adapter.lookup_refusal()
    if refused is None:
        return []
    then = (
        "FeedRelay sends it once more (resend_unknown), then leaves it to you"
        if getattr(target, "resend_unknown", False)
        else "it waits for you (`feedrelay resolve ID --url URL` or `retry ID`), or set"
        " resend_unknown = true to have it sent once more"
    )
    return [
        f"cannot read posts ({refused}): when a post's outcome is unknown (a timeout, a 5xx),"
        f" FeedRelay cannot look it up; {then}"
    ]


def _fix_for(platform: str, error: PublishError) -> str:
    """What to do about an error that stopped ``check_targets``."""
    if isinstance(error, AuthError):
        if error.fix:
            return error.fix
        if spec(platform).auth is None:  # the platform has no `auth` command
            return "check the target's credentials in the environment"
        return (
            f"check the target's credentials in the environment; `feedrelay auth {platform}`"
            " makes new ones"
        )
    if isinstance(error, RateLimitedError):
        return (
            f"the platform is rate limiting: run the check again after {error.retry_at:%H:%M} UTC"
        )
    if error.retryable:
        return "could not reach the platform: check the network (and api_base), then try again"
    return "see the platform's reason above"
