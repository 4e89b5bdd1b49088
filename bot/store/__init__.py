"""The store: the durable record of feeds, entries, deliveries, targets and runners.

``Store`` is the protocol the rest of FeedRelay uses (never SQL); ``open_store`` opens the
SQLAlchemy implementation. Every method is one transaction and raises
``bot.errors.StorageError`` when the database cannot be read or written.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol

from bot.model import (
    Delivery,
    DeliveryState,
    Entry,
    FeedState,
    Post,
    PushSubscription,
    Settlement,
    Tally,
    TargetState,
)
from bot.store.lock import instance_lock, lock_holder
from bot.store.sql import (
    POOL_SIZE,
    PUBLISH_BUCKETS,
    Decide,
    HeldCount,
    NewDelivery,
    NewEntry,
    Runner,
    SqlStore,
    StoredEntry,
    shown_url,
)
from bot.store.wake import Listening, Wake

__all__ = [
    "PUBLISH_BUCKETS",
    "Decide",
    "HeldCount",
    "Listening",
    "NewDelivery",
    "NewEntry",
    "Runner",
    "SqlStore",
    "Store",
    "StoredEntry",
    "Wake",
    "instance_lock",
    "lock_holder",
    "open_store",
    "shown_url",
]


class Store(Protocol):
    """What FeedRelay asks of its store. Each method raises ``StorageError``."""

    @property
    def shared(self) -> bool:
        """Several runners may use the store at once (PostgreSQL)."""
        ...

    def close(self) -> None: ...
    def listen_for_work(self, wake_lanes: Wake) -> Listening:
        """Until ``stop()``: ``wake_lanes(targets)`` whenever deliveries of those targets
        become due now in another process or this one (``None``: of any target). Only on a
        store that several runners share; else nothing is ever heard."""
        ...

    # feeds
    def feed_state(self, name: str) -> FeedState | None: ...
    def feed_states(self) -> dict[str, FeedState]: ...
    def save_feed_state(self, state: FeedState) -> None: ...
    def save_feed_states(self, states: Sequence[FeedState]) -> None:
        """Several feeds' states in one transaction (a cycle's unchanged feeds)."""
        ...

    def claim_feeds(
        self, feeds: dict[str, str], *, now: datetime, lease: timedelta, due_only: bool
    ) -> list[str]:
        """Of these feeds (name -> url), the ones this runner fetches now: on a shared store
        each is taken by one runner (``SKIP LOCKED``), its next check moved a lease ahead."""
        ...

    # entries
    def known_keys(self, feed: str, keys: Sequence[str]) -> set[str]: ...
    def entry_hashes(self, feed: str, keys: Sequence[str]) -> dict[str, str]: ...
    def refresh_unsent(
        self,
        entry: Entry,
        *,
        content_hash: str,
        posts: Mapping[str, Post],
        now: datetime,
        skipped: Mapping[str, str] | None = None,
    ) -> int:
        """An edited entry's new version, and its new post on deliveries never attempted;
        those of the targets in ``skipped`` become skipped, with that reason."""
        ...

    def record_poll(
        self, new: Sequence[NewEntry], *, seen_at: datetime, feed_state: FeedState
    ) -> list[int]:
        """A poll's new entries, their deliveries and the feed's state, in one transaction."""
        ...

    def newest_published(self, feed: str) -> datetime | None:
        """The latest publication date among the entries recorded for ``feed``."""
        ...

    def add_entry(
        self,
        entry: Entry,
        *,
        content_hash: str,
        seen_at: datetime,
        deliveries: Sequence[NewDelivery] = (),
    ) -> int: ...
    def find_entries(
        self, *, link: str | None = None, key: str | None = None
    ) -> list[StoredEntry]: ...

    # deliveries
    def queue(self, entry_id: int, delivery: NewDelivery, *, now: datetime) -> int | None:
        """A new delivery of a known entry; ``None`` if that (entry, target, repost) exists."""
        ...

    def deliveries_for(self, entry_id: int, target: str) -> list[Delivery]: ...
    def link_posted(self, target: str, link: str) -> bool: ...
    def targets_with_work(self, now: datetime) -> set[str]: ...
    def claim_due(
        self,
        now: datetime,
        *,
        target: str,
        worker: str,
        lease: timedelta,
        decide: Decide,
        only: Collection[int] | None = None,
        limit: int = 1,
    ) -> list[Delivery]:
        """Ask ``decide`` about the target's due rows and claim what may go, in one
        transaction, with a lease."""
        ...

    def expire_claims(self, now: datetime, *, dead_runners: Collection[str] = ()) -> list[Delivery]:
        """Claims whose lease ran out, or whose runner is one of ``dead_runners``, become
        ``unknown``; the dead runners are forgotten."""
        ...

    def to_reconcile(self, now: datetime, *, target: str, limit: int = 20) -> list[Delivery]: ...
    def settle(
        self,
        delivery: Delivery,
        settlement: Settlement,
        *,
        now: datetime,
        elapsed: float | None = None,
    ) -> bool:
        """An attempt's outcome and the target's new state, in one transaction; ``False``
        (nothing written) when the row is no longer as ``delivery`` says (its claim was
        taken over). ``elapsed``: the platform's answer time in seconds (metrics)."""
        ...

    def finish(
        self,
        delivery_id: int,
        state: DeliveryState,
        *,
        now: datetime,
        remote_id: str | None = None,
        remote_url: str | None = None,
        error: str | None = None,
    ) -> None: ...
    def requeue(
        self,
        delivery_id: int,
        *,
        now: datetime,
        from_states: Sequence[DeliveryState],
        reset_attempts: bool = True,
        due_at: datetime | None = None,
        manual: bool = False,
    ) -> bool: ...
    def release_held(
        self,
        *,
        now: datetime,
        feed: str | None = None,
        ids: Collection[int] | None = None,
        target: str | None = None,
        held_for: str | None = None,
        keep_due: bool = False,
    ) -> list[int]: ...
    def get(self, delivery_id: int) -> Delivery | None: ...
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
    ) -> list[Delivery]: ...
    def in_state(self, *states: DeliveryState, limit: int | None = None) -> list[Delivery]: ...
    def counts(self) -> dict[str, dict[str, int]]: ...
    def attention(self, *, limit: int) -> list[Delivery]: ...
    def held_counts(self) -> dict[str, dict[str, int]]: ...
    def held_by_reason(self) -> list[HeldCount]: ...
    def waiting(self, *, target: str, limit: int) -> list[Delivery]: ...
    def next_due(self) -> dict[str, datetime]: ...

    # targets
    def target_state(self, target: str) -> TargetState: ...
    def target_states(self) -> dict[str, TargetState]: ...
    def save_target_state(self, state: TargetState) -> None: ...

    # what platforms keep for a target between runs
    def remembered(self, target: str, key: str) -> str | None: ...
    def remember(self, target: str, key: str, *, old: str | None, new: str, now: datetime) -> bool:
        """Set ``key`` to ``new`` if it still is ``old`` (``None``: not set); ``False`` if
        another runner changed it first."""
        ...

    # runners
    def register_runner(self, runner: Runner) -> None: ...
    def heartbeat(self, runner_id: str, now: datetime, *, lease: timedelta) -> int:
        """The runner is alive; its claims in flight hold for ``lease`` from now."""
        ...

    def remove_runner(self, runner_id: str) -> None: ...
    def runners(self) -> list[Runner]: ...

    # running totals for the metrics (every outcome of a delivery is counted as it is
    # recorded, in the same transaction)
    def add_tallies(self, added: Sequence[Tally] = (), *, latest: Sequence[Tally] = ()) -> None:
        """Add ``added`` to their totals; ``latest``: keep the larger value."""
        ...

    def tallies(self) -> list[Tally]: ...
    def oldest_waiting(self) -> dict[str, datetime]:
        """Per target, when its oldest row still waiting was created."""
        ...

    # WebSub subscriptions, one per feed
    def push_subscriptions(self) -> dict[str, PushSubscription]: ...
    def push_subscription(
        self, *, feed: str | None = None, callback_id: str | None = None
    ) -> PushSubscription | None: ...
    def save_push_subscription(self, subscription: PushSubscription, *, over: int | None) -> bool:
        """Write over the stored version ``over`` (``None``: none yet); ``False`` when
        another change came first."""
        ...

    def delete_push_subscription(self, feed: str, *, over: int) -> bool: ...


def open_store(
    database: Path | str,
    *,
    dry_run: bool = False,
    read_only: bool = False,
    connections: int = POOL_SIZE,
) -> Store:
    """Open the store at ``database`` (a SQLite path, ``":memory:"``, or a PostgreSQL URL).

    ``dry_run``: whatever is done is rolled back at ``close``, and a store that does not
    exist is not created. ``read_only``: nothing is written, created or migrated; a SQLite
    store on a full disk can still be read. ``connections``: how many transactions may be
    open at once (a server's connections kept open).
    """
    return SqlStore.open(database, dry_run=dry_run, read_only=read_only, connections=connections)
