"""Claims under any interleaving: runners start, claim, renew, die, settle; time passes.

Hypothesis drives a real store (SQLite) through the same calls the dispatcher makes, with a
model of what each runner believes it holds. Two things must hold whatever the order:

- a delivery is never claimed by a second runner while the first one is still sending it,
  alive, with a lease it renewed that has not run out;
- a post that went out is never dropped: after its runner records it (late or not), the
  row is ``posted`` and names it (as the post, or as a second one to delete).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from tempfile import TemporaryDirectory

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

from bot import runners
from bot.dispatch import record_outcome
from bot.model import Decision, Delivery, DeliveryState, Entry, Post, Published, Settlement
from bot.store import NewDelivery, Runner, SqlStore

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
LEASE = timedelta(minutes=10)
SCOPE = "this-machine"
# a and b run on this machine; c elsewhere, so its death can never be seen from here.
RUNNERS = {"a": (101, SCOPE), "b": (102, SCOPE), "c": (103, "another-machine")}
OUTCOMES = ("posted", "retry", "failed", "unknown")


@dataclass
class Sender:
    """What one runner believes: the rows it is sending and until when each lease holds."""

    started: bool = False
    alive: bool = True
    sending: dict[int, Delivery] = field(default_factory=dict)
    lease_until: dict[int, datetime] = field(default_factory=dict)


def _send(_d: object, _s: object, _posted: bool) -> Decision:
    return Decision(action="send")


class Claims(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self._dir = TemporaryDirectory()
        self.store = SqlStore.open(Path(self._dir.name) / "s.sqlite")
        self.now = START
        self.senders = {name: Sender() for name in RUNNERS}
        self.posts = 0
        self.on_platform: dict[int, Published] = {}  # what a look-up would find
        self.ids: list[int] = []
        for n in range(2):
            self.ids.append(
                self.store.add_entry(
                    Entry(feed="blog", key=f"k{n}", title="T", link=f"https://b.example/{n}"),
                    content_hash="h",
                    seen_at=START,
                    deliveries=[
                        NewDelivery(target="x", platform="p", post=Post(text=f"{n}"), due_at=START)
                    ],
                )
            )

    def teardown(self) -> None:
        self.store.close()
        self._dir.cleanup()

    # -- what the dispatcher does ---------------------------------------------------------
    def _dead_seen_by(self, name: str) -> list[str]:
        alive_pids = {RUNNERS[n][0] for n, s in self.senders.items() if s.alive}
        return runners.dead_runners(
            self.store.runners(),
            scope=RUNNERS[name][1],
            me=name,
            alive=lambda pid: pid in alive_pids,
        )

    def _expire(self, name: str) -> None:
        self.store.expire_claims(self.now, dead_runners=self._dead_seen_by(name))

    def _not_started(self) -> list[str]:
        return [n for n, s in sorted(self.senders.items()) if not s.started]

    def _running(self) -> list[str]:
        return [n for n, s in sorted(self.senders.items()) if s.started and s.alive]

    def _in_flight(self) -> list[str]:
        return [n for n in self._running() if self.senders[n].sending]

    @precondition(lambda self: self._not_started())
    @rule(data=st.data())
    def start(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self._not_started()))
        sender = self.senders[name]
        pid, scope = RUNNERS[name]
        self.store.register_runner(
            Runner(
                id=name,
                pid=pid,
                host="h",
                mode="once",
                started_at=self.now,
                heartbeat_at=self.now,
                scope=scope,
            )
        )
        sender.started = True
        self._expire(name)  # recovery at start

    @precondition(lambda self: self._running())
    @rule(data=st.data())
    def claims(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self._running()))
        sender = self.senders[name]
        self._expire(name)
        for delivery in self.store.claim_due(
            self.now, target="x", worker=name, lease=LEASE, decide=_send, limit=2
        ):
            for other, held in self.senders.items():
                if other == name or delivery.id not in held.sending:
                    continue
                assert not held.alive or held.lease_until[delivery.id] <= self.now, (
                    f"{name} claimed {delivery.id} while {other} still holds it"
                )
            sender.sending[delivery.id] = delivery
            sender.lease_until[delivery.id] = self.now + LEASE

    @precondition(lambda self: self._running())
    @rule(data=st.data())
    def renew(self, data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(self._running()))
        sender = self.senders[name]
        self.store.heartbeat(name, self.now, lease=LEASE)
        for delivery_id in sender.sending:
            row = self.store.get(delivery_id)
            assert row is not None
            if row.state is DeliveryState.SENDING and row.claimed_by == name:
                sender.lease_until[delivery_id] = self.now + LEASE

    @precondition(lambda self: self._running())
    @rule(data=st.data())
    def looks_up(self, data: st.DataObject) -> None:
        """Unknown outcomes are looked up on the platform (a post in flight is not there
        yet); one not found is due again at once (the backoff is left out)."""
        name = data.draw(st.sampled_from(self._running()))
        self._expire(name)
        for delivery in self.store.to_reconcile(self.now, target="x"):
            found = self.on_platform.get(delivery.id)
            settlement = (
                Settlement(state=DeliveryState.POSTED, published=found, error="found")
                if found is not None
                else Settlement(state=DeliveryState.RETRY, due_at=self.now, error="not found")
            )
            record_outcome(self.store, delivery, settlement, now=self.now)

    @rule(minutes=st.integers(min_value=1, max_value=12))
    def time_passes(self, minutes: int) -> None:
        self.now += timedelta(minutes=minutes)

    @precondition(lambda self: self._running())
    @rule(data=st.data())
    def dies(self, data: st.DataObject) -> None:
        self.senders[data.draw(st.sampled_from(self._running()))].alive = False

    @precondition(lambda self: self._in_flight())
    @rule(
        data=st.data(),
        which=st.integers(min_value=0, max_value=1),
        outcome=st.sampled_from(OUTCOMES),
    )
    def settles(self, data: st.DataObject, which: int, outcome: str) -> None:
        name = data.draw(st.sampled_from(self._in_flight()))
        sender = self.senders[name]
        delivery_id = sorted(sender.sending)[which % len(sender.sending)]
        delivery = sender.sending.pop(delivery_id)
        sender.lease_until.pop(delivery_id)
        settlement = self._settlement(outcome, name)
        if settlement.published is not None:
            self.on_platform.setdefault(delivery_id, settlement.published)
        record_outcome(self.store, delivery, settlement, now=self.now)
        row = self.store.get(delivery_id)
        assert row is not None
        if settlement.state is DeliveryState.POSTED:
            assert settlement.published is not None
            mine = settlement.published.remote_id
            assert row.state is DeliveryState.POSTED, f"the post {mine} was dropped"
            assert row.remote_id == mine or mine in (row.error or ""), (
                f"the post {mine} was dropped: the row names {row.remote_id}"
            )
        elif row.claimed_by is None and row.state is DeliveryState.SENDING:
            raise AssertionError("a row is sending with nobody's claim")

    def _settlement(self, outcome: str, name: str) -> Settlement:
        if outcome == "posted":
            self.posts += 1
            remote_id = f"{name}-{self.posts}"
            return Settlement(
                state=DeliveryState.POSTED,
                published=Published(remote_id=remote_id, url=f"https://p.example/{remote_id}"),
            )
        if outcome == "retry":
            return Settlement(state=DeliveryState.RETRY, due_at=self.now, error="try again")
        if outcome == "failed":
            return Settlement(state=DeliveryState.FAILED, error="refused")
        return Settlement(state=DeliveryState.UNKNOWN, due_at=self.now, error="timed out")

    @invariant()
    def a_sending_row_has_a_claim_and_a_lease(self) -> None:
        for delivery_id in self.ids:
            row = self.store.get(delivery_id)
            assert row is not None
            if row.state is DeliveryState.SENDING:
                assert row.claimed_by in RUNNERS and row.lease_until is not None


Claims.TestCase.settings = settings(max_examples=200, stateful_step_count=30, deadline=None)
test_claims_under_any_interleaving = Claims.TestCase
test_claims_under_any_interleaving.pytestmark = [pytest.mark.slow]
