"""All SQL: feeds, entries and the outbox of deliveries, with schema migrations.

SQLite (WAL) today; every statement is SQLAlchemy Core that PostgreSQL accepts too.
The outbox holds one row per (entry, target): ``UNIQUE(entry_id, target)`` makes a double
queue impossible, and a row is committed as ``sending`` before its post goes out.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from bot.model import Delivery, DeliveryState, Entry, Post


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """Aware UTC datetimes in, aware UTC datetimes out, whatever the database keeps."""

    impl = sa.DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the store")
        return value.astimezone(UTC).replace(tzinfo=None)

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        return value.replace(tzinfo=UTC) if value is not None else None


metadata = sa.MetaData()

schema_version = sa.Table(
    "schema_version",
    metadata,
    sa.Column("version", sa.Integer, nullable=False),
)

feeds = sa.Table(
    "feeds",
    metadata,
    sa.Column("name", sa.String(200), primary_key=True),
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("etag", sa.Text),
    sa.Column("last_modified", sa.Text),
    sa.Column("body_hash", sa.String(64)),
    sa.Column("baseline_done", sa.Boolean, nullable=False, default=False),
    sa.Column("next_check_at", UTCDateTime),
    sa.Column("last_checked_at", UTCDateTime),
    sa.Column("last_error", sa.Text),
    sa.Column("error_count", sa.Integer, nullable=False, default=0),
)

entries = sa.Table(
    "entries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("feed", sa.String(200), nullable=False),
    sa.Column("entry_key", sa.Text, nullable=False),
    sa.Column("link", sa.Text, nullable=False, default=""),
    sa.Column("title", sa.Text, nullable=False, default=""),
    sa.Column("content_hash", sa.String(64), nullable=False),
    sa.Column("published_at", UTCDateTime),
    sa.Column("first_seen_at", UTCDateTime, nullable=False),
    sa.Column("data", sa.Text, nullable=False),
    sa.UniqueConstraint("feed", "entry_key", name="uq_entries_feed_key"),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("entry_id", sa.Integer, sa.ForeignKey("entries.id"), nullable=False),
    sa.Column("target", sa.String(200), nullable=False),
    # 0 for the delivery of an entry; 1, 2, ... for each forced re-post (``post --force``).
    sa.Column("repost", sa.Integer, nullable=False, default=0),
    sa.Column("platform", sa.String(40), nullable=False),
    sa.Column("state", sa.String(20), nullable=False),
    sa.Column("attempts", sa.Integer, nullable=False, default=0),
    sa.Column("not_before_at", UTCDateTime, nullable=False),
    sa.Column("post", sa.Text, nullable=False),
    sa.Column("remote_id", sa.Text),
    sa.Column("remote_url", sa.Text),
    sa.Column("error", sa.Text),
    sa.Column("created_at", UTCDateTime, nullable=False),
    sa.Column("updated_at", UTCDateTime, nullable=False),
    sa.Column("sent_at", UTCDateTime),
    sa.UniqueConstraint("entry_id", "target", "repost", name="uq_deliveries_entry_target"),
    sa.Index("ix_deliveries_due", "state", "not_before_at"),
)

SCHEMA_VERSION = 1


def _migrate_to_1(connection: Connection) -> None:
    metadata.create_all(connection, tables=[feeds, entries, deliveries])


# MIGRATIONS[n] takes a store at version n to n + 1. Never edit a released step: add one.
MIGRATIONS = [_migrate_to_1]


@dataclass(frozen=True, kw_only=True)
class FeedState:
    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    baseline_done: bool = False
    next_check_at: datetime | None = None
    last_checked_at: datetime | None = None
    last_error: str | None = None
    error_count: int = 0


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


@dataclass(frozen=True, kw_only=True)
class StoredEntry:
    id: int
    entry: Entry


class Store:
    """The durable record. Each method is one transaction."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    @classmethod
    def open(cls, path: Path | str) -> Store:
        """Open (creating and migrating) the SQLite store at ``path``; ``":memory:"`` works."""
        if str(path) == ":memory:":
            engine = sa.create_engine(
                "sqlite://",
                poolclass=sa.pool.StaticPool,
                connect_args={"check_same_thread": False},
            )
        else:
            Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = sa.create_engine(f"sqlite:///{path}")
            sa.event.listen(engine, "connect", _sqlite_pragmas)
        store = cls(engine)
        store.migrate()
        return store

    @classmethod
    def open_copy(cls, path: Path) -> Store:
        """An in-memory copy of the store at ``path`` (empty if there is none yet).

        Dry runs work on it: nothing they do reaches the file.
        """
        store = cls.open(":memory:")
        if path.exists():
            source = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
            try:
                with store.engine.connect() as connection:
                    target = connection.connection.dbapi_connection
                    assert target is not None
                    source.backup(target)  # type: ignore[arg-type]
            finally:
                source.close()
            store.migrate()
        return store

    def close(self) -> None:
        self.engine.dispose()

    def migrate(self) -> None:
        with self.engine.begin() as connection:
            metadata.create_all(connection, tables=[schema_version])
            version = connection.execute(sa.select(schema_version.c.version)).scalar()
            if version is None:
                connection.execute(schema_version.insert().values(version=0))
                version = 0
            if version > SCHEMA_VERSION:
                raise RuntimeError(
                    f"store schema {version} is newer than this FeedRelay ({SCHEMA_VERSION})"
                )
            for step in MIGRATIONS[version:]:
                step(connection)
            connection.execute(schema_version.update().values(version=SCHEMA_VERSION))

    @contextmanager
    def _tx(self) -> Iterator[Connection]:
        with self.engine.begin() as connection:
            yield connection

    # -- feeds ---------------------------------------------------------------------------
    def feed_state(self, name: str) -> FeedState | None:
        with self._tx() as c:
            row = c.execute(sa.select(feeds).where(feeds.c.name == name)).mappings().first()
        return FeedState(**row) if row else None

    def save_feed_state(self, state: FeedState) -> None:
        values = {k: v for k, v in state.__dict__.items() if k != "name"}
        with self._tx() as c:
            updated = c.execute(feeds.update().where(feeds.c.name == state.name).values(values))
            if updated.rowcount == 0:
                c.execute(feeds.insert().values(name=state.name, **values))

    # -- entries -------------------------------------------------------------------------
    def known_keys(self, feed: str, keys: Sequence[str]) -> set[str]:
        found: set[str] = set()
        with self._tx() as c:
            for start in range(0, len(keys), 500):
                chunk = list(keys[start : start + 500])
                rows = c.execute(
                    sa.select(entries.c.entry_key).where(
                        entries.c.feed == feed, entries.c.entry_key.in_(chunk)
                    )
                )
                found.update(row[0] for row in rows)
        return found

    def add_entry(
        self,
        entry: Entry,
        *,
        content_hash: str,
        seen_at: datetime,
        deliveries: Sequence[NewDelivery] = (),
    ) -> int:
        """Record a new entry and queue its deliveries in one transaction; return its id.

        An entry known already keeps its id and gets no new deliveries: seeing an entry and
        queueing it are one step, so a crash can never leave it seen but not queued.
        """
        with self._tx() as c:
            existing = c.execute(
                sa.select(entries.c.id).where(
                    entries.c.feed == entry.feed, entries.c.entry_key == entry.key
                )
            ).scalar()
            if existing is not None:
                return int(existing)
            result = c.execute(
                entries.insert().values(
                    feed=entry.feed,
                    entry_key=entry.key,
                    link=entry.link,
                    title=entry.title,
                    content_hash=content_hash,
                    published_at=entry.published_at,
                    first_seen_at=seen_at,
                    data=json.dumps(entry.to_dict()),
                )
            )
            entry_id = _new_id(result)
            for delivery in deliveries:
                _insert_delivery(c, entry_id, delivery, seen_at)
            return entry_id

    def find_entries(self, *, link: str | None = None, key: str | None = None) -> list[StoredEntry]:
        query = sa.select(entries.c.id, entries.c.data)
        if link is not None:
            query = query.where(entries.c.link == link)
        if key is not None:
            query = query.where(entries.c.entry_key == key)
        with self._tx() as c:
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
        if not link:
            return False
        with self._tx() as c:
            found = c.execute(
                sa.select(deliveries.c.id)
                .join(entries, entries.c.id == deliveries.c.entry_id)
                .where(
                    deliveries.c.target == target,
                    entries.c.link == link,
                    deliveries.c.state == DeliveryState.POSTED.value,
                )
                .limit(1)
            ).first()
        return found is not None

    def due(self, now: datetime, *, limit: int = 100) -> list[Delivery]:
        """Rows ready to send, oldest due first (publication order within a feed)."""
        return self._deliveries(
            deliveries.c.state.in_([DeliveryState.QUEUED.value, DeliveryState.RETRY.value])
            & (deliveries.c.not_before_at <= now),
            limit=limit,
            order=(deliveries.c.not_before_at, deliveries.c.id),
        )

    def in_state(self, *states: DeliveryState) -> list[Delivery]:
        return self._deliveries(deliveries.c.state.in_([s.value for s in states]))

    def claim(self, delivery_id: int, now: datetime) -> bool:
        """Move a due row to ``sending`` (committed); ``False`` if someone else took it."""
        with self._tx() as c:
            result = c.execute(
                deliveries.update()
                .where(
                    deliveries.c.id == delivery_id,
                    deliveries.c.state.in_(
                        [
                            DeliveryState.QUEUED.value,
                            DeliveryState.RETRY.value,
                            DeliveryState.UNKNOWN.value,
                        ]
                    ),
                )
                .values(
                    state=DeliveryState.SENDING.value,
                    attempts=deliveries.c.attempts + 1,
                    updated_at=now,
                )
            )
            return bool(result.rowcount == 1)

    def finish(
        self,
        delivery_id: int,
        state: DeliveryState,
        *,
        now: datetime,
        remote_id: str | None = None,
        remote_url: str | None = None,
        error: str | None = None,
        not_before_at: datetime | None = None,
        post: Post | None = None,
    ) -> None:
        values: dict[str, Any] = {"state": state.value, "updated_at": now, "error": error}
        if state is DeliveryState.POSTED:
            values.update(remote_id=remote_id, remote_url=remote_url, sent_at=now)
        if not_before_at is not None:
            values["not_before_at"] = not_before_at
        if post is not None:
            values["post"] = json.dumps(post.to_dict())
        with self._tx() as c:
            c.execute(deliveries.update().where(deliveries.c.id == delivery_id).values(values))

    def postpone(self, delivery_id: int, until: datetime, *, now: datetime) -> None:
        """Move a due row's time without touching its state (spacing, rate limits)."""
        with self._tx() as c:
            c.execute(
                deliveries.update()
                .where(deliveries.c.id == delivery_id)
                .values(not_before_at=until, updated_at=now)
            )

    def requeue(
        self, delivery_id: int, *, now: datetime, from_states: Sequence[DeliveryState]
    ) -> bool:
        """Make a row due now again, if it is in one of ``from_states``."""
        with self._tx() as c:
            result = c.execute(
                deliveries.update()
                .where(
                    deliveries.c.id == delivery_id,
                    deliveries.c.state.in_([s.value for s in from_states]),
                )
                .values(
                    state=DeliveryState.QUEUED.value,
                    not_before_at=now,
                    updated_at=now,
                    attempts=0,
                    error=None,
                )
            )
            return bool(result.rowcount == 1)

    def sending_to_unknown(self, now: datetime) -> int:
        """After a crash: rows caught in ``sending`` may or may not have gone out."""
        with self._tx() as c:
            result = c.execute(
                deliveries.update()
                .where(deliveries.c.state == DeliveryState.SENDING.value)
                .values(
                    state=DeliveryState.UNKNOWN.value,
                    updated_at=now,
                    error="interrupted while sending; checking the platform before re-sending",
                )
            )
            return int(result.rowcount)

    def last_sent_at(self, target: str) -> datetime | None:
        with self._tx() as c:
            value = c.execute(
                sa.select(sa.func.max(deliveries.c.sent_at)).where(deliveries.c.target == target)
            ).scalar()
        if isinstance(value, str):  # SQLite's max() returns the raw text
            value = datetime.fromisoformat(value)
        return value.replace(tzinfo=UTC) if value is not None else None

    def get(self, delivery_id: int) -> Delivery | None:
        rows = self._deliveries(deliveries.c.id == delivery_id)
        return rows[0] if rows else None

    def history(
        self,
        *,
        target: str | None = None,
        state: str | None = None,
        limit: int | None = None,
    ) -> list[Delivery]:
        conditions = []
        if target is not None:
            conditions.append(deliveries.c.target == target)
        if state is not None:
            conditions.append(deliveries.c.state == state)
        condition = sa.and_(sa.true(), *conditions)
        return self._deliveries(condition, limit=limit, order=(deliveries.c.id.desc(),))

    def _deliveries(
        self,
        condition: Any,
        *,
        limit: int | None = None,
        order: tuple[Any, ...] = (deliveries.c.id,),
    ) -> list[Delivery]:
        query = (
            sa.select(
                deliveries, entries.c.feed, entries.c.entry_key, entries.c.link, entries.c.title
            )
            .join(entries, entries.c.id == deliveries.c.entry_id)
            .where(condition)
            .order_by(*order)
        )
        if limit is not None:
            query = query.limit(limit)
        with self._tx() as c:
            rows = c.execute(query).mappings().all()
        return [
            Delivery(
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
                not_before_at=row["not_before_at"],
                remote_id=row["remote_id"],
                remote_url=row["remote_url"],
                error=row["error"],
                created_at=row["created_at"],
                updated_at=row["updated_at"],
                entry_id=row["entry_id"],
                sent_at=row["sent_at"],
            )
            for row in rows
        ]


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.close()


def _insert_delivery(c: Connection, entry_id: int, delivery: NewDelivery, now: datetime) -> int:
    result = c.execute(
        deliveries.insert().values(
            entry_id=entry_id,
            target=delivery.target,
            repost=delivery.repost,
            platform=delivery.platform,
            state=delivery.state.value,
            attempts=0,
            not_before_at=delivery.due_at,
            post=json.dumps(delivery.post.to_dict()),
            error=delivery.error,
            created_at=now,
            updated_at=now,
        )
    )
    return _new_id(result)


def _new_id(result: sa.CursorResult[Any]) -> int:
    key = result.inserted_primary_key
    assert key is not None
    return int(key[0])
