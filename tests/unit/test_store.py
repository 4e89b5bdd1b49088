"""The store: one row per (entry, target), claims that cannot race, crash recovery."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.model import (
    Decision,
    Delivery,
    DeliveryState,
    Entry,
    Post,
    Published,
    Settlement,
    TargetState,
)
from bot.store import NewDelivery, SqlStore, open_store
from bot.store.schema import SCHEMA_VERSION, schema_version

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)
LEASE = timedelta(minutes=10)


def _entry(key: str = "k1", link: str = "https://b.example/1") -> Entry:
    return Entry(feed="blog", key=key, title="T", link=link, published_at=NOW)


def _delivery(target: str = "x", repost: int = 0) -> NewDelivery:
    return NewDelivery(
        target=target, platform="twitter", post=Post(text="hi"), due_at=NOW, repost=repost
    )


def _send(_d: Delivery, _s: TargetState, _posted: bool) -> Decision:
    return Decision(action="send")


def _claim(store: SqlStore, target: str = "x", worker: str = "w1", **kw: object) -> list[Delivery]:
    return store.claim_due(NOW, target=target, worker=worker, lease=LEASE, decide=_send, **kw)  # type: ignore[arg-type]


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.slow)])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[SqlStore]:
    """The same contract, on both engines."""
    if request.param == "sqlite":
        opened = SqlStore.open(tmp_path / "s.sqlite")
    else:
        opened = SqlStore.open(request.getfixturevalue("postgres_url"))
    yield opened
    opened.close()


def test_entry_and_its_deliveries_are_recorded_together(store: SqlStore) -> None:
    entry_id = store.add_entry(
        _entry(), content_hash="h", seen_at=NOW, deliveries=[_delivery("x"), _delivery("r")]
    )
    assert store.known_keys("blog", ["k1", "k2"]) == {"k1"}
    assert [d.target for d in store.due(NOW)] == ["x", "r"]
    # Seeing it again changes nothing.
    assert (
        store.add_entry(_entry(), content_hash="h", seen_at=NOW, deliveries=[_delivery("x")])
        == entry_id
    )
    assert len(store.due(NOW)) == 2


def test_a_pair_can_be_queued_only_once(store: SqlStore) -> None:
    entry_id = store.add_entry(_entry(), content_hash="h", seen_at=NOW)
    assert store.queue(entry_id, _delivery(), now=NOW) is not None
    assert store.queue(entry_id, _delivery(), now=NOW) is None
    assert store.queue(entry_id, _delivery(repost=1), now=NOW) is not None
    with store.engine.begin() as c, pytest.raises(sa.exc.IntegrityError):
        c.execute(
            sa.text(
                "INSERT INTO deliveries (entry_id, target, repost, platform, state, attempts,"
                " due_at, post, created_at, updated_at)"
                " VALUES (:e, 'x', 0, 'twitter', 'queued', 0, :n, '{}', :n, :n)"
            ),
            {"e": entry_id, "n": NOW.replace(tzinfo=None)},
        )


def test_claim_is_won_once_with_a_lease(store: SqlStore) -> None:
    store.add_entry(_entry(), content_hash="h", seen_at=NOW, deliveries=[_delivery()])
    (row,) = _claim(store)
    assert row.claimed_by == "w1" and row.lease_until == NOW + LEASE and row.attempts == 1
    assert _claim(store, worker="w2") == []
    assert store.due(NOW) == []
    stored = store.get(row.id)
    assert stored is not None and stored.state is DeliveryState.SENDING
    assert store.target_state("x").last_sent_at == NOW


def test_the_policy_decides_inside_the_claim(store: SqlStore) -> None:
    store.add_entry(_entry("a"), content_hash="h", seen_at=NOW, deliveries=[_delivery()])
    store.add_entry(
        _entry("b", "https://b.example/2"), content_hash="h", seen_at=NOW, deliveries=[_delivery()]
    )
    asked: list[int] = []

    def skip_first_then_wait(d: Delivery, _s: TargetState, _posted: bool) -> Decision:
        asked.append(d.id)
        return Decision(action="skip", reason="no") if len(asked) == 1 else Decision(action="wait")

    claimed = store.claim_due(NOW, target="x", worker="w", lease=LEASE, decide=skip_first_then_wait)
    assert claimed == []
    first, second = (store.get(i) for i in asked)
    assert first is not None and first.state is DeliveryState.SKIPPED and first.error == "no"
    assert second is not None and second.state is DeliveryState.QUEUED  # a wait changes nothing


def test_an_expired_lease_becomes_unknown(store: SqlStore) -> None:
    store.add_entry(_entry(), content_hash="h", seen_at=NOW, deliveries=[_delivery()])
    (row,) = _claim(store)
    assert store.expire_claims(NOW) == []  # the lease still holds
    (expired,) = store.expire_claims(NOW + LEASE)
    assert expired.id == row.id
    stored = store.get(row.id)
    assert stored is not None and stored.state is DeliveryState.UNKNOWN
    assert stored.claimed_by is None
    # The runner that claimed it comes back too late: its outcome is not written.
    late = Settlement(state=DeliveryState.POSTED, published=Published(remote_id="1"))
    assert not store.settle(row, late, now=NOW + LEASE)


def test_a_claim_is_taken_over_early_only_from_a_runner_known_to_be_dead(
    tmp_path: Path,
) -> None:
    store = SqlStore.open(tmp_path / "s.sqlite")
    store.add_entry(_entry(), content_hash="h", seen_at=NOW, deliveries=[_delivery()])
    (row,) = _claim(store, worker="dead")
    store.close()
    reopened = SqlStore.open(tmp_path / "s.sqlite")
    # Another runner starting is no reason: the lease holds.
    assert reopened.expire_claims(NOW) == []
    assert [d.id for d in reopened.expire_claims(NOW, dead_runners=["dead"])] == [row.id]
    stored = reopened.get(row.id)
    assert stored is not None and stored.state is DeliveryState.UNKNOWN


def test_a_heartbeat_renews_the_runners_claims_in_flight_and_no_others(store: SqlStore) -> None:
    store.add_entry(_entry(), content_hash="h", seen_at=NOW, deliveries=[_delivery()])
    store.add_entry(_entry(key="other"), content_hash="h2", seen_at=NOW, deliveries=[_delivery()])
    (mine,) = _claim(store, worker="me")
    (theirs,) = _claim(store, worker="them")
    later = NOW + LEASE / 2
    assert store.heartbeat("me", later, lease=LEASE) == 1
    assert [d.id for d in store.expire_claims(NOW + LEASE)] == [theirs.id]
    renewed = store.get(mine.id)
    assert renewed is not None and renewed.lease_until == later + LEASE


def test_settle_records_the_outcome_and_the_target_state_together(store: SqlStore) -> None:
    store.add_entry(_entry(), content_hash="h", seen_at=NOW, deliveries=[_delivery()])
    (row,) = _claim(store)
    later = NOW + timedelta(hours=1)
    settled = Settlement(
        state=DeliveryState.RETRY, due_at=later, error="429", rate_limited_until=later
    )
    assert store.settle(row, settled, now=NOW)
    assert store.target_state("x").rate_limited_until == later
    stored = store.get(row.id)
    assert stored is not None and stored.due_at == later and stored.claimed_by is None


def test_posted_link_is_remembered_per_target(store: SqlStore) -> None:
    store.add_entry(_entry(), content_hash="h", seen_at=NOW, deliveries=[_delivery()])
    (row,) = _claim(store)
    published = Published(remote_id="1", url="u")
    store.settle(row, Settlement(state=DeliveryState.POSTED, published=published), now=NOW)
    assert store.link_posted("x", "https://b.example/1")
    assert not store.link_posted("r", "https://b.example/1")
    assert store.counts() == {"x": {"posted": 1}}


def test_times_come_back_aware_utc(store: SqlStore) -> None:
    store.add_entry(_entry(), content_hash="h", seen_at=NOW, deliveries=[_delivery()])
    (row,) = store.due(NOW + timedelta(seconds=1))
    assert row.created_at == NOW and row.created_at.tzinfo is UTC
    assert store.next_due() == {"x": NOW}


def test_schema_version_is_recorded(store: SqlStore) -> None:
    with store.engine.begin() as c:
        assert c.execute(sa.select(schema_version.c.version)).scalar() == SCHEMA_VERSION
    store.migrate()  # idempotent


def test_a_version_1_store_is_migrated_with_its_history(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:
        db.executescript(
            """
            CREATE TABLE schema_version (version INTEGER NOT NULL);
            INSERT INTO schema_version VALUES (1);
            CREATE TABLE feeds (name VARCHAR(200) PRIMARY KEY, url TEXT NOT NULL, etag TEXT,
              last_modified TEXT, body_hash VARCHAR(64), baseline_done BOOLEAN NOT NULL,
              next_check_at DATETIME, last_checked_at DATETIME, last_error TEXT,
              error_count INTEGER NOT NULL);
            CREATE TABLE entries (id INTEGER PRIMARY KEY, feed VARCHAR(200) NOT NULL,
              entry_key TEXT NOT NULL, link TEXT NOT NULL, title TEXT NOT NULL,
              content_hash VARCHAR(64) NOT NULL, published_at DATETIME,
              first_seen_at DATETIME NOT NULL, data TEXT NOT NULL,
              CONSTRAINT uq_entries_feed_key UNIQUE (feed, entry_key));
            CREATE TABLE deliveries (id INTEGER PRIMARY KEY, entry_id INTEGER NOT NULL
              REFERENCES entries (id), target VARCHAR(200) NOT NULL, repost INTEGER NOT NULL,
              platform VARCHAR(40) NOT NULL, state VARCHAR(20) NOT NULL,
              attempts INTEGER NOT NULL, not_before_at DATETIME NOT NULL, post TEXT NOT NULL,
              remote_id TEXT, remote_url TEXT, error TEXT, created_at DATETIME NOT NULL,
              updated_at DATETIME NOT NULL, sent_at DATETIME,
              CONSTRAINT uq_deliveries_entry_target UNIQUE (entry_id, target, repost));
            CREATE INDEX ix_deliveries_due ON deliveries (state, not_before_at);
            INSERT INTO entries VALUES (1, 'blog', 'k1', 'https://b.example/1', 'T', 'h', NULL,
              '2026-11-01 10:00:00', '{"feed": "blog", "key": "k1", "title": "T",
              "link": "https://b.example/1"}');
            INSERT INTO deliveries VALUES (1, 1, 'x', 0, 'twitter', 'posted', 1,
              '2026-11-01 10:00:00', '{"text": "hi"}', '42', 'https://x.com/a/status/42', NULL,
              '2026-11-01 10:00:00', '2026-11-01 10:00:00', '2026-11-01 10:00:00');
            """
        )
    store = open_store(path)
    (row,) = store.history()
    assert row.state is DeliveryState.POSTED and row.remote_id == "42"
    assert row.due_at == datetime(2026, 11, 1, 10, tzinfo=UTC)
    assert store.target_state("x") == TargetState(target="x")
    store.close()


def test_a_dry_run_store_rolls_everything_back(tmp_path: Path) -> None:
    path = tmp_path / "s.sqlite"
    SqlStore.open(path).close()
    dry = open_store(path, dry_run=True)
    dry.add_entry(_entry(), content_hash="h", seen_at=NOW, deliveries=[_delivery()])
    assert len(dry.due(NOW)) == 1
    dry.close()
    assert SqlStore.open(path).due(NOW) == []
    assert not open_store(tmp_path / "none.sqlite", dry_run=True).due(NOW)
    assert not (tmp_path / "none.sqlite").exists()


def test_a_new_pause_replaces_an_expired_one_whole(store: SqlStore) -> None:
    store.save_target_state(
        TargetState(
            target="x",
            paused_until=NOW - timedelta(minutes=1),
            pause_reason="paused by the operator",
            pause_kind="operator",
        )
    )
    store.add_entry(_entry(), content_hash="h", seen_at=NOW, deliveries=[_delivery()])
    (row,) = _claim(store)
    refused = Settlement(
        state=DeliveryState.FAILED, pause_reason="credentials refused", pause_kind="auth"
    )
    assert store.settle(row, refused, now=NOW)
    state = store.target_state("x")
    assert state.paused_until is None and state.paused_at(NOW + timedelta(days=1))


def test_two_runners_on_postgresql_never_claim_one_row(postgres_url: str) -> None:
    first, second = SqlStore.open(postgres_url), SqlStore.open(postgres_url)
    for number in range(40):
        first.add_entry(
            _entry(f"k{number}", f"https://b.example/{number}"),
            content_hash="h",
            seen_at=NOW,
            deliveries=[_delivery()],
        )
    claimed: dict[str, list[int]] = {"w1": [], "w2": []}

    def claim_all(store: SqlStore, worker: str) -> None:
        while rows := _claim(store, worker=worker):
            claimed[worker] += [row.id for row in rows]

    threads = [
        threading.Thread(target=claim_all, args=(first, "w1")),
        threading.Thread(target=claim_all, args=(second, "w2")),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not set(claimed["w1"]) & set(claimed["w2"])
    assert len(claimed["w1"]) + len(claimed["w2"]) == 40
    assert first.target_state("x").sent_today == 40  # each claim counted under the lock
    first.close()
    second.close()


def test_feeds_are_spread_over_runners_on_postgresql(postgres_url: str) -> None:
    first, second = SqlStore.open(postgres_url), SqlStore.open(postgres_url)
    urls = {f"feed{n}": f"https://b.example/{n}.xml" for n in range(10)}
    taken = first.claim_feeds(urls, now=NOW, lease=LEASE, due_only=True)
    assert sorted(taken) == sorted(urls)
    assert second.claim_feeds(urls, now=NOW, lease=LEASE, due_only=True) == []
    assert sorted(second.claim_feeds(urls, now=NOW + LEASE, lease=LEASE, due_only=True)) == sorted(
        urls
    )
    first.close()
    second.close()


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://u:pw-secret@127.0.0.1:notaport/db",
        "postgresql://u:pw-secret@[::1/db",
        "postgresql://u:pw@secret@127.0.0.1:x@y/db",
    ],
)
def test_a_malformed_postgresql_url_is_a_storage_error_without_the_password(url: str) -> None:
    # bot.config refuses these at load; the store still never lets SQLAlchemy's ValueError out.
    from bot.errors import StorageError

    with pytest.raises(StorageError, match="the URL's host or port is malformed") as raised:
        SqlStore.open(url)
    assert "secret" not in str(raised.value)


# -- read-only: what status, history and schedule open -------------------------------------
def test_a_read_only_sqlite_store_reads_and_never_writes(tmp_path: Path) -> None:
    from bot.errors import StorageError

    path = tmp_path / "s.sqlite"
    writer = SqlStore.open(path)
    writer.add_entry(_entry(), content_hash="h", seen_at=NOW, deliveries=[_delivery()])
    writer.close()
    before = path.read_bytes(), path.stat().st_mtime_ns
    reader = open_store(path, read_only=True)
    try:
        (row,) = reader.history()
        assert row.state is DeliveryState.QUEUED
        with pytest.raises(StorageError, match="readonly"):
            reader.save_target_state(TargetState(target="x", pause_reason="by hand"))
    finally:
        reader.close()
    assert (path.read_bytes(), path.stat().st_mtime_ns) == before
    assert not Path(f"{path}-journal").exists()


def test_a_read_only_open_never_creates_or_migrates(tmp_path: Path) -> None:
    from bot.errors import StorageError

    with pytest.raises(StorageError, match="cannot read the store"):
        SqlStore.open(tmp_path / "none.sqlite", read_only=True)
    assert not (tmp_path / "none.sqlite").exists()
    old = tmp_path / "old.sqlite"
    db = sqlite3.connect(old)
    db.executescript("CREATE TABLE schema_version (version INTEGER NOT NULL);")
    db.execute("INSERT INTO schema_version VALUES (1)")
    db.commit()
    db.close()
    before = old.read_bytes()
    with pytest.raises(StorageError, match=r"has schema 1, older than this FeedRelay's \("):
        SqlStore.open(old, read_only=True)
    assert old.read_bytes() == before  # not migrated
    other = tmp_path / "other.sqlite"
    sqlite3.connect(other).execute("CREATE TABLE t (x)").connection.close()
    with pytest.raises(StorageError, match="has no FeedRelay schema"):
        SqlStore.open(other, read_only=True)


def test_a_read_only_postgresql_store_refuses_writes(postgres_url: str) -> None:
    writer = SqlStore.open(postgres_url)
    writer.add_entry(_entry(), content_hash="h", seen_at=NOW, deliveries=[_delivery()])
    writer.close()
    reader = SqlStore.open(postgres_url, read_only=True)
    try:
        assert len(reader.history()) == 1
        # The server refuses it (a reading command that wrote would be a bug: a traceback).
        with pytest.raises(sa.exc.DBAPIError, match="read-only transaction"):
            reader.save_target_state(TargetState(target="x", pause_reason="by hand"))
    finally:
        reader.close()


def test_what_a_platform_remembers_changes_only_from_the_value_it_was(store: SqlStore) -> None:
    assert store.remembered("bsky", "session") is None
    assert store.remember("bsky", "session", old=None, new="s1", now=NOW)
    assert not store.remember("bsky", "session", old=None, new="other", now=NOW)  # set already
    assert store.remembered("bsky", "session") == "s1"
    # Two runners refresh one session: the first wins, the second reads the winner's.
    assert store.remember("bsky", "session", old="s1", new="s2", now=NOW)
    assert not store.remember("bsky", "session", old="s1", new="s2-too", now=NOW)
    assert store.remembered("bsky", "session") == "s2"
    assert store.remembered("other-target", "session") is None
