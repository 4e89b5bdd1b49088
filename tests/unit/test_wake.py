"""New work heard across runners (``Store.listen_for_work``): PostgreSQL's LISTEN/NOTIFY on
the test server, what is announced and when, a dropped connection, and SQLite's silence."""

from __future__ import annotations

import logging
import queue
import socket
import threading
from collections.abc import Collection, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa

from bot.model import (
    Decision,
    Delivery,
    DeliveryState,
    Entry,
    Post,
    Settlement,
    TargetState,
)
from bot.store import NewDelivery, SqlStore
from bot.store.wake import CHANNEL, NotListening, WorkListener

NOW = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=1)
LEASE = timedelta(minutes=10)
HEARD_WITHIN = 30  # seconds: a guard against a hang, never the measure


def _entry(key: str) -> Entry:
    return Entry(feed="blog", key=key, title=key, link=f"https://b.example/{key}")


def _delivery(target: str, **changes: Any) -> NewDelivery:
    delivery = NewDelivery(target=target, platform="twitter", post=Post(text="hi"), due_at=NOW)
    return replace(delivery, **changes)


def _add(store: SqlStore, key: str, *deliveries: NewDelivery) -> int:
    return store.add_entry(_entry(key), content_hash=key, seen_at=NOW, deliveries=deliveries)


def _send(_d: Delivery, _s: TargetState, _posted: bool) -> Decision:
    return Decision(action="send")


class Heard:
    """What a listener heard, in order, with what the store showed it at that moment."""

    def __init__(self, store: SqlStore) -> None:
        self.store = store
        self.notices: queue.Queue[tuple[list[str] | None, set[str]]] = queue.Queue()

    def __call__(self, targets: Collection[str] | None) -> None:
        visible = self.store.targets_with_work(datetime.now(UTC))
        self.notices.put((None if targets is None else sorted(targets), visible))

    def next(self) -> tuple[list[str] | None, set[str]]:
        return self.notices.get(timeout=HEARD_WITHIN)


@pytest.fixture
def stores(postgres_url: str) -> Iterator[tuple[SqlStore, SqlStore]]:
    """Two runners' stores on one PostgreSQL database: a writer and a listener's."""
    writer, reader = SqlStore.open(postgres_url), SqlStore.open(postgres_url)
    yield writer, reader
    writer.close()
    reader.close()


def _listening(store: SqlStore, heard: Heard) -> WorkListener:
    listener = store.listen_for_work(heard)
    assert isinstance(listener, WorkListener)
    assert listener.listening.wait(HEARD_WITHIN)
    return listener


def test_a_runner_hears_which_targets_got_due_work_once_it_can_see_the_rows(
    stores: tuple[SqlStore, SqlStore],
) -> None:
    writer, reader = stores
    heard = Heard(reader)
    listener = _listening(reader, heard)
    try:
        _add(writer, "first", _delivery("x"), _delivery("y"))
        targets, visible = heard.next()
    finally:
        listener.stop()
    assert targets == ["x", "y"]
    assert {"x", "y"} <= visible  # the notice came after the commit, never before


def test_rows_not_due_held_or_rolled_back_are_not_announced(
    stores: tuple[SqlStore, SqlStore], postgres_url: str
) -> None:
    writer, reader = stores
    heard = Heard(reader)
    listener = _listening(reader, heard)
    try:
        _add(writer, "later", _delivery("later", due_at=NOW + timedelta(days=1)))
        _add(writer, "held", _delivery("held", state=DeliveryState.HELD, held_for="approval"))
        dry = SqlStore.open(postgres_url, dry_run=True)
        _add(dry, "dry", _delivery("dry"))
        dry.close()  # rolled back: its NOTIFY never leaves the server
        paused = TargetState(target="paused", pause_reason="paused by hand")
        writer.save_target_state(paused)
        _add(writer, "now", _delivery("now"))  # notices come in commit order: this one first
        targets, _ = heard.next()
    finally:
        listener.stop()
    assert targets == ["now"]
    assert heard.notices.empty()


def test_approve_retry_resume_and_expired_claims_announce_their_targets(
    stores: tuple[SqlStore, SqlStore],
) -> None:
    writer, reader = stores
    held = _add(writer, "held", _delivery("a", state=DeliveryState.HELD, held_for="approval"))
    failing = _add(writer, "failing", _delivery("b"))
    heard = Heard(reader)
    listener = _listening(reader, heard)
    try:
        (row,) = writer.deliveries_for(held, "a")
        assert writer.release_held(now=NOW, ids=[row.id]) == [row.id]  # approve
        heard_approve = heard.next()
        (claimed,) = writer.claim_due(NOW, target="b", worker="w1", lease=LEASE, decide=_send)
        writer.settle(claimed, Settlement(state=DeliveryState.FAILED, error="no"), now=NOW)
        assert writer.requeue(claimed.id, now=NOW, from_states=[DeliveryState.FAILED])  # retry
        heard_retry = heard.next()
        writer.save_target_state(TargetState(target="c"))  # resume: no pause any more
        heard_resume = heard.next()
        (again,) = writer.claim_due(NOW, target="b", worker="w1", lease=LEASE, decide=_send)
        writer.expire_claims(NOW + LEASE + timedelta(seconds=1))  # to be looked up now
        heard_expired = heard.next()
    finally:
        listener.stop()
    assert again.entry_id == failing
    assert [heard_approve[0], heard_retry[0], heard_resume[0], heard_expired[0]] == [
        ["a"],
        ["b"],
        ["c"],
        ["b"],
    ]


def test_the_listener_hears_again_after_the_server_ends_its_connection(
    stores: tuple[SqlStore, SqlStore], postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    writer, reader = stores
    heard = Heard(reader)
    listener = _listening(reader, heard)
    try:
        with caplog.at_level(logging.INFO, logger="bot.store.wake"):
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                ended = admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                    " WHERE application_name = 'feedrelay listener'"
                    " AND datname = current_database()"
                ).fetchall()
            assert ended == [(True,)]
            # Back: whatever was announced meanwhile was not heard, so every lane looks.
            assert heard.next()[0] is None
            _add(writer, "after", _delivery("x"))
            assert heard.next()[0] == ["x"]
    finally:
        listener.stop()
    said = [(r.levelname, r.getMessage()) for r in caplog.records if r.name == "bot.store.wake"]
    assert len([s for s in said if s[0] == "WARNING"]) == 1
    assert said[0][1].startswith("not hearing of new work from other runners (")
    assert said[-1] == ("INFO", "hearing of new work from other runners again")


def _refused_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])  # closed again: connecting there is refused


def test_a_store_that_cannot_be_reached_is_said_once_and_tried_less_and_less_often(
    postgres_url: str, caplog: pytest.LogCaptureFixture
) -> None:
    port = _refused_port()
    attempts: list[str] = []
    pauses: list[float] = []
    woken: queue.Queue[Collection[str] | None] = queue.Queue()

    def connect() -> psycopg.Connection[Any]:
        attempts.append("try")
        if len(attempts) <= 6:
            return psycopg.connect(f"host=127.0.0.1 port={port} connect_timeout=5")
        return psycopg.connect(postgres_url, autocommit=True)

    listener = WorkListener(
        connect, woken.put, retry_after=0.5, retry_at_most=4.0, pause=pauses.append
    )
    with caplog.at_level(logging.INFO, logger="bot.store.wake"):
        listener.start()
        try:
            assert woken.get(timeout=HEARD_WITHIN) is None  # listening at last: every lane
        finally:
            listener.stop()
    assert pauses == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    levels = [r.levelname for r in caplog.records if r.name == "bot.store.wake"]
    assert levels == ["WARNING", "INFO"]  # six failures, said once


def test_a_sqlite_store_listens_to_nothing_and_announces_nothing(tmp_path: Path) -> None:
    store = SqlStore.open(tmp_path / "s.sqlite")
    statements: list[str] = []
    sa.event.listen(store.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    threads = threading.active_count()
    calls: list[object] = []
    listener = store.listen_for_work(calls.append)
    try:
        assert isinstance(listener, NotListening)
        assert threading.active_count() == threads
        held = _add(store, "held", _delivery("x", state=DeliveryState.HELD))
        _add(store, "due", _delivery("y"))
        (row,) = store.deliveries_for(held, "x")
        store.release_held(now=NOW, ids=[row.id])
        store.save_target_state(TargetState(target="x"))
    finally:
        listener.stop()
        store.close()
    assert calls == []
    assert statements and not [s for s in statements if "notify" in s.lower()]
    assert CHANNEL not in " ".join(statements)
