"""The store on SQLAlchemy Core: SQLite today, every statement one that PostgreSQL accepts.

The outbox holds one row per (entry, target, repost) under UNIQUE, so a double queue is
impossible. A row is claimed (``sending``, with a lease) in the same transaction that asks the
policy whether it may go, and is settled with its target's state in one transaction after.
"""

from __future__ import annotations

import functools
import json
import logging
import re
import sqlite3
import urllib.parse
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.errors import StorageError
from bot.model import (
    Decision,
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
from bot.store import wake
from bot.store.schema import (
    MIGRATIONS,
    SCHEMA_VERSION,
    UTCDateTime,
    deliveries,
    entries,
    feeds,
    platform_memory,
    push_subscriptions,
    runners,
    schema_version,
    tallies,
    target_state,
)

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 30_000
# Connections kept open to a server by a process that does not say how many it needs.
POOL_SIZE = 8
ATTENTION = (
    DeliveryState.UNKNOWN,
    DeliveryState.FAILED,
    DeliveryState.RETRY,
    DeliveryState.HELD,
    DeliveryState.SENDING,
)
# The fields of a Settlement that change the target's state.
TARGET_CHANGES = (
    "rate_limited_until",
    "pause_reason",
    "pause_kind",
    "paused_until",
    "credentials_hash",
    "lookups_refused",
    "lookups_refused_at",
)
Decide = Callable[[Delivery, TargetState, bool], Decision]
# A delivery reaching one of these states is an outcome, counted for the metrics
# (``deliveries`` tallies); queued and sending are steps on the way.
OUTCOMES = frozenset(
    {
        DeliveryState.POSTED,
        DeliveryState.RETRY,
        DeliveryState.FAILED,
        DeliveryState.UNKNOWN,
        DeliveryState.SKIPPED,
        DeliveryState.HELD,
    }
)
# The upper bounds (seconds) of the publish-time histogram's buckets.
PUBLISH_BUCKETS = (0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0)
WAITING = (
    DeliveryState.QUEUED,
    DeliveryState.RETRY,
    DeliveryState.HELD,
    DeliveryState.UNKNOWN,
)


@dataclass(frozen=True, kw_only=True)
class NewDelivery:
    """A delivery about to be queued."""

    target: str
    platform: str
    post: Post
    due_at: datetime
    state: DeliveryState = DeliveryState.QUEUED
    error: str | None = None
    repost: int = 0
    held_for: str | None = None
    manual: bool = False


@dataclass(frozen=True, kw_only=True)
class NewEntry:
    """An entry seen for the first time, with the deliveries planned for it."""

    entry: Entry
    content_hash: str
    deliveries: Sequence[NewDelivery] = ()


@dataclass(frozen=True, kw_only=True)
class StoredEntry:
    id: int
    entry: Entry


@dataclass(frozen=True, kw_only=True)
class HeldCount:
    """How many held rows of one feed and one target wait for one reason (``held_for``:
    ``None`` for rows held before reasons were recorded)."""

    held_for: str | None
    feed: str
    target: str
    count: int


@dataclass(frozen=True, kw_only=True)
class Runner:
    """A process that sends from the store (a daemon, a ``run --once``, a ``post``).

    ``scope`` names where its ``pid`` means something (the machine's boot and its pid
    namespace): a runner of the same scope whose process is gone is known to be dead.
    """

    id: str
    pid: int
    host: str
    mode: str
    started_at: datetime
    heartbeat_at: datetime
    scope: str | None = None


class SqlStore:
    """The durable record. Each method is one transaction.

    Every method raises ``StorageError`` when the database cannot be read or written.
    """

    def __init__(self, engine: Engine, *, rollback_at_close: bool = False) -> None:
        self.engine = engine
        # A dry run works inside one transaction that is rolled back at close: each method's
        # transaction is a savepoint in it, and nothing reaches the file.
        self._outer: Connection | None = None
        if rollback_at_close:
            self._outer = engine.connect()
            self._outer.begin()

    @property
    def shared(self) -> bool:
        """Several runners may use this store at once (PostgreSQL): no instance lock, and
        another runner's claim is only taken over when its lease has run out."""
        return self.engine.dialect.name == "postgresql"

    @classmethod
    def open(
        cls,
        path: Path | str,
        *,
        dry_run: bool = False,
        read_only: bool = False,
        connections: int = POOL_SIZE,
    ) -> SqlStore:
        """Open (creating and migrating) the store: a PostgreSQL URL, or the SQLite file at
        ``path`` (``":memory:"`` works).

        ``dry_run``: everything done through the store is rolled back at ``close``; a SQLite
        store that does not exist yet is not created (the dry run works on an empty one in
        memory).

        ``read_only``: for commands that only read (``status``, ``history``, ``schedule``):
        nothing is created, migrated or written (a store that needs migrating is an error
        that says so), and a SQLite store on a full disk can still be read.

        ``connections``: how many transactions this process may have open at once (a
        daemon: one per lane and a few more), the connections kept open to a server.
        """
        if is_server_url(str(path)):
            return cls._open_server(
                str(path), dry_run=dry_run, read_only=read_only, connections=connections
            )
        if read_only:
            return cls._open_sqlite_read_only(Path(path))
        memory = str(path) == ":memory:" or (dry_run and not Path(path).exists())
        try:
            if memory:
                engine = sa.create_engine(
                    "sqlite://",
                    poolclass=sa.pool.StaticPool,
                    connect_args={"check_same_thread": False},
                )
            else:
                Path(path).parent.mkdir(parents=True, exist_ok=True)
                options: dict[str, Any] = {}
                if dry_run:
                    options = {
                        "poolclass": sa.pool.StaticPool,
                        "connect_args": {"check_same_thread": False},
                    }
                engine = sa.create_engine(f"sqlite:///{path}", **options)
                sa.event.listen(engine, "connect", _sqlite_pragmas)
            sa.event.listen(engine, "connect", _sqlite_own_transactions)
            sa.event.listen(engine, "begin", _sqlite_begin)
            store = cls(engine, rollback_at_close=dry_run and not memory)
            store.migrate()
        except sa.exc.SQLAlchemyError as error:
            raise StorageError(f"cannot open the store {path}: {error}") from error
        return store

    @classmethod
    def _open_server(
        cls, url: str, *, dry_run: bool, read_only: bool = False, connections: int = POOL_SIZE
    ) -> SqlStore:
        driver = re.sub(r"^postgres(?:ql)?(?:\+\w+)?://", "postgresql+psycopg://", url)
        try:
            options: dict[str, Any] = {}
            if read_only:  # every transaction of the session: the server refuses a write
                options["connect_args"] = {"options": _read_only_options(driver)}
            # Every lane may be in a transaction at once: a pool smaller than that makes
            # the others wait, or open and close a connection (a server process) per post.
            engine = sa.create_engine(
                driver,
                pool_pre_ping=True,
                pool_size=max(connections, POOL_SIZE),
                max_overflow=POOL_SIZE,
                **options,
            )
            store = cls(engine, rollback_at_close=dry_run)
            if read_only:
                store._check_schema(shown_url(driver))
            else:
                store.migrate()
        except sa.exc.SQLAlchemyError as error:
            where = shown_url(driver)
            raise StorageError(f"cannot open the store {where}: {_reason(error)}") from None
        except ValueError:  # SQLAlchemy's int() of the port (bot.config checks it at load)
            where = shown_url(driver)
            raise StorageError(
                f"cannot open the store {where}: the URL's host or port is malformed"
            ) from None
        return store

    @classmethod
    def _open_sqlite_read_only(cls, path: Path) -> SqlStore:
        """The SQLite file for reading only (``mode=ro``: the file is opened read-only).

        A reader of a WAL database needs its shared-memory index (``-shm``), which SQLite
        makes and grows on first use: on a full disk it cannot, and the read fails. Then
        the file is read without it: through a read-only ``-shm`` (SQLite's
        ``readonly_shm``, which rebuilds the index in private memory, the WAL included), or,
        when there is no ``-shm`` and no ``-wal`` holds changes, as it is (``immutable``).
        """
        uri = "file:" + urllib.parse.quote(str(path.resolve())) + "?mode=ro"
        try:
            store = cls._read_only_sqlite(uri)
        except sa.exc.SQLAlchemyError as error:
            shm, wal = Path(f"{path}-shm"), Path(f"{path}-wal")
            if shm.exists():
                fallback = uri + "&readonly_shm=1"
            elif not wal.exists() or wal.stat().st_size == 0:
                fallback = uri + "&immutable=1"
            else:
                raise StorageError(f"cannot read the store {path}: {_reason(error)}") from error
            try:
                store = cls._read_only_sqlite(fallback)
            except sa.exc.SQLAlchemyError:
                raise StorageError(f"cannot read the store {path}: {_reason(error)}") from error
            log.info("read %s without its shared-memory index (%s)", path, _reason(error))
        try:
            store._check_schema(str(path))
        except StorageError:
            store.close()
            raise
        return store

    @classmethod
    def _read_only_sqlite(cls, uri: str) -> SqlStore:
        """A read-only engine on ``uri``, tried with a first read (what fails on a full
        disk); raises ``SQLAlchemyError``."""
        engine = sa.create_engine(
            "sqlite://",
            creator=lambda: sqlite3.connect(uri, uri=True, check_same_thread=False),
            poolclass=sa.pool.QueuePool,
        )
        sa.event.listen(engine, "connect", _sqlite_read_only_pragmas)
        sa.event.listen(engine, "connect", _sqlite_own_transactions)
        sa.event.listen(engine, "begin", _sqlite_begin)
        try:
            with engine.connect() as connection:
                connection.exec_driver_sql("SELECT count(*) FROM sqlite_master").scalar()
        except sa.exc.SQLAlchemyError:
            engine.dispose()
            raise
        return cls(engine)

    def _check_schema(self, where: str) -> None:
        """A store opened read-only is never migrated: one that would need it is an error."""
        with self._tx(write=False) as connection:
            version = None
            if sa.inspect(connection).has_table(schema_version.name):
                version = connection.execute(sa.select(schema_version.c.version)).scalar()
        if version is None:
            raise StorageError(
                f"the store {where} has no FeedRelay schema: nothing has run on it yet, or it"
                " is another program's database"
            )
        if version > SCHEMA_VERSION:
            raise StorageError(
                f"store schema {version} is newer than this FeedRelay ({SCHEMA_VERSION}):"
                " upgrade FeedRelay"
            )
        if version < SCHEMA_VERSION:
            raise StorageError(
                f"the store {where} has schema {version}, older than this FeedRelay's"
                f" ({SCHEMA_VERSION}): the daemon or `feedrelay run --once` upgrades it when it"
                " next starts; reading commands never change the store"
            )

    def listen_for_work(self, wake_lanes: wake.Wake) -> wake.Listening:
        """Until ``stop()``: ``wake_lanes(targets)`` whenever another runner, a command or
        this process commits deliveries of those targets that are due now (``None``: of
        any target, after listening was interrupted). On a shared store (PostgreSQL) a
        thread listens on a connection of its own; SQLite has one process, which wakes its
        own lanes, and a dry run sends nothing: nothing to hear then."""
        if not self.shared or self._outer is not None:
            return wake.NotListening()
        return wake.WorkListener(self._listener_connection, wake_lanes, say=_reason).start()

    def _listener_connection(self) -> Any:
        """A new autocommit psycopg connection, as the engine would open it."""
        import psycopg

        cargs, cparams = self.engine.dialect.create_connect_args(self.engine.url)
        cparams.pop("context", None)
        return psycopg.connect(
            *cargs, **cparams, autocommit=True, application_name="feedrelay listener"
        )

    def close(self) -> None:
        if self._outer is not None:
            self._outer.rollback()
            self._outer.close()
            self._outer = None
        self.engine.dispose()

    def migrate(self) -> None:
        with self._tx() as connection:
            if self.shared:
                # Daemons starting together: one migrates, the others wait for it.
                connection.execute(sa.text("SELECT pg_advisory_xact_lock(4242001)"))
            schema_version.create(connection, checkfirst=True)
            version = connection.execute(sa.select(schema_version.c.version)).scalar()
            if version is None:
                connection.execute(schema_version.insert().values(version=0))
                version = 0
            if version > SCHEMA_VERSION:
                raise StorageError(
                    f"store schema {version} is newer than this FeedRelay ({SCHEMA_VERSION}):"
                    " upgrade FeedRelay"
                )
            for step in MIGRATIONS[version:]:
                step(connection)
            if version != SCHEMA_VERSION:
                connection.execute(schema_version.update().values(version=SCHEMA_VERSION))

    @contextmanager
    def _tx(self, *, write: bool = True) -> Iterator[Connection]:
        try:
            if self._outer is not None:
                with self._outer.begin_nested():
                    wake.forget(self._outer)
                    yield self._outer
                    wake.announce(self._outer)  # rolled back with the dry run: never sent
                return
            with self.engine.connect() as connection:
                # SQLite: a writer takes the write lock at BEGIN, so two writers queue on
                # busy_timeout instead of one failing when it upgrades a read lock.
                connection.info["immediate"] = write
                with connection.begin():
                    wake.forget(connection)
                    yield connection
                    wake.announce(connection)
        except sa.exc.OperationalError as error:
            raise StorageError(f"the store failed: {_reason(error)}") from error

    # -- feeds ---------------------------------------------------------------------------
    def feed_state(self, name: str) -> FeedState | None:
        with self._tx(write=False) as c:
            row = c.execute(sa.select(feeds).where(feeds.c.name == name)).mappings().first()
        return FeedState(**row) if row else None

    def feed_states(self) -> dict[str, FeedState]:
        with self._tx(write=False) as c:
            rows = c.execute(sa.select(feeds)).mappings().all()
        return {row["name"]: FeedState(**row) for row in rows}

    def save_feed_state(self, state: FeedState) -> None:
        with self._tx() as c:
            _save_feed_state(c, state)

    def save_feed_states(self, states: Sequence[FeedState]) -> None:
        if not states:
            return
        with self._tx() as c:
            for state in states:
                _save_feed_state(c, state)

    def claim_feeds(
        self, feeds_to_poll: dict[str, str], *, now: datetime, lease: timedelta, due_only: bool
    ) -> list[str]:
        """Of these feeds (name -> url), the ones this runner fetches now. On a shared
        store each feed row is claimed by one runner (``FOR UPDATE SKIP LOCKED``) and its
        next check moved a lease ahead, so that several daemons spread the feeds instead of
        each fetching all of them; ``due_only`` takes only those whose next check has come.
        A single runner (SQLite) takes them all."""
        if not self.shared or not feeds_to_poll:
            return list(feeds_to_poll)
        from sqlalchemy.dialects.postgresql import insert

        names = list(feeds_to_poll)
        with self._tx() as c:
            for name, url in feeds_to_poll.items():
                c.execute(insert(feeds).values(name=name, url=url).on_conflict_do_nothing())
            condition: sa.ColumnElement[bool] = feeds.c.name.in_(names)
            if due_only:
                condition &= feeds.c.next_check_at.is_(None) | (feeds.c.next_check_at <= now)
            rows = c.execute(
                sa.select(feeds.c.name).where(condition).with_for_update(skip_locked=True)
            ).all()
            taken = [row[0] for row in rows]
            if taken:
                c.execute(
                    feeds.update().where(feeds.c.name.in_(taken)).values(next_check_at=now + lease)
                )
        return [name for name in names if name in taken]

    # -- entries -------------------------------------------------------------------------
    def known_keys(self, feed: str, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self._tx(write=False) as c:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                rows = c.execute(
                    sa.select(entries.c.entry_key).where(
                        entries.c.feed == feed, entries.c.entry_key.in_(chunk)
                    )
                )
                found.update(row[0] for row in rows)
        return found

    def entry_hashes(self, feed: str, keys: Sequence[str]) -> dict[str, str]:
        """The content hash of each of these entries that the store knows."""
        found: dict[str, str] = {}
        with self._tx(write=False) as c:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                rows = c.execute(
                    sa.select(entries.c.entry_key, entries.c.content_hash).where(
                        entries.c.feed == feed, entries.c.entry_key.in_(chunk)
                    )
                )
                found.update((row[0], row[1]) for row in rows)
        return found

    def refresh_unsent(
        self,
        entry: Entry,
        *,
        content_hash: str,
        posts: Mapping[str, Post],
        now: datetime,
        skipped: Mapping[str, str] | None = None,
    ) -> int:
        """An entry edited before its posts went out: record the new version, and give its
        deliveries that were never attempted the newly rendered post (by target); those of
        the targets in ``skipped`` become skipped with that reason (a route's filter keeps
        the edited entry out). Returns how many deliveries changed. A row tried once keeps
        its post: a retry sends the identical text."""
        with self._tx() as c:
            entry_id = c.execute(
                sa.select(entries.c.id).where(
                    entries.c.feed == entry.feed, entries.c.entry_key == entry.key
                )
            ).scalar()
            if entry_id is None:
                return 0
            c.execute(
                entries.update()
                .where(entries.c.id == entry_id)
                .values(
                    title=entry.title,
                    content_hash=content_hash,
                    published_at=entry.published_at,
                    data=json.dumps(entry.to_dict()),
                )
            )
            changed = 0
            for target, post in posts.items():
                values: dict[str, Any] = {"post": json.dumps(post.to_dict()), "updated_at": now}
                reason = (skipped or {}).get(target)
                if reason is not None:
                    values.update(state=DeliveryState.SKIPPED.value, error=reason, held_for=None)
                result = c.execute(
                    deliveries.update()
                    .where(
                        deliveries.c.entry_id == entry_id,
                        deliveries.c.target == target,
                        deliveries.c.attempts == 0,
                        deliveries.c.state.in_(
                            [DeliveryState.QUEUED.value, DeliveryState.HELD.value]
                        ),
                    )
                    .values(values)
                )
                changed += int(result.rowcount)
            return changed

    def record_poll(
        self, new: Sequence[NewEntry], *, seen_at: datetime, feed_state: FeedState
    ) -> list[int]:
        """Record a poll's new entries with their deliveries, and the feed's new state, in
        one transaction; return the entries' ids.

        An entry known already keeps its id and gets no new deliveries: seeing an entry and
        queueing it are one step, so a crash can never leave it seen but not queued.
        """
        with self._tx() as c:
            ids = [_add_entry(c, item, seen_at) for item in new]
            _save_feed_state(c, feed_state)
        return ids

    def newest_published(self, feed: str) -> datetime | None:
        """The latest publication date among the entries recorded for ``feed``."""
        with self._tx(write=False) as c:
            newest = c.execute(
                sa.select(sa.func.max(entries.c.published_at, type_=UTCDateTime)).where(
                    entries.c.feed == feed
                )
            ).scalar()
        return newest if isinstance(newest, datetime) else None

    def add_entry(
        self,
        entry: Entry,
        *,
        content_hash: str,
        seen_at: datetime,
        deliveries: Sequence[NewDelivery] = (),
    ) -> int:
        """Record one entry (and its deliveries) outside a poll; return its id."""
        item = NewEntry(entry=entry, content_hash=content_hash, deliveries=deliveries)
        with self._tx() as c:
            return _add_entry(c, item, seen_at)

    def find_entries(self, *, link: str | None = None, key: str | None = None) -> list[StoredEntry]:
        query = sa.select(entries.c.id, entries.c.data)
        if link is not None:
            query = query.where(entries.c.link == link)
        if key is not None:
            query = query.where(entries.c.entry_key == key)
        with self._tx(write=False) as c:
            rows = c.execute(query.order_by(entries.c.id)).all()
        return [StoredEntry(id=row.id, entry=Entry.from_dict(json.loads(row.data))) for row in rows]

    # -- deliveries ----------------------------------------------------------------------
    def queue(self, entry_id: int, delivery: NewDelivery, *, now: datetime) -> int | None:
        """Add a delivery for a known entry; ``None`` if that (entry, target, repost) exists."""
        with self._tx() as c:
            exists = c.execute(
                sa.select(deliveries.c.id).where(
                    deliveries.c.entry_id == entry_id,
                    deliveries.c.target == delivery.target,
                    deliveries.c.repost == delivery.repost,
                )
            ).scalar()
            if exists is not None:
                return None
            return _insert_delivery(c, entry_id, delivery, now)

    def deliveries_for(self, entry_id: int, target: str) -> list[Delivery]:
        """Every delivery of one entry to one target, the first first."""
        return self._deliveries(
            (deliveries.c.entry_id == entry_id) & (deliveries.c.target == target),
            order=(deliveries.c.repost,),
        )

    def link_posted(self, target: str, link: str) -> bool:
        """Has ``target`` already posted an entry with this canonical link?"""
        with self._tx(write=False) as c:
            return _link_posted(c, target, link)

    def due(self, now: datetime, *, limit: int = 100) -> list[Delivery]:
        """Rows ready to send, oldest due first (publication order within a feed)."""
        return self._deliveries(
            deliveries.c.state.in_([DeliveryState.QUEUED.value, DeliveryState.RETRY.value])
            & (deliveries.c.due_at <= now),
            limit=limit,
            order=(deliveries.c.due_at, deliveries.c.id),
        )

    def targets_with_work(self, now: datetime) -> set[str]:
        """Targets that have a row to send or to look up now, or one held for the budget
        (a new month may release it)."""
        due = deliveries.c.state.in_(
            [s.value for s in (DeliveryState.QUEUED, DeliveryState.RETRY, DeliveryState.UNKNOWN)]
        ) & (deliveries.c.due_at <= now)
        budget = (deliveries.c.state == DeliveryState.HELD.value) & (
            deliveries.c.held_for == "budget"
        )
        with self._tx(write=False) as c:
            rows = c.execute(sa.select(deliveries.c.target).where(due | budget).distinct())
            return {row[0] for row in rows}

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
        """Claim up to ``limit`` of ``target``'s due rows that the policy lets go now.

        In one transaction: read the target's state (locked), take its due rows in order
        (``SKIP LOCKED`` where the database has it), ask ``decide`` about each, and apply
        the answer: ``send`` claims the row (``sending``, ``claimed_by``, ``lease_until``,
        one more attempt) and records the send on the target; ``hold`` and ``skip`` settle
        the row; ``wait`` ends the claim with nothing changed.
        """
        query = _CLAIMABLE
        if only is not None:
            query = query.where(deliveries.c.id.in_(list(only)))
        claimed: list[Delivery] = []
        with self._tx() as c:
            state = _target_state(c, target, lock=True)
            # The ids of the rows that may be taken (locked on PostgreSQL), from an index,
            # then each row as it is considered, usually one: all of them read whole cost a
            # third of a claim's CPU, and a LIMIT over the join made SQLite read and sort
            # every due row of the target (25-60 ms a claim behind 10,000 queued rows).
            window = {"of_target": target, "now": now, "rows": limit + 20}
            for delivery_id in c.execute(query, window).scalars().all():
                row = c.execute(_DELIVERY, {"of_id": delivery_id}).mappings().one()
                delivery = _to_delivery(row)
                posted = delivery.repost == 0 and _link_posted(c, target, delivery.link)
                decision = decide(delivery, state, posted)
                if decision.action == "wait":
                    break
                if decision.action in ("hold", "skip"):
                    settled = (
                        DeliveryState.HELD if decision.action == "hold" else DeliveryState.SKIPPED
                    )
                    c.execute(
                        deliveries.update()
                        .where(deliveries.c.id == delivery.id)
                        .values(
                            state=settled.value,
                            error=decision.reason,
                            held_for=decision.held_for,
                            updated_at=now,
                        )
                    )
                    _count_outcome(c, delivery.target, delivery.platform, settled)
                    continue
                c.execute(
                    _CLAIM,
                    {"of_id": delivery.id, "worker": worker, "lease_end": now + lease, "now": now},
                )
                state = decision.target_state or _sent(state, now)
                _save_target_state(c, state)
                claimed.append(
                    replace(
                        delivery,
                        state=DeliveryState.SENDING,
                        attempts=delivery.attempts + 1,
                        claimed_by=worker,
                        lease_until=now + lease,
                        first_try_at=delivery.first_try_at or now,
                    )
                )
                if len(claimed) >= limit:
                    break
        return claimed

    def expire_claims(self, now: datetime, *, dead_runners: Collection[str] = ()) -> list[Delivery]:
        """Rows left ``sending`` by a runner that is gone: their lease ran out, or their
        runner is one of ``dead_runners`` (known to be dead). They become ``unknown``, to be
        looked up on the platform before any re-send. A live runner's claim is never taken
        over while its lease holds, whoever else starts."""
        condition = (deliveries.c.lease_until.is_(None)) | (deliveries.c.lease_until <= now)
        if dead_runners:
            condition |= deliveries.c.claimed_by.in_(list(dead_runners))
        condition &= deliveries.c.state == DeliveryState.SENDING.value
        with self._tx() as c:
            rows = c.execute(_delivery_query(condition)).mappings().all()
            expired = [_to_delivery(row) for row in rows]
            if expired:
                c.execute(
                    deliveries.update()
                    .where(deliveries.c.id.in_([d.id for d in expired]))
                    .values(
                        state=DeliveryState.UNKNOWN.value,
                        due_at=now,
                        claimed_by=None,
                        lease_until=None,
                        updated_at=now,
                        error="interrupted while sending; checking the platform before re-sending",
                    )
                )
                for delivery in expired:
                    _count_outcome(c, delivery.target, delivery.platform, DeliveryState.UNKNOWN)
                wake.due(c, {delivery.target for delivery in expired})  # to be looked up
            if dead_runners:
                c.execute(runners.delete().where(runners.c.id.in_(list(dead_runners))))
        return expired

    def to_reconcile(self, now: datetime, *, target: str, limit: int = 20) -> list[Delivery]:
        """``target``'s rows of unknown outcome whose look-up is due, oldest first."""
        return self._deliveries(
            (deliveries.c.target == target)
            & (deliveries.c.state == DeliveryState.UNKNOWN.value)
            & (deliveries.c.due_at <= now),
            limit=limit,
            order=(deliveries.c.due_at, deliveries.c.id),
        )

    def settle(
        self,
        delivery: Delivery,
        settlement: Settlement,
        *,
        now: datetime,
        elapsed: float | None = None,
    ) -> bool:
        """Record how an attempt (or a look-up) ended, and what the target learned, in one
        transaction. ``False`` if the row is no longer where ``delivery`` left it (another
        runner took over an expired claim): nothing is written then. ``elapsed``: how long
        the platform took to answer (seconds), for the metrics."""
        values: dict[str, Any] = {
            "state": settlement.state.value,
            "updated_at": now,
            "error": settlement.error,
            "claimed_by": None,
            "lease_until": None,
        }
        if settlement.due_at is not None:
            values["due_at"] = settlement.due_at
        if settlement.state is DeliveryState.HELD:
            values["held_for"] = settlement.held_for
        if settlement.resend is not None:
            values["resend"] = settlement.resend
        if settlement.state is DeliveryState.POSTED:
            published = settlement.published
            values.update(
                remote_id=published.remote_id if published else None,
                remote_url=published.url if published else None,
                sent_at=now,
            )
        where = {"of_id": delivery.id, "of_state": delivery.state.value}
        statement = _SETTLE
        if delivery.claimed_by is not None:
            statement = _SETTLE_CLAIMED
            where["of_worker"] = delivery.claimed_by
        if settlement.void_attempt:
            statement = statement.values(
                attempts=sa.case((deliveries.c.attempts > 0, deliveries.c.attempts - 1), else_=0)
            )
        with self._tx() as c:
            updated = c.execute(statement, {**values, **where})
            if updated.rowcount != 1:
                return False
            changes = {
                name: getattr(settlement, name)
                for name in TARGET_CHANGES
                if getattr(settlement, name) is not None
            }
            if changes or settlement.refund or settlement.spent:
                state = _target_state(c, delivery.target, lock=True)
                _save_target_state(c, _spend(_apply(state, changes), settlement))
            if settlement.lifts_pause:
                c.execute(
                    _LIFT_PAUSE,
                    {"of_target": delivery.target, "kinds": sorted(settlement.lifts_pause)},
                )
            # The totals last, after the target's row, in the order claim_due takes them:
            # two runners on PostgreSQL never wait on each other in a circle.
            counted = _outcome_tallies(delivery.target, delivery.platform, settlement.state)
            if elapsed is not None:
                counted += _publish_time(delivery.target, delivery.platform, elapsed)
            _add_tallies(c, counted)
        return True

    def finish(
        self,
        delivery_id: int,
        state: DeliveryState,
        *,
        now: datetime,
        remote_id: str | None = None,
        remote_url: str | None = None,
        error: str | None = None,
    ) -> None:
        """Set a row's final state by hand (``skip``, ``resolve``)."""
        values: dict[str, Any] = {
            "state": state.value,
            "updated_at": now,
            "error": error,
            "claimed_by": None,
            "lease_until": None,
        }
        if state is DeliveryState.POSTED:
            values.update(remote_id=remote_id, remote_url=remote_url, sent_at=now)
        with self._tx() as c:
            row = c.execute(
                sa.select(deliveries.c.target, deliveries.c.platform).where(
                    deliveries.c.id == delivery_id
                )
            ).first()
            c.execute(deliveries.update().where(deliveries.c.id == delivery_id).values(values))
            if row is not None:
                _count_outcome(c, row.target, row.platform, state)

    def requeue(
        self,
        delivery_id: int,
        *,
        now: datetime,
        from_states: Sequence[DeliveryState],
        reset_attempts: bool = True,
        due_at: datetime | None = None,
        manual: bool = False,
    ) -> bool:
        """Make a row due again (now, or at ``due_at``), if it is in one of ``from_states``;
        ``manual``: queued by hand for that time, the target's schedule waived."""
        values: dict[str, Any] = {
            "state": DeliveryState.QUEUED.value,
            "due_at": due_at or now,
            "updated_at": now,
            "error": None,
            "held_for": None,
            "manual": manual,
            "resend": False,
        }
        if reset_attempts:
            values["attempts"] = 0
        with self._tx() as c:
            result = c.execute(
                deliveries.update()
                .where(
                    deliveries.c.id == delivery_id,
                    deliveries.c.state.in_([s.value for s in from_states]),
                )
                .values(values)
            )
            if result.rowcount != 1:
                return False
            if values["due_at"] <= now and self.shared:
                target = c.execute(
                    sa.select(deliveries.c.target).where(deliveries.c.id == delivery_id)
                ).scalar_one()
                wake.due(c, [target])
            return True

    def release_held(
        self,
        *,
        now: datetime,
        feed: str | None = None,
        ids: Collection[int] | None = None,
        target: str | None = None,
        held_for: str | None = None,
        keep_due: bool = False,
    ) -> list[int]:
        """Held rows (of one feed or target, held for one reason, or by id) become due now
        (``keep_due``: at the time they were due before they were held, so that they go
        in their order among the others); return their ids. A row held because only a
        person can tell whether it went out (``unknown``) is released only by id, or when
        ``held_for`` names it."""
        condition = deliveries.c.state == DeliveryState.HELD.value
        if ids is not None:
            condition &= deliveries.c.id.in_(list(ids))
        elif held_for is None:
            condition &= sa.or_(deliveries.c.held_for.is_(None), deliveries.c.held_for != "unknown")
        if target is not None:
            condition &= deliveries.c.target == target
        if held_for is not None:
            condition &= deliveries.c.held_for == held_for
        if feed is not None:
            condition &= deliveries.c.entry_id.in_(
                sa.select(entries.c.id).where(entries.c.feed == feed)
            )
        with self._tx() as c:
            rows = c.execute(sa.select(deliveries.c.id, deliveries.c.target).where(condition))
            found, targets = [], set()
            for row in rows:
                found.append(row.id)
                targets.add(row.target)
            wake.due(c, targets)
            if found:
                c.execute(
                    deliveries.update()
                    .where(deliveries.c.id.in_(found))
                    .values(
                        state=DeliveryState.QUEUED.value,
                        due_at=deliveries.c.due_at if keep_due else now,
                        updated_at=now,
                        error=None,
                        held_for=None,
                    )
                )
        return found

    def get(self, delivery_id: int) -> Delivery | None:
        rows = self._deliveries(deliveries.c.id == delivery_id)
        return rows[0] if rows else None

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
        """Deliveries, newest first (an indexed query; ``limit`` bounds the memory);
        ``text``: in the entry's title or link (case-blind); ``before``: ids below this one
        (the next page)."""
        conditions = []
        if target is not None:
            conditions.append(deliveries.c.target == target)
        if state is not None:
            conditions.append(deliveries.c.state == state)
        if since is not None:
            conditions.append(deliveries.c.updated_at >= since)
        if before is not None:
            conditions.append(deliveries.c.id < before)
        if feed is not None or text:
            matching = sa.select(entries.c.id)
            if feed is not None:
                matching = matching.where(entries.c.feed == feed)
            if text:
                pattern = "%" + re.sub(r"([\\%_])", r"\\\1", text.lower()) + "%"
                matching = matching.where(
                    sa.func.lower(entries.c.title).like(pattern, escape="\\")
                    | sa.func.lower(entries.c.link).like(pattern, escape="\\")
                )
            conditions.append(deliveries.c.entry_id.in_(matching))
        condition = sa.and_(sa.true(), *conditions)
        return self._deliveries(condition, limit=limit, order=(deliveries.c.id.desc(),))

    def in_state(self, *states: DeliveryState, limit: int | None = None) -> list[Delivery]:
        return self._deliveries(
            deliveries.c.state.in_([s.value for s in states]),
            limit=limit,
            order=(deliveries.c.due_at, deliveries.c.id),
        )

    def counts(self) -> dict[str, dict[str, int]]:
        """How many deliveries each target has in each state (one aggregate query)."""
        with self._tx(write=False) as c:
            rows = c.execute(
                sa.select(deliveries.c.target, deliveries.c.state, sa.func.count()).group_by(
                    deliveries.c.target, deliveries.c.state
                )
            ).all()
        counts: dict[str, dict[str, int]] = {}
        for target, state, n in rows:
            counts.setdefault(target, {})[state] = int(n)
        return counts

    def held_counts(self) -> dict[str, dict[str, int]]:
        """Per target, how many held rows wait for each reason (approval, budget, flood)."""
        with self._tx(write=False) as c:
            rows = c.execute(
                sa.select(deliveries.c.target, deliveries.c.held_for, sa.func.count())
                .where(deliveries.c.state == DeliveryState.HELD.value)
                .group_by(deliveries.c.target, deliveries.c.held_for)
            ).all()
        counts: dict[str, dict[str, int]] = {}
        for target, held_for, n in rows:
            counts.setdefault(target, {})[held_for or "other"] = int(n)
        return counts

    def held_by_reason(self) -> list[HeldCount]:
        """Held rows counted by why they wait, feed and target (one aggregate query)."""
        with self._tx(write=False) as c:
            rows = c.execute(
                sa.select(
                    deliveries.c.held_for, entries.c.feed, deliveries.c.target, sa.func.count()
                )
                .join(entries, entries.c.id == deliveries.c.entry_id)
                .where(deliveries.c.state == DeliveryState.HELD.value)
                .group_by(deliveries.c.held_for, entries.c.feed, deliveries.c.target)
                .order_by(entries.c.feed, deliveries.c.target)
            ).all()
        return [
            HeldCount(held_for=held_for, feed=feed, target=target, count=int(n))
            for held_for, feed, target, n in rows
        ]

    def waiting(self, *, target: str, limit: int) -> list[Delivery]:
        """A target's queued, retry and held rows, in the order they are due."""
        return self._deliveries(
            (deliveries.c.target == target)
            & deliveries.c.state.in_(
                [s.value for s in (DeliveryState.QUEUED, DeliveryState.RETRY, DeliveryState.HELD)]
            ),
            limit=limit,
            order=(deliveries.c.due_at, deliveries.c.id),
        )

    def attention(self, *, limit: int) -> list[Delivery]:
        """Rows that are not settled for good (failed, unknown, held, retry, sending),
        newest first, at most ``limit``."""
        return self._deliveries(
            deliveries.c.state.in_([s.value for s in ATTENTION]),
            limit=limit,
            order=(deliveries.c.id.desc(),),
        )

    def next_due(self) -> dict[str, datetime]:
        """Per target, the earliest time one of its rows is due to be sent."""
        with self._tx(write=False) as c:
            rows = c.execute(
                sa.select(deliveries.c.target, sa.func.min(deliveries.c.due_at, type_=UTCDateTime))
                .where(
                    deliveries.c.state.in_([DeliveryState.QUEUED.value, DeliveryState.RETRY.value])
                )
                .group_by(deliveries.c.target)
            ).all()
        return {target: when for target, when in rows}

    def _deliveries(
        self,
        condition: Any,
        *,
        limit: int | None = None,
        order: tuple[Any, ...] = (deliveries.c.id,),
    ) -> list[Delivery]:
        if limit is None:
            query = _delivery_query(condition).order_by(*order)
        else:
            # The page's ids first, from an index alone, then only those rows: ORDER BY ...
            # LIMIT over the join made SQLite read and sort every matching row, posts and
            # all (status: 0.14 s for its attention rows; history --target 0.35 s,
            # --status posted 2.3 s at 1,000,000 deliveries).
            page = sa.select(deliveries.c.id).where(condition).order_by(*order).limit(limit)
            query = _delivery_query(deliveries.c.id.in_(page)).order_by(*order)
        with self._tx(write=False) as c:
            rows = c.execute(query).mappings().all()
        return [_to_delivery(row) for row in rows]

    # -- targets -------------------------------------------------------------------------
    def target_state(self, target: str) -> TargetState:
        with self._tx(write=False) as c:
            return _target_state(c, target)

    def target_states(self) -> dict[str, TargetState]:
        with self._tx(write=False) as c:
            rows = c.execute(sa.select(target_state)).mappings().all()
        return {row["target"]: TargetState(**row) for row in rows}

    def save_target_state(self, state: TargetState) -> None:
        """Save the target's state; one without a pause (a resume) lets its due rows go."""
        with self._tx() as c:
            _save_target_state(c, state)
            if state.pause_reason is None and state.paused_until is None:
                wake.due(c, [state.target])

    # -- what platforms keep -------------------------------------------------------------
    def remembered(self, target: str, key: str) -> str | None:
        with self._tx(write=False) as c:
            value = c.execute(
                sa.select(platform_memory.c.value).where(
                    (platform_memory.c.target == target) & (platform_memory.c.key == key)
                )
            ).scalar()
        return None if value is None else str(value)

    def remember(self, target: str, key: str, *, old: str | None, new: str, now: datetime) -> bool:
        """Set ``key`` to ``new`` if it still is ``old`` (``None``: not set), atomically;
        ``False`` (nothing written) if another runner changed it first."""
        where = (platform_memory.c.target == target) & (platform_memory.c.key == key)
        if old is None:
            try:
                with self._tx() as c:
                    c.execute(
                        platform_memory.insert().values(
                            target=target, key=key, value=new, updated_at=now
                        )
                    )
            except sa.exc.IntegrityError:
                return False  # another runner set it first
            return True
        with self._tx() as c:
            changed = c.execute(
                platform_memory.update()
                .where(where & (platform_memory.c.value == old))
                .values(value=new, updated_at=now)
            )
            return bool(changed.rowcount == 1)

    # -- runners -------------------------------------------------------------------------
    def register_runner(self, runner: Runner) -> None:
        with self._tx() as c:
            c.execute(runners.delete().where(runners.c.id == runner.id))
            c.execute(runners.insert().values(**runner.__dict__))

    def heartbeat(self, runner_id: str, now: datetime, *, lease: timedelta) -> int:
        """The runner is alive: its claims still ``sending`` hold for ``lease`` from now.
        Return how many claims were renewed."""
        with self._tx() as c:
            c.execute(runners.update().where(runners.c.id == runner_id).values(heartbeat_at=now))
            renewed = c.execute(
                deliveries.update()
                .where(
                    (deliveries.c.claimed_by == runner_id)
                    & (deliveries.c.state == DeliveryState.SENDING.value)
                )
                .values(lease_until=now + lease)
            )
            return int(renewed.rowcount)

    def remove_runner(self, runner_id: str) -> None:
        with self._tx() as c:
            c.execute(runners.delete().where(runners.c.id == runner_id))

    def runners(self) -> list[Runner]:
        with self._tx(write=False) as c:
            rows = c.execute(sa.select(runners).order_by(runners.c.started_at)).mappings().all()
        return [Runner(**row) for row in rows]

    # -- running totals for the metrics --------------------------------------------------
    def add_tallies(self, added: Sequence[Tally] = (), *, latest: Sequence[Tally] = ()) -> None:
        """Add ``added`` to their totals; ``latest``: keep the larger of the stored value
        and the given one (a time of last success). One transaction."""
        if not added and not latest:
            return
        with self._tx() as c:
            _add_tallies(c, added)
            _keep_latest(c, latest)

    def tallies(self) -> list[Tally]:
        with self._tx(write=False) as c:
            rows = c.execute(sa.select(tallies)).all()
        return [
            Tally(
                metric=row.metric,
                labels=tuple(sorted(json.loads(row.labels).items())),
                value=float(row.value),
            )
            for row in rows
        ]

    def oldest_waiting(self) -> dict[str, datetime]:
        """Per target, when its oldest row still waiting (queued, retry, held, unknown)
        was created (one aggregate query)."""
        with self._tx(write=False) as c:
            rows = c.execute(
                sa.select(
                    deliveries.c.target, sa.func.min(deliveries.c.created_at, type_=UTCDateTime)
                )
                .where(deliveries.c.state.in_([s.value for s in WAITING]))
                .group_by(deliveries.c.target)
            ).all()
        return {target: when for target, when in rows if when is not None}

    # -- WebSub subscriptions ------------------------------------------------------------
    def push_subscriptions(self) -> dict[str, PushSubscription]:
        with self._tx(write=False) as c:
            rows = c.execute(sa.select(push_subscriptions)).mappings().all()
        return {row["feed"]: PushSubscription(**row) for row in rows}

    def push_subscription(
        self, *, feed: str | None = None, callback_id: str | None = None
    ) -> PushSubscription | None:
        """A feed's subscription, or the one with this callback id."""
        query = sa.select(push_subscriptions)
        if feed is not None:
            query = query.where(push_subscriptions.c.feed == feed)
        if callback_id is not None:
            query = query.where(push_subscriptions.c.callback_id == callback_id)
        with self._tx(write=False) as c:
            row = c.execute(query).mappings().first()
        return PushSubscription(**row) if row else None

    def save_push_subscription(self, subscription: PushSubscription, *, over: int | None) -> bool:
        """Write ``subscription`` over the stored version ``over`` (``None``: there is none
        yet), with its version bumped; ``False`` (nothing written) when another change came
        first."""
        values = {k: v for k, v in subscription.__dict__.items() if k not in ("feed", "version")}
        where = push_subscriptions.c.feed == subscription.feed
        try:
            with self._tx() as c:
                if over is None:
                    c.execute(
                        push_subscriptions.insert().values(
                            feed=subscription.feed, version=1, **values
                        )
                    )
                    return True
                changed = c.execute(
                    push_subscriptions.update()
                    .where(where & (push_subscriptions.c.version == over))
                    .values(version=over + 1, **values)
                )
                return bool(changed.rowcount == 1)
        except sa.exc.IntegrityError:
            return False  # another runner recorded this feed (or this callback) first

    def delete_push_subscription(self, feed: str, *, over: int) -> bool:
        with self._tx() as c:
            deleted = c.execute(
                push_subscriptions.delete().where(
                    (push_subscriptions.c.feed == feed) & (push_subscriptions.c.version == over)
                )
            )
            return bool(deleted.rowcount == 1)


def shown_url(url: str) -> str:
    """A database URL fit to print: its password is ``***`` (also in one that SQLAlchemy
    cannot read)."""
    try:
        return sa.engine.make_url(url).render_as_string(hide_password=True)
    except (sa.exc.ArgumentError, ValueError):
        return re.sub(r"(://[^:/@]*:).*@", r"\1***@", url)  # to the last @: hide more


def is_server_url(database: str) -> bool:
    return re.match(r"^postgres(?:ql)?(?:\+\w+)?://", database) is not None


def _reason(error: BaseException) -> str:
    """The database's own words (SQLAlchemy's or the driver's), without a connection URL's
    password."""
    text = str(getattr(error, "orig", None) or error).strip().splitlines()[0]
    return re.sub(r"(://[^:/@\s]+:)[^@\s]+@", r"\1***@", text)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_read_only_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # No journal_mode or synchronous: setting them may write. query_only: no statement of
    # this connection writes, whatever the file's permissions (root ignores them).
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA query_only=ON")
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


def _read_only_options(url: str) -> str:
    """libpq's ``options`` for a read-only session, after any the URL gives."""
    given = sa.engine.make_url(url).query.get("options", "")
    given = " ".join(given) if isinstance(given, tuple) else given
    return (given + " " if given else "") + "-c default_transaction_read_only=on"


def _sqlite_own_transactions(dbapi_connection: Any, _record: Any) -> None:
    # pysqlite's own transaction handling defers BEGIN and breaks SAVEPOINT; SQLAlchemy
    # emits BEGIN itself (_sqlite_begin), as its documentation recommends.
    dbapi_connection.isolation_level = None


def _sqlite_begin(connection: Connection) -> None:
    immediate = connection.info.get("immediate", False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _outcome_tallies(target: str, platform: str, state: DeliveryState) -> list[Tally]:
    if state not in OUTCOMES:
        return []
    return [Tally.of("deliveries", target=target, platform=platform, state=state.value)]


def _count_outcome(c: Connection, target: str, platform: str, state: DeliveryState) -> None:
    _add_tallies(c, _outcome_tallies(target, platform, state))


def _publish_time(target: str, platform: str, elapsed: float) -> list[Tally]:
    """The answer time's histogram rows, one set per target: a row of the platform's alone
    would be written by every lane of that platform, each waiting for the one before to
    commit (the row's lock); the metrics add the targets up."""
    bucket = next((f"{b:g}" for b in PUBLISH_BUCKETS if elapsed <= b), "+Inf")
    return [
        Tally.of("publish_seconds_bucket", platform=platform, target=target, le=bucket),
        Tally.of("publish_seconds_sum", max(elapsed, 0.0), platform=platform, target=target),
    ]


def _labels(tally: Tally) -> str:
    return json.dumps(dict(tally.labels), sort_keys=True)


def _add_tallies(c: Connection, added: Sequence[Tally]) -> None:
    """Add each tally's value to its running total."""
    _merge_tallies(c, added, add=True)


def _keep_latest(c: Connection, latest: Sequence[Tally]) -> None:
    """Keep the larger of each tally's value and its stored one (a timestamp)."""
    _merge_tallies(c, latest, add=False)


def _merge_tallies(c: Connection, given: Sequence[Tally], *, add: bool) -> None:
    """One upsert for all of them. The rows are taken in one order (metric, labels) by every
    transaction, so that two runners on PostgreSQL never wait on each other in a circle."""
    merged: dict[tuple[str, str], float] = {}
    for tally in given:
        key = (tally.metric, _labels(tally))
        before = merged.get(key)
        if before is None:
            merged[key] = tally.value
        else:
            merged[key] = before + tally.value if add else max(before, tally.value)
    if merged:
        rows = [
            {"metric": metric, "labels": labels, "value": value}
            for (metric, labels), value in sorted(merged.items())
        ]
        c.execute(_tally_upsert(c.dialect.name, add=add), rows)


@functools.cache
def _tally_upsert(dialect: str, *, add: bool) -> sa.Insert:
    """``INSERT ... ON CONFLICT (metric, labels) DO UPDATE``: the value added to the stored
    one, or the larger of the two kept (SQLite 3.24 and later, and PostgreSQL)."""
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        statement = pg_insert(tallies)
        larger = sa.func.greatest(tallies.c.value, statement.excluded.value)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        statement = sqlite_insert(tallies)  # type: ignore[assignment]
        larger = sa.func.max(tallies.c.value, statement.excluded.value)
    merged = tallies.c.value + statement.excluded.value if add else larger
    return statement.on_conflict_do_update(
        index_elements=[tallies.c.metric, tallies.c.labels], set_={"value": merged}
    )


def _save_feed_state(c: Connection, state: FeedState) -> None:
    values = {k: v for k, v in state.__dict__.items() if k != "name"}
    updated = c.execute(feeds.update().where(feeds.c.name == state.name).values(values))
    if updated.rowcount == 0:
        c.execute(feeds.insert().values(name=state.name, **values))


def _add_entry(c: Connection, item: NewEntry, seen_at: datetime) -> int:
    entry = item.entry
    existing = c.execute(_ENTRY_ID, {"of_feed": entry.feed, "of_key": entry.key}).scalar()
    if existing is not None:
        return int(existing)
    result = c.execute(
        _INSERT_ENTRY,
        {
            "feed": entry.feed,
            "entry_key": entry.key,
            "link": entry.link,
            "title": entry.title,
            "content_hash": item.content_hash,
            "published_at": entry.published_at,
            "first_seen_at": seen_at,
            "data": json.dumps(entry.to_dict()),
        },
    )
    entry_id = _new_id(result)
    for delivery in item.deliveries:
        _insert_delivery(c, entry_id, delivery, seen_at)
    return entry_id


def _link_posted(c: Connection, target: str, link: str) -> bool:
    if not link:
        return False
    # Only the link is a condition in SQL: with ``target`` and ``state`` there too, SQLite
    # (without ANALYZE statistics, as every store is) walks ix_deliveries_target_state,
    # every row the target ever posted (0.1-0.3 s per call at 1,000,000 deliveries), instead
    # of the entries with this link. Those entries' few deliveries are checked here.
    rows = c.execute(_LINK_STATES, {"of_link": link})
    posted = DeliveryState.POSTED.value
    return any(row.target == target and row.state == posted for row in rows)


def _target_state(c: Connection, target: str, *, lock: bool = False) -> TargetState:
    """The target's state; ``lock``: held (on PostgreSQL) until the transaction ends, so
    that two runners apply one target's spacing and caps one after the other."""
    query = _TARGET_STATE_LOCKED if lock else _TARGET_STATE
    row = c.execute(query, {"of_target": target}).mappings().first()
    if row is None and lock and c.dialect.name == "postgresql":
        # The target's first claim: a row to lock, made by one runner (the others wait on
        # its insert, then lock the row it made), read again under the lock.
        c.execute(_pg_target_state_row(), {"target": target})
        row = c.execute(query, {"of_target": target}).mappings().first()
    return TargetState(**row) if row else TargetState(target=target)


def _save_target_state(c: Connection, state: TargetState) -> None:
    values = {k: v for k, v in state.__dict__.items() if k != "target"}
    updated = c.execute(_UPDATE_TARGET_STATE, {"of_target": state.target, **values})
    if updated.rowcount == 0:
        c.execute(_INSERT_TARGET_STATE, {"target": state.target, **values})


def _sent(state: TargetState, now: datetime) -> TargetState:
    day = now.date().isoformat()
    today = state.sent_today + 1 if state.sent_day == day else 1
    return replace(state, last_sent_at=now, sent_day=day, sent_today=today)


def _apply(state: TargetState, changes: dict[str, Any]) -> TargetState:
    """A settlement's target changes. A new pause replaces the old one whole (an end time
    it does not name is no end time); an empty pause reason lifts the pause."""
    if changes.get("lookups_refused") == "":
        changes = {**changes, "lookups_refused": None, "lookups_refused_at": None}
    if changes.get("pause_reason") == "":
        changes = {**changes, "pause_reason": None, "pause_kind": None, "paused_until": None}
        changes.setdefault("credentials_hash", None)
    elif "pause_reason" in changes:
        changes = {"paused_until": None, **changes}
    return replace(state, **changes)


def _spend(state: TargetState, settlement: Settlement) -> TargetState:
    """The month's spend after an attempt: what a void attempt's claim counted taken back,
    what its other requests cost (``spent``, in ``spent_month``) added."""
    spent = max(state.spent_usd - settlement.refund, 0.0)
    if settlement.spent and settlement.spent_month not in (None, state.spent_month):
        return replace(state, spent_month=settlement.spent_month, spent_usd=settlement.spent)
    return replace(state, spent_usd=spent + settlement.spent)


def _delivery_query(condition: Any) -> sa.Select[Any]:
    return (
        sa.select(
            deliveries,
            entries.c.feed,
            entries.c.entry_key,
            entries.c.link,
            entries.c.title,
            entries.c.first_seen_at,
        )
        .join(entries, entries.c.id == deliveries.c.entry_id)
        .where(condition)
    )


def _to_delivery(row: Any) -> Delivery:
    return Delivery(
        id=row["id"],
        repost=row["repost"],
        feed=row["feed"],
        entry_key=row["entry_key"],
        target=row["target"],
        platform=row["platform"],
        state=DeliveryState(row["state"]),
        post=Post.from_dict(json.loads(row["post"])),
        link=row["link"],
        title=row["title"],
        attempts=row["attempts"],
        due_at=row["due_at"],
        remote_id=row["remote_id"],
        remote_url=row["remote_url"],
        error=row["error"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        entry_id=row["entry_id"],
        sent_at=row["sent_at"],
        claimed_by=row["claimed_by"],
        lease_until=row["lease_until"],
        held_for=row["held_for"],
        manual=bool(row["manual"]),
        resend=bool(row["resend"]),
        first_try_at=row["first_try_at"],
        first_seen_at=row["first_seen_at"],
    )


def _insert_delivery(c: Connection, entry_id: int, delivery: NewDelivery, now: datetime) -> int:
    result = c.execute(
        _INSERT_DELIVERY,
        {
            "entry_id": entry_id,
            "target": delivery.target,
            "repost": delivery.repost,
            "platform": delivery.platform,
            "state": delivery.state.value,
            "attempts": 0,
            "due_at": delivery.due_at,
            "post": json.dumps(delivery.post.to_dict()),
            "error": delivery.error,
            "held_for": delivery.held_for,
            "manual": delivery.manual,
            "created_at": now,
            "updated_at": now,
        },
    )
    _count_outcome(c, delivery.target, delivery.platform, delivery.state)
    if delivery.state in (DeliveryState.QUEUED, DeliveryState.RETRY) and delivery.due_at <= now:
        wake.due(c, [delivery.target])
    return _new_id(result)


def _new_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])


# -- the statements of every post, built once --------------------------------------------
# Building a Core statement (and its cache key) costs about 70 µs of CPU; executing one
# built before, its values given as parameters, about 13 µs. Each post runs about a dozen
# (its entry recorded, its claim, its settlement), so those are built here, once. Parameters
# that are not columns are named ``of_...``: a column's own name is taken in SET and VALUES.
_NOW = sa.bindparam("now", type_=UTCDateTime)

_CLAIMABLE = (
    sa.select(deliveries.c.id)
    .where(
        (deliveries.c.target == sa.bindparam("of_target"))
        & deliveries.c.state.in_([DeliveryState.QUEUED.value, DeliveryState.RETRY.value])
        & (deliveries.c.due_at <= _NOW)
    )
    .order_by(deliveries.c.due_at, deliveries.c.id)
    .limit(sa.bindparam("rows", type_=sa.Integer))
    .with_for_update(skip_locked=True)
)
_DELIVERY = _delivery_query(deliveries.c.id == sa.bindparam("of_id"))
_CLAIM = (
    deliveries.update()
    .where(deliveries.c.id == sa.bindparam("of_id"))
    .values(
        state=DeliveryState.SENDING.value,
        attempts=deliveries.c.attempts + 1,
        claimed_by=sa.bindparam("worker", type_=sa.String),
        lease_until=sa.bindparam("lease_end", type_=UTCDateTime),
        updated_at=_NOW,
        first_try_at=sa.func.coalesce(deliveries.c.first_try_at, _NOW),
    )
)
# Where a settlement writes: the row as its attempt left it. SET takes the parameters named
# like columns.
_SETTLE = deliveries.update().where(
    (deliveries.c.id == sa.bindparam("of_id"))
    & (deliveries.c.state == sa.bindparam("of_state", type_=sa.String))
)
_SETTLE_CLAIMED = _SETTLE.where(
    deliveries.c.claimed_by == sa.bindparam("of_worker", type_=sa.String)
)
_LIFT_PAUSE = (
    target_state.update()
    .where(
        (target_state.c.target == sa.bindparam("of_target"))
        & target_state.c.pause_kind.in_(sa.bindparam("kinds", expanding=True))
    )
    .values(paused_until=None, pause_reason=None, pause_kind=None)
)
_LINK_STATES = (
    sa.select(deliveries.c.target, deliveries.c.state)
    .join(entries, entries.c.id == deliveries.c.entry_id)
    .where(entries.c.link == sa.bindparam("of_link"))
)
_TARGET_STATE = sa.select(target_state).where(target_state.c.target == sa.bindparam("of_target"))
_TARGET_STATE_LOCKED = _TARGET_STATE.with_for_update()
_UPDATE_TARGET_STATE = target_state.update().where(
    target_state.c.target == sa.bindparam("of_target")
)
_INSERT_TARGET_STATE = target_state.insert()
_ENTRY_ID = sa.select(entries.c.id).where(
    (entries.c.feed == sa.bindparam("of_feed")) & (entries.c.entry_key == sa.bindparam("of_key"))
)
_INSERT_ENTRY = entries.insert()
_INSERT_DELIVERY = deliveries.insert()


@functools.cache
def _pg_target_state_row() -> sa.Insert:
    """PostgreSQL: the target's row made if missing, so that it can be locked."""
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    return pg_insert(target_state).on_conflict_do_nothing()
