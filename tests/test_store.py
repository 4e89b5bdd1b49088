"""The store: one row per (entry, target), claims that cannot race, crash recovery."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from bot.model import DeliveryState, Entry, Post
from bot.store import SCHEMA_VERSION, NewDelivery, Store, schema_version

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def _entry(key: str = "k1", link: str = "https://b.example/1") -> Entry:
    return Entry(feed="blog", key=key, title="T", link=link, published_at=NOW)


def _delivery(target: str = "x", repost: int = 0) -> NewDelivery:
    return NewDelivery(
        target=target, platform="twitter", post=Post(text="hi"), due_at=NOW, repost=repost
    )


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store.open(tmp_path / "s.sqlite")


def test_entry_and_its_deliveries_are_recorded_together(store: Store) -> None:
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


def test_a_pair_can_be_queued_only_once(store: Store) -> None:
    entry_id = store.add_entry(_entry(), content_hash="h", seen_at=NOW)
    assert store.queue(entry_id, _delivery(), now=NOW) is not None
    assert store.queue(entry_id, _delivery(), now=NOW) is None
    assert store.queue(entry_id, _delivery(repost=1), now=NOW) is not None
    with store.engine.begin() as c, pytest.raises(sa.exc.IntegrityError):
        c.execute(
            sa.text(
                "INSERT INTO deliveries (entry_id, target, repost, platform, state, attempts,"
                " not_before_at, post, created_at, updated_at)"
                " VALUES (:e, 'x', 0, 'twitter', 'queued', 0, :n, '{}', :n, :n)"
            ),
            {"e": entry_id, "n": NOW.replace(tzinfo=None)},
        )


def test_claim_is_won_once(store: Store) -> None:
    store.add_entry(_entry(), content_hash="h", seen_at=NOW, deliveries=[_delivery()])
    (row,) = store.due(NOW)
    assert store.claim(row.id, NOW)
    assert not store.claim(row.id, NOW)
    assert store.due(NOW) == []
    assert store.get(row.id).state is DeliveryState.SENDING  # type: ignore[union-attr]


def test_sending_rows_become_unknown_after_a_crash(tmp_path: Path) -> None:
    store = Store.open(tmp_path / "s.sqlite")
    store.add_entry(_entry(), content_hash="h", seen_at=NOW, deliveries=[_delivery()])
    (row,) = store.due(NOW)
    store.claim(row.id, NOW)
    store.close()
    reopened = Store.open(tmp_path / "s.sqlite")
    assert reopened.sending_to_unknown(NOW) == 1
    assert reopened.get(row.id).state is DeliveryState.UNKNOWN  # type: ignore[union-attr]


def test_posted_link_is_remembered_per_target(store: Store) -> None:
    store.add_entry(_entry(), content_hash="h", seen_at=NOW, deliveries=[_delivery()])
    (row,) = store.due(NOW)
    store.claim(row.id, NOW)
    store.finish(row.id, DeliveryState.POSTED, now=NOW, remote_id="1", remote_url="u")
    assert store.link_posted("x", "https://b.example/1")
    assert not store.link_posted("r", "https://b.example/1")
    assert store.last_sent_at("x") == NOW


def test_times_come_back_aware_utc(store: Store) -> None:
    store.add_entry(_entry(), content_hash="h", seen_at=NOW, deliveries=[_delivery()])
    (row,) = store.due(NOW + timedelta(seconds=1))
    assert row.created_at == NOW and row.created_at.tzinfo is UTC


def test_schema_version_is_recorded(store: Store) -> None:
    with store.engine.begin() as c:
        assert c.execute(sa.select(schema_version.c.version)).scalar() == SCHEMA_VERSION
    store.migrate()  # idempotent
