"""The schedule (issue 10): spacing, the daily cap, quiet hours, slots and the budget.

First one rule at a time, in the target's time zone and across both DST changes; then
properties over generated schedules, histories and clocks: a target driven the way the
daemon drives it (a lane run every tick, the first due delivery first), checked against
local-time arithmetic of its own, and ``plan_queue`` checked against that simulation.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from bot import policy
from bot.model import Decision, Delivery, DeliveryState, Post, TargetState
from bot.policy import SLOT_OPEN, TargetRules

SEC = timedelta(seconds=1)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
DAY = timedelta(days=1)
BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)  # winter: Berlin is UTC+1
X_POST, X_POST_WITH_URL = 0.015, 0.20  # adapters/twitter/spec.py


def _utc(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def _berlin(*args: int, fold: int = 0) -> datetime:
    """A Berlin wall-clock time, as the UTC instant it is."""
    return datetime(*args, tzinfo=BERLIN, fold=fold).astimezone(UTC)  # type: ignore[misc]


def _state(**changes: object) -> TargetState:
    return replace(TargetState(target="x"), **changes)  # type: ignore[arg-type]


def _delivery(n: int, due_at: datetime | None, **changes: object) -> Delivery:
    base = Delivery(
        id=n,
        entry_id=n,
        feed="blog",
        entry_key=f"k{n}",
        target="x",
        platform="twitter",
        state=DeliveryState.QUEUED,
        post=Post(text=f"post {n}"),
        link=f"https://blog.example/{n}",
        due_at=due_at,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _wait(state: TargetState, rules: TargetRules, at: datetime) -> datetime:
    until, _ = policy.next_slot(state, rules, at)
    return until


# == one rule at a time ===================================================================
# -- quiet hours -------------------------------------------------------------------------
QUIET_NIGHT = TargetRules(quiet_hours=(time(23), time(7)), timezone=BERLIN)


@pytest.mark.parametrize(
    ("clock", "quiet"),
    [
        (time(22, 59), False),
        (time(23, 0), True),
        (time(0, 0), True),
        (time(3, 0), True),
        (time(6, 59, 59), True),
        (time(7, 0), False),
        (time(12, 0), False),
    ],
)
def test_quiet_hours_that_wrap_midnight(clock: time, quiet: bool) -> None:
    at = datetime.combine(date(2026, 12, 1), clock, tzinfo=BERLIN)
    assert policy.in_quiet_hours(at, QUIET_NIGHT) is quiet


@pytest.mark.parametrize(
    ("clock", "quiet"),
    [
        (time(8, 59), False),
        (time(9, 0), True),
        (time(12, 0), True),
        (time(16, 59, 59), True),
        (time(17, 0), False),
        (time(23, 30), False),
        (time(3, 0), False),
    ],
)
def test_quiet_hours_that_do_not_wrap_midnight(clock: time, quiet: bool) -> None:
    rules = TargetRules(quiet_hours=(time(9), time(17)), timezone=BERLIN)
    at = datetime.combine(date(2026, 12, 1), clock, tzinfo=BERLIN)
    assert policy.in_quiet_hours(at, rules) is quiet


def test_quiet_hours_are_local_time() -> None:
    # 06:30 UTC is 07:30 in Berlin in winter: past the end of the night.
    assert not policy.in_quiet_hours(_utc(2026, 12, 1, 6, 30), QUIET_NIGHT)
    assert policy.in_quiet_hours(_utc(2026, 12, 1, 5, 30), QUIET_NIGHT)


def test_a_post_at_2330_in_quiet_hours_waits_until_0700_local() -> None:
    at = _berlin(2026, 12, 1, 23, 30)
    assert policy.target_wait(_state(), QUIET_NIGHT, at) == Decision(
        action="wait", until=_berlin(2026, 12, 2, 7, 0), reason="quiet hours until 07:00"
    )


def test_a_post_after_midnight_in_quiet_hours_waits_until_0700_the_same_day() -> None:
    assert _wait(_state(), QUIET_NIGHT, _berlin(2026, 12, 2, 0, 10)) == _berlin(2026, 12, 2, 7)


def test_a_post_in_daytime_quiet_hours_waits_until_their_end() -> None:
    rules = TargetRules(quiet_hours=(time(9), time(17)), timezone=BERLIN)
    assert _wait(_state(), rules, _berlin(2026, 12, 1, 10)) == _berlin(2026, 12, 1, 17)


def test_quiet_hours_end_exactly_at_their_end() -> None:
    assert policy.target_wait(_state(), QUIET_NIGHT, _berlin(2026, 12, 2, 7)) is None


# -- the daily cap -----------------------------------------------------------------------
CAP_2 = TargetRules(max_per_day=2, timezone=BERLIN)


def test_max_per_day_counts_the_local_day() -> None:
    # 23:30 UTC on 1 December is 00:30 on 2 December in Berlin: a new day, a new count.
    state = policy.record_send(_state(), CAP_2, _utc(2026, 12, 1, 23, 30), cost=0.0)
    assert state.sent_day == "2026-12-02" and state.sent_today == 1
    state = policy.record_send(state, CAP_2, _utc(2026, 12, 2, 8), cost=0.0)
    assert state.sent_day == "2026-12-02" and state.sent_today == 2


def test_max_per_day_reached_waits_for_the_next_local_midnight() -> None:
    state = _state(last_sent_at=_utc(2026, 12, 1, 20), sent_day="2026-12-01", sent_today=2)
    at = _utc(2026, 12, 1, 22, 30)  # 23:30 in Berlin
    assert policy.target_wait(state, CAP_2, at) == Decision(
        action="wait",
        until=_berlin(2026, 12, 2, 0, 0),  # 23:00 UTC
        reason="daily cap reached (2 a day); next day 2026-12-02 00:00 CET",
    )


def test_max_per_day_is_a_new_day_at_2330_utc_in_winter() -> None:
    state = _state(last_sent_at=_utc(2026, 12, 1, 20), sent_day="2026-12-01", sent_today=2)
    assert policy.target_wait(state, CAP_2, _utc(2026, 12, 1, 23, 30)) is None


def test_max_per_day_below_the_cap_sends() -> None:
    state = _state(last_sent_at=_utc(2026, 12, 1, 8), sent_day="2026-12-01", sent_today=1)
    assert policy.target_wait(state, CAP_2, _utc(2026, 12, 1, 12)) is None


def test_no_max_per_day_no_cap() -> None:
    state = _state(last_sent_at=NOW - HOUR, sent_day="2026-12-01", sent_today=500)
    assert policy.target_wait(state, TargetRules(timezone=BERLIN), NOW) is None


def test_daily_cap_then_quiet_hours_then_slots_apply_after_midnight() -> None:
    rules = TargetRules(
        max_per_day=1,
        quiet_hours=(time(0), time(7)),
        slots=(time(6), time(8), time(18)),
        timezone=BERLIN,
    )
    state = _state(last_sent_at=_berlin(2026, 12, 1, 8, 5), sent_day="2026-12-01", sent_today=1)
    # Noon: the cap says midnight, quiet hours say 07:00, the 06:00 slot has closed: 08:00.
    assert policy.target_wait(state, rules, _berlin(2026, 12, 1, 12)) == Decision(
        action="wait", until=_berlin(2026, 12, 2, 8), reason="next slot 08:00"
    )


# -- slots -------------------------------------------------------------------------------
SLOTS = TargetRules(slots=(time(9), time(18)), timezone=BERLIN)


def test_outside_a_slot_waits_for_the_next_one() -> None:
    assert policy.target_wait(_state(), SLOTS, _berlin(2026, 12, 1, 7)) == Decision(
        action="wait", until=_berlin(2026, 12, 1, 9), reason="next slot 09:00"
    )


def test_a_slot_stays_open_for_slot_open_after_its_time() -> None:
    assert policy.target_wait(_state(), SLOTS, _berlin(2026, 12, 1, 9)) is None
    assert policy.target_wait(_state(), SLOTS, _berlin(2026, 12, 1, 9) + SLOT_OPEN - SEC) is None
    assert _wait(_state(), SLOTS, _berlin(2026, 12, 1, 9) + SLOT_OPEN) == _berlin(2026, 12, 1, 18)


def test_a_slot_takes_one_post() -> None:
    state = policy.record_send(_state(), SLOTS, _berlin(2026, 12, 1, 9, 5), cost=0.0)
    assert _wait(state, SLOTS, _berlin(2026, 12, 1, 9, 6)) == _berlin(2026, 12, 1, 18)


def test_a_missed_slot_moves_to_the_next() -> None:
    assert _wait(_state(), SLOTS, _berlin(2026, 12, 1, 9, 45)) == _berlin(2026, 12, 1, 18)
    assert _wait(_state(), SLOTS, _berlin(2026, 12, 1, 18, 30)) == _berlin(2026, 12, 2, 9)


def test_the_last_slot_of_the_day_moves_to_the_first_of_the_next() -> None:
    state = _state(last_sent_at=_berlin(2026, 12, 1, 18, 1))
    assert _wait(state, SLOTS, _berlin(2026, 12, 1, 18, 2)) == _berlin(2026, 12, 2, 9)


def test_spacing_inside_an_open_slot_waits_within_the_slot() -> None:
    rules = replace(SLOTS, slots=(time(9), time(10)), min_interval=45 * MIN)
    state = _state(last_sent_at=_berlin(2026, 12, 1, 9, 20))
    assert policy.target_wait(state, rules, _berlin(2026, 12, 1, 10)) == Decision(
        action="wait",
        until=_berlin(2026, 12, 1, 10, 5),
        reason="spacing until 2026-12-01 10:05 CET",
    )
    assert policy.target_wait(state, rules, _berlin(2026, 12, 1, 10, 5)) is None


def test_spacing_past_the_end_of_a_slot_moves_to_the_next_slot() -> None:
    rules = replace(SLOTS, slots=(time(9), time(10), time(15)), min_interval=HOUR)
    state = _state(last_sent_at=_berlin(2026, 12, 1, 9, 40))  # spaced until 10:40
    assert _wait(state, rules, _berlin(2026, 12, 1, 10)) == _berlin(2026, 12, 1, 15)


# -- DST: Europe/Berlin 2026-03-29 02:00 -> 03:00 and 2026-10-25 03:00 -> 02:00 ----------
SPRING, AUTUMN = date(2026, 3, 29), date(2026, 10, 25)


def test_a_slot_at_a_time_that_comes_twice_opens_once() -> None:
    rules = TargetRules(slots=(time(2, 30),), timezone=BERLIN)
    first, second = _berlin(2026, 10, 25, 2, 30), _berlin(2026, 10, 25, 2, 30, fold=1)
    assert second - first == HOUR
    assert _wait(_state(), rules, _berlin(2026, 10, 25, 0, 0)) == first
    sent = policy.record_send(_state(), rules, first + MIN, cost=0.0)
    assert _wait(sent, rules, second) == _berlin(2026, 10, 26, 2, 30)


@pytest.mark.parametrize("day", [SPRING, AUTUMN], ids=["spring forward", "fall back"])
@pytest.mark.parametrize(
    "rules",
    [
        TargetRules(slots=(time(2, 30),), timezone=BERLIN),
        TargetRules(slots=(time(2), time(2, 30), time(3)), timezone=BERLIN),
        TargetRules(quiet_hours=(time(22), time(2, 30)), timezone=BERLIN),
        TargetRules(quiet_hours=(time(2, 30), time(3)), timezone=BERLIN),
        TargetRules(
            quiet_hours=(time(1), time(2, 30)),
            slots=(time(2, 30), time(3)),
            max_per_day=2,
            min_interval=20 * MIN,
            timezone=BERLIN,
        ),
    ],
    ids=["one slot", "three slots", "quiet to 02:30", "quiet from 02:30", "all"],
)
def test_a_dst_day_minute_by_minute(day: date, rules: TargetRules) -> None:
    """Send whenever allowed, every minute of the day of a DST change and the next:
    never inside quiet hours, never outside a slot, one post per slot, always an answer."""
    at = datetime.combine(day, time(0), tzinfo=BERLIN).astimezone(UTC) - HOUR
    state, sends = _state(), []
    for _ in range(2 * 24 * 60):
        until = _wait(state, rules, at)
        assert until >= at
        if until == at:
            state = policy.record_send(state, rules, at, cost=0.0)
            sends.append(at)
        at += MIN
    assert sends, "nothing sent in two days"
    _check_sends(rules, _state(), [(n, s, 0.0) for n, s in enumerate(sends, 1)])


# -- the budget --------------------------------------------------------------------------
BUDGET = TargetRules(monthly_budget=1.0, timezone=BERLIN)
SPENT = _state(spent_month="2026-12", spent_usd=0.9)


def test_over_budget_says_what_is_spent_and_what_the_post_costs() -> None:
    assert policy.over_budget(SPENT, BUDGET, NOW, cost=0.2) == (
        "budget: 0.90 of 1.00 USD spent this month; this post costs 0.20"
    )


def test_a_post_that_just_fits_the_budget_goes() -> None:
    assert policy.over_budget(SPENT, BUDGET, NOW, cost=0.1) is None


def test_what_was_spent_last_month_does_not_count() -> None:
    assert policy.over_budget(replace(SPENT, spent_month="2026-11"), BUDGET, NOW, cost=0.2) is None


def test_a_free_post_or_no_budget_is_never_over_budget() -> None:
    assert policy.over_budget(SPENT, BUDGET, NOW, cost=0.0) is None
    assert policy.over_budget(SPENT, TargetRules(), NOW, cost=100.0) is None


def test_decide_holds_over_budget_even_by_hand() -> None:
    for manual in (False, True):
        decision = policy.decide(
            _delivery(1, NOW), SPENT, BUDGET, NOW, link_posted=False, manual=manual, cost=0.2
        )
        assert decision.action == "hold" and decision.held_for == "budget"
        assert decision.reason.startswith("budget: 0.90 of 1.00 USD")


def test_record_send_adds_to_the_local_month_and_starts_a_new_one() -> None:
    state = policy.record_send(SPENT, BUDGET, _utc(2026, 12, 31, 12), cost=0.05)
    assert (state.spent_month, round(state.spent_usd, 6)) == ("2026-12", 0.95)
    # 23:30 UTC on 31 December is already January in Berlin.
    state = policy.record_send(state, BUDGET, _utc(2026, 12, 31, 23, 30), cost=0.2)
    assert (state.spent_month, state.spent_usd) == ("2027-01", 0.2)


def test_new_budget_month_starts_the_spend_again() -> None:
    fresh = policy.new_budget_month(replace(SPENT, spent_month="2026-11"), BUDGET, NOW)
    assert fresh == replace(SPENT, spent_month="2026-12", spent_usd=0.0)


def test_new_budget_month_follows_the_local_month() -> None:
    november = replace(SPENT, spent_month="2026-11")
    assert policy.new_budget_month(november, BUDGET, _utc(2026, 11, 30, 22, 59)) is None
    assert policy.new_budget_month(november, BUDGET, _utc(2026, 11, 30, 23, 0)) is not None


@pytest.mark.parametrize(
    ("state", "rules"),
    [
        (SPENT, BUDGET),  # the same month
        (_state(), BUDGET),  # nothing ever spent
        (replace(SPENT, spent_month="2026-11"), TargetRules()),  # no budget
    ],
    ids=["same month", "never spent", "no budget"],
)
def test_new_budget_month_is_none(state: TargetState, rules: TargetRules) -> None:
    assert policy.new_budget_month(state, rules, NOW) is None


# -- planned_at --------------------------------------------------------------------------
JITTERED = TargetRules(delay=10 * MIN, jitter=HOUR)


@pytest.mark.parametrize(
    ("fraction", "after"),
    [(0.0, 10 * MIN), (0.5, 40 * MIN), (0.999, 10 * MIN + HOUR * 0.999), (1.0, 70 * MIN)],
)
def test_planned_at_is_the_delay_plus_its_share_of_the_jitter(
    fraction: float, after: timedelta
) -> None:
    assert policy.planned_at(first_seen_at=NOW, rules=JITTERED, jitter_fraction=fraction) == (
        NOW + after
    )


@given(fraction=st.floats(allow_nan=False))
def test_planned_at_stays_within_the_delay_and_the_jitter(fraction: float) -> None:
    at = policy.planned_at(first_seen_at=NOW, rules=JITTERED, jitter_fraction=fraction)
    assert NOW + JITTERED.delay <= at <= NOW + JITTERED.delay + JITTERED.jitter


def test_planned_at_without_jitter_is_the_delay() -> None:
    rules = TargetRules(delay=HOUR)
    assert policy.planned_at(first_seen_at=NOW, rules=rules, jitter_fraction=0.7) == NOW + HOUR


# -- plan_queue --------------------------------------------------------------------------
def test_plan_queue_keeps_the_order_and_counts_each_planned_send() -> None:
    rules = TargetRules(min_interval=HOUR, timezone=BERLIN)
    waiting = [_delivery(n, NOW) for n in (1, 2, 3)]
    plans = policy.plan_queue(waiting, _state(), rules, NOW, costs={})
    assert [(p.delivery.id, p.at) for p in plans] == [
        (1, NOW),
        (2, NOW + HOUR),
        (3, NOW + 2 * HOUR),
    ]
    assert [p.reason for p in plans] == [
        "due",
        "spacing until 2026-12-01 14:00 CET",
        "spacing until 2026-12-01 15:00 CET",
    ]


def test_plan_queue_holds_over_budget_with_the_reason_and_plans_the_rest() -> None:
    rules = TargetRules(monthly_budget=0.25, timezone=BERLIN)
    waiting = [_delivery(n, NOW + n * MIN) for n in (1, 2, 3)]
    costs = {1: X_POST_WITH_URL, 2: X_POST_WITH_URL, 3: X_POST}
    plans = policy.plan_queue(waiting, _state(), rules, NOW, costs=costs)
    assert [(p.delivery.id, p.at) for p in plans] == [
        (1, NOW + MIN),
        (2, None),
        (3, NOW + 3 * MIN),
    ]
    assert plans[1].reason == "budget: 0.20 of 0.25 USD spent this month; this post costs 0.20"


def test_plan_queue_reports_a_reason_for_every_delivery() -> None:
    rules = TargetRules(quiet_hours=(time(23), time(7)), timezone=BERLIN)
    held = _delivery(1, NOW, state=DeliveryState.HELD, error="waits for approval")
    late = _delivery(2, _berlin(2026, 12, 1, 23, 30))
    plans = policy.plan_queue([held, late], _state(), rules, NOW, costs={})
    assert [(p.delivery.id, p.at, p.reason) for p in plans] == [
        (1, None, "waits for approval"),
        (2, _berlin(2026, 12, 2, 7), "quiet hours until 07:00"),
    ]
    paused = _state(pause_reason="credentials refused: 401", pause_kind="auth")
    plans = policy.plan_queue([late], paused, rules, NOW, costs={})
    assert [(p.at, p.reason) for p in plans] == [(None, "credentials refused: 401")]


# == regressions ==========================================================================
def test_plan_queue_never_plans_a_delivery_before_the_one_ahead_of_it() -> None:
    """Found by test_plan_queue_agrees_with_the_simulated_daemon: with max_per_day=1 and
    three deliveries due now, the second was planned for the next midnight, and the third
    for now again, before the second and over the day's cap: the state after the planned
    send counts only the day of that send, and the third was planned from its due time."""
    rules = TargetRules(max_per_day=1)
    waiting = [_delivery(n, NOW) for n in (1, 2, 3)]
    plans = policy.plan_queue(waiting, _state(), rules, NOW, costs={})
    assert [(p.delivery.id, p.at) for p in plans] == [
        (1, NOW),
        (2, _utc(2026, 12, 2)),
        (3, _utc(2026, 12, 3)),
    ]
    assert plans[2].reason == "daily cap reached (1 a day); next day 2026-12-03 00:00 UTC"


def test_plan_queue_says_a_delivery_waits_for_the_one_ahead_of_it() -> None:
    rules = TargetRules(max_per_day=2)
    state = _state(last_sent_at=NOW - HOUR, sent_day="2026-12-01", sent_today=2)
    waiting = [_delivery(1, NOW), _delivery(2, NOW + 5 * MIN)]
    plans = policy.plan_queue(waiting, state, rules, NOW, costs={})
    reason = "daily cap reached (2 a day); next day 2026-12-02 00:00 UTC"
    assert [(p.at, p.reason) for p in plans] == [(_utc(2026, 12, 2), reason)] * 2


def test_a_slot_at_a_time_the_clocks_skip_opens_when_they_jump() -> None:
    """Found by test_next_slot_is_the_first_moment_the_rules_allow and
    test_the_simulated_daemon_keeps_every_rule: on 2026-03-29 in Berlin (02:00 -> 03:00)
    a 02:30 slot opened at 03:30 CEST, read with the winter offset, an hour after the
    clocks had passed 02:30; from 03:00 to 03:30 the target waited for no rule."""
    rules = TargetRules(slots=(time(2, 30),), timezone=BERLIN)
    jump = _utc(2026, 3, 29, 1, 0)  # 02:00 CET becomes 03:00 CEST
    assert policy.target_wait(_state(), rules, _berlin(2026, 3, 29, 0, 0)) == Decision(
        action="wait", until=jump, reason="next slot 03:00"
    )
    assert policy.target_wait(_state(), rules, jump + SLOT_OPEN - SEC) is None
    sent = policy.record_send(_state(), rules, jump, cost=0.0)
    assert _wait(sent, rules, jump + MIN) == _berlin(2026, 3, 30, 2, 30)  # one post per slot


def test_quiet_hours_ending_at_a_time_the_clocks_skip_end_when_they_jump() -> None:
    """The same: quiet hours 22:00-02:30 lasted until 03:30 CEST on 2026-03-29."""
    rules = TargetRules(quiet_hours=(time(22), time(2, 30)), timezone=BERLIN)
    until, reason = policy.next_slot(_state(), rules, _berlin(2026, 3, 29, 1, 30))
    assert until == _utc(2026, 3, 29, 1, 0) and reason == "quiet hours until 03:00"
    assert not policy.in_quiet_hours(until, rules)
    assert policy.in_quiet_hours(until - SEC, rules)


def test_quiet_hours_ending_at_a_time_that_comes_twice_end_each_time() -> None:
    """Found by test_next_slot_is_the_first_moment_the_rules_allow (with more examples
    than it runs; pinned there): on 2026-10-25 in Berlin (03:00 -> 02:00), quiet hours
    22:00-02:30 end at 02:30 CEST, the clocks go back to 02:00 and the window is quiet
    again; its end was looked for as the first 02:30 only, in the past by then, so the
    target waited for 02:30 the next day, 24 hours instead of 15 minutes."""
    rules = TargetRules(quiet_hours=(time(22), time(2, 30)), timezone=BERLIN)
    first = _berlin(2026, 10, 25, 2, 30)
    assert _wait(_state(), rules, _berlin(2026, 10, 25, 2, 15)) == first
    assert policy.target_wait(_state(), rules, first + 10 * MIN) is None
    second = _berlin(2026, 10, 25, 2, 30, fold=1)
    assert second - first == HOUR
    assert policy.in_quiet_hours(second - 15 * MIN, rules)
    assert policy.target_wait(_state(), rules, second - 15 * MIN) == Decision(
        action="wait", until=second, reason="quiet hours until 02:30"
    )


# == local-time arithmetic of the tests' own ================================================
def _offset(at: datetime, zone: tzinfo) -> timedelta:
    offset = at.astimezone(zone).utcoffset()
    assert offset is not None
    return offset


def _wall(at: datetime, zone: tzinfo) -> datetime:
    """The local wall clock at the UTC instant ``at`` (naive)."""
    return at.replace(tzinfo=None) + _offset(at, zone)


def _seconds_of_day(clock: time) -> int:
    return clock.hour * 3600 + clock.minute * 60 + clock.second


def _quiet(at: datetime, rules: TargetRules) -> bool:
    assert rules.quiet_hours is not None
    start, end = (_seconds_of_day(t) for t in rules.quiet_hours)
    wall = _wall(at, rules.timezone)
    now = _seconds_of_day(wall.time())
    return start <= now < end if start < end else now >= start or now < end


def _first_instant_at(day: date, clock: time, zone: tzinfo) -> datetime:
    """The first UTC instant whose wall clock in ``zone`` reads ``day`` ``clock``: the
    earlier of a time that comes twice; for a time the clocks skip, the jump."""
    naive = datetime.combine(day, clock)
    offsets = {_offset(naive.replace(tzinfo=UTC) + hours * HOUR, zone) for hours in (-30, 30)}
    readings = [naive.replace(tzinfo=UTC) - offset for offset in offsets]
    exact = [at for at in readings if _wall(at, zone) == naive]
    if exact:
        return min(exact)
    low, high = min(readings), max(readings)  # the jump is between the two readings
    while high - low > SEC:
        middle = (low + (high - low) / 2).replace(microsecond=0)
        if _wall(middle, zone) >= naive:
            high = middle
        else:
            low = middle
    return high


def _instants_at(day: date, clock: time, zone: tzinfo) -> list[datetime]:
    """Every instant the wall clock reads ``day`` ``clock``: two when the clocks go back
    over it, the jump when they skip it."""
    naive = datetime.combine(day, clock)
    offsets = {_offset(naive.replace(tzinfo=UTC) + hours * HOUR, zone) for hours in (-30, 30)}
    readings = sorted(naive.replace(tzinfo=UTC) - offset for offset in offsets)
    return [at for at in readings if _wall(at, zone) == naive] or [
        _first_instant_at(day, clock, zone)
    ]


def _allowed(state: TargetState, rules: TargetRules, at: datetime) -> bool:
    """May the target post at ``at``, by the tests' own arithmetic."""
    zone, last = rules.timezone, state.last_sent_at
    wall = _wall(at, zone)
    if last is not None and at - last < rules.min_interval:
        return False
    today = state.sent_day == wall.date().isoformat()
    if rules.max_per_day and today and state.sent_today >= rules.max_per_day:
        return False
    if rules.quiet_hours is not None and _quiet(at, rules):
        return False
    if rules.slots:
        openings = [
            o
            for day in (wall.date() - DAY, wall.date())
            for o in _slot_openings(day, rules.slots, zone)
        ]
        return any(o <= at < o + SLOT_OPEN and (last is None or last < o) for o in openings)
    return True


def _moments_a_rule_opens(
    state: TargetState, rules: TargetRules, start: datetime, end: datetime
) -> list[datetime]:
    """Every moment in [start, end) at which the target may start to be allowed to post:
    ``start``, the end of the spacing, local midnights, ends of quiet hours, slots."""
    zone = rules.timezone
    moments = [start]
    if state.last_sent_at is not None:
        moments.append(state.last_sent_at + rules.min_interval)
    day = _wall(start, zone).date() - DAY
    while _first_instant_at(day, time(0), zone) < end:
        moments.append(_first_instant_at(day, time(0), zone))
        if rules.quiet_hours is not None:
            moments += _instants_at(day, rules.quiet_hours[1], zone)
        moments += _slot_openings(day, rules.slots, zone)
        day += DAY
    return sorted(m for m in moments if start <= m < end)


@cache
def _slot_openings(day: date, slots: tuple[time, ...], zone: tzinfo) -> tuple[datetime, ...]:
    return tuple(sorted(_first_instant_at(day, slot, zone) for slot in slots))


def _check_sends(
    rules: TargetRules,
    before: TargetState,
    sends: list[tuple[int, datetime, float]],
    *,
    dues: dict[int, datetime] | None = None,
) -> None:
    """Every rule of the schedule over ``sends`` (id, at, cost), after the history in
    ``before``, by the tests' own arithmetic."""
    zone = rules.timezone
    last = before.last_sent_at
    per_day: Counter[date] = Counter()
    if before.sent_day is not None:
        per_day[date.fromisoformat(before.sent_day)] = before.sent_today
    spent: Counter[str] = Counter()
    if before.spent_month is not None:
        spent[before.spent_month] = before.spent_usd
    order = [n for n, _, _ in sends]
    assert order == sorted(set(order)), f"sent out of publication order: {order}"
    for n, at, cost in sends:
        wall = _wall(at, zone)
        if dues is not None:
            assert at >= dues[n], f"{n} sent at {at}, before it was due at {dues[n]}"
        if last is not None:
            assert at - last >= rules.min_interval, f"{n} at {at}, {at - last} after {last}"
        if rules.max_per_day:
            per_day[wall.date()] += 1
            assert per_day[wall.date()] <= rules.max_per_day, f"{n} at {wall}: over the cap"
        if rules.quiet_hours is not None:
            assert not _quiet(at, rules), f"{n} at {wall} ({at}): inside quiet hours"
            assert not policy.in_quiet_hours(at, rules), f"{n} at {at}: inside quiet hours"
        if rules.slots:
            openings = [
                o
                for day in (wall.date() - DAY, wall.date())
                for o in _slot_openings(day, rules.slots, zone)
            ]
            # a slot occurrence takes one post: the one that opened after the last send
            used = [o for o in openings if o <= at < o + SLOT_OPEN and (last is None or last < o)]
            assert used, f"{n} at {wall} ({at}): in no open slot, last sent {last}"
        if rules.monthly_budget:
            month = wall.date().isoformat()[:7]
            spent[month] += cost
            assert spent[month] <= rules.monthly_budget + 1e-6, f"{n} at {at}: over budget"
        last = at


def test_the_tests_own_slot_times_across_dst() -> None:
    assert _first_instant_at(SPRING, time(2, 30), BERLIN) == _utc(2026, 3, 29, 1, 0)
    assert _first_instant_at(SPRING, time(3, 0), BERLIN) == _utc(2026, 3, 29, 1, 0)
    assert _first_instant_at(SPRING, time(1, 59), BERLIN) == _utc(2026, 3, 29, 0, 59)
    assert _first_instant_at(AUTUMN, time(2, 30), BERLIN) == _utc(2026, 10, 25, 0, 30)
    assert _first_instant_at(AUTUMN, time(3, 0), BERLIN) == _utc(2026, 10, 25, 2, 0)
    assert _first_instant_at(AUTUMN, time(12), BERLIN) == _utc(2026, 10, 25, 11)
    assert _first_instant_at(date(2026, 7, 1), time(0), ZoneInfo("Asia/Kolkata")) == _utc(
        2026, 6, 30, 18, 30
    )


# == properties over simulated clocks =====================================================
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Sydney", "Asia/Kolkata"]
YEAR_START, YEAR_END = _utc(2026, 1, 1), _utc(2027, 1, 1)
# The daemon's tick (bot.scheduling.DISPATCH_TICK) and slower ones. Each divides a minute or
# is a whole number of minutes that divides every zone's offset (Kolkata: 330 min); the
# schedule's times are then drawn on the same grid, so a tick lands on every moment a rule
# opens, and a delivery that may go is never missed for ever between two ticks.
STEPS = [15 * SEC, 15 * SEC, 20 * SEC, 30 * SEC, MIN, 2 * MIN, 3 * MIN, 5 * MIN]
HORIZON = 20 * DAY  # after the last due time: every delivery is sent or held by then


@cache
def _transitions(name: str) -> tuple[datetime, ...]:
    """The zone's DST changes in 2026 (UTC), found hour by hour."""
    zone = ZoneInfo(name)
    found, at = [], YEAR_START
    while at < YEAR_END:
        if _offset(at, zone) != _offset(at + HOUR, zone):
            found.append(at + HOUR)
        at += HOUR
    return tuple(found)


@dataclass(frozen=True, kw_only=True)
class Schedule:
    rules: TargetRules
    state: TargetState  # what the target has sent before the simulation starts
    start: datetime
    step: timedelta
    dues: tuple[datetime, ...]  # one delivery each, in publication order (ids 1, 2, ...)
    costs: tuple[float, ...]

    def deliveries(self) -> list[Delivery]:
        return [_delivery(n, due) for n, due in enumerate(self.dues, 1)]

    def cost(self, n: int) -> float:
        return self.costs[n - 1]


@st.composite
def schedules(draw: st.DrawFn, *, on_grid: bool = False) -> Schedule:
    """``on_grid``: every due time and the last send of the history on the tick grid too."""
    name = draw(st.sampled_from(ZONES))
    zone = ZoneInfo(name)
    step = draw(st.sampled_from(STEPS))
    grid = max(1, int(step / MIN))  # minutes
    # a time of day, on the grid; often within the hours the clocks change in
    minutes = st.integers(0, 24 * 60 // grid - 1) | st.integers(60 // grid, 4 * 60 // grid - 1)
    clock = minutes.map(lambda k: time(k * grid // 60, k * grid % 60))
    slots = tuple(sorted(draw(st.lists(clock, max_size=4, unique=True))))
    # TargetSettings._slots_fit_the_spacing: min_interval fits between two slots
    times = [datetime.combine(date(2000, 1, 1), slot) for slot in slots]
    gaps = [b - a for a, b in itertools.pairwise([*times, times[0] + DAY])] if slots else []
    longest = min([3 * HOUR, *gaps]) if len(slots) > 1 else 3 * HOUR
    min_interval = draw(st.integers(0, int(longest / MIN) // grid)) * grid * MIN
    quiet = draw(st.none() | st.tuples(clock, clock).filter(lambda q: q[0] != q[1]))
    budget = draw(st.just(0.0) | st.floats(0.1, 2.0))
    rules = TargetRules(
        timezone=zone,
        min_interval=min_interval,
        max_per_day=draw(st.integers(0, 5)),
        quiet_hours=quiet,
        slots=slots,
        monthly_budget=budget,
    )
    transitions = _transitions(name)
    if transitions and draw(st.booleans()):
        around = draw(st.sampled_from(transitions))
        start = around + draw(st.integers(-3 * 24 * 60, 24 * 60) | st.integers(-180, 180)) * MIN
    else:
        start = YEAR_START + draw(st.integers(0, 365 * 24 * 60 - 1)) * MIN
    start -= (start.minute % grid) * MIN  # on the grid
    unit = grid * 60 if on_grid else 1
    count = draw(st.integers(1, 15))
    offsets = sorted(
        draw(st.lists(st.integers(0, 2 * 86400 // unit), min_size=count, max_size=count))
    )
    dues = tuple(start + offset * unit * SEC for offset in offsets)
    state = TargetState(target="x")
    if draw(st.booleans()):
        last = start - draw(st.integers(0, 4 * 3600 // unit)) * unit * SEC
        state = policy.record_send(state, rules, last, cost=0.0)
        state = replace(
            state,
            sent_today=draw(st.integers(1, max(1, rules.max_per_day))),
            spent_usd=draw(st.floats(0, budget)) if budget else 0.0,
        )
    costs = tuple(
        draw(st.lists(st.sampled_from([X_POST, X_POST_WITH_URL]), min_size=count, max_size=count))
    )
    return Schedule(rules=rules, state=state, start=start, step=step, dues=dues, costs=costs)


def _may_ever_post(rules: TargetRules) -> bool:
    """Some slot is open outside quiet hours (the config does not check this)."""
    if rules.quiet_hours is None or not rules.slots:
        return True
    start, end = (t.hour * 60 + t.minute for t in rules.quiet_hours)
    for slot in rules.slots:
        for minute in range(slot.hour * 60 + slot.minute, slot.hour * 60 + slot.minute + 30):
            clock = minute % (24 * 60)
            if not (start <= clock < end if start < end else clock >= start or clock < end):
                return True
    return False


@dataclass(kw_only=True)
class Run:
    """What the simulated daemon did with one target's burst of deliveries."""

    schedule: Schedule
    now: datetime
    state: TargetState
    pending: list[Delivery]
    sends: list[tuple[int, datetime, float]] = field(default_factory=list)
    held: dict[int, tuple[datetime, str]] = field(default_factory=dict)
    waits: int = 0  # lane runs that found the first due delivery waiting

    def sent_at(self) -> dict[int, datetime]:
        return {n: at for n, at, _ in self.sends}


def simulate(schedule: Schedule, *, check_plans: bool = False) -> Run:
    """The dispatcher's lane every tick: the first due delivery is decided (``decide``);
    sent (``record_send``) it lets the next one be decided at once, held it is left, and
    a wait ends the lane run. Ticks in which nothing can change are skipped: the clock
    moves to the first tick at or after the wait's end (checked against the ticks between).

    ``check_plans``: at every lane run, ``plan_queue`` for what is waiting must agree with
    what the lane does now and with the plan of the run before."""
    rules, step = schedule.rules, schedule.step
    run = Run(
        schedule=schedule,
        now=schedule.start,
        state=schedule.state,
        pending=schedule.deliveries(),
    )
    end = schedule.dues[-1] + HORIZON
    previous: dict[int, policy.Planned] = {}
    while run.pending and run.now <= end:
        now = run.now
        plans = _plans(run) if check_plans else {}
        if check_plans:
            _check_plans_against(run, plans, previous)
        until: datetime | None = None
        for delivery in [d for d in run.pending if d.due_at is not None and d.due_at <= now]:
            cost = schedule.cost(delivery.id)
            decision = policy.decide(delivery, run.state, rules, now, link_posted=False, cost=cost)
            if decision.action == "wait":
                assert decision.until is not None and decision.until > now, decision
                assert decision.reason, decision
                until = decision.until
                run.waits += 1
                break
            assert decision.action in ("send", "hold"), decision
            run.pending.remove(delivery)
            if decision.action == "hold":
                assert decision.held_for == "budget" and decision.reason, decision
                run.held[delivery.id] = (now, decision.reason)
                if check_plans:
                    assert plans[delivery.id].at is None
                    assert plans[delivery.id].reason == decision.reason
                continue
            if check_plans:
                _check_planned_for_now(run, delivery.id, plans, previous)
            run.sends.append((delivery.id, now, cost))
            run.state = policy.record_send(run.state, rules, now, cost=cost)
        previous = plans
        if not run.pending:
            break
        # the next lane run that can change anything
        wake = [d.due_at for d in run.pending[:1] if d.due_at is not None and d.due_at > now]
        if until is not None:
            wake.append(until)
        assert wake, "a due delivery the lane did not take"
        ticks = max(1, -(-(min(wake) - now) // step))  # the first tick at or after it
        _check_still_waiting(run, now, ticks)
        run.now = now + ticks * step
    return run


def _check_still_waiting(run: Run, now: datetime, ticks: int) -> None:
    """The ticks skipped would have sent nothing: the first and the last of them."""
    first = run.pending[0]
    assert first.due_at is not None
    for k in {1, ticks - 1} - {0, ticks}:
        at = now + k * run.schedule.step
        if first.due_at <= at:
            wait = policy.target_wait(run.state, run.schedule.rules, at)
            assert wait is not None, f"may send at {at}, skipped from {now} by {ticks} ticks"


def _check_planned_for_now(
    run: Run, n: int, plans: dict[int, policy.Planned], previous: dict[int, policy.Planned]
) -> None:
    """Sent now: planned for now, and, at the lane run before, for a moment in the tick
    before now (never later than it went, never more than one tick earlier)."""
    now, step = run.now, run.schedule.step
    assert plans[n].at == now, (plans[n], now)
    before = previous.get(n)
    if before is None:
        return
    if before.at is None:  # held for the budget of a month that ended within the tick
        month = policy.local_day(now, run.schedule.rules)[:7]
        assert before.reason.startswith("budget: ") and run.state.spent_month != month, before
        return
    assert now - step < before.at <= now, f"{n} sent at {now}, planned for {before.at}"


def _plans(run: Run) -> dict[int, policy.Planned]:
    costs = {d.id: run.schedule.cost(d.id) for d in run.pending}
    plans = policy.plan_queue(run.pending, run.state, run.schedule.rules, run.now, costs=costs)
    assert [p.delivery.id for p in plans] == [d.id for d in run.pending], "plan_queue's order"
    assert all(p.reason for p in plans), plans
    return {p.delivery.id: p for p in plans}


def _check_plans_against(
    run: Run, plans: dict[int, policy.Planned], previous: dict[int, policy.Planned]
) -> None:
    """The planned times keep every rule, and are not later than what the lane does: a
    delivery the previous lane run planned for later goes in the first tick after it."""
    schedule = run.schedule
    planned = [(n, p.at, schedule.cost(n)) for n, p in plans.items() if p.at is not None]
    planned.sort(key=lambda send: send[1])
    dues = dict(enumerate(schedule.dues, 1))
    if _may_ever_post(schedule.rules):  # else next_slot gives up and plans in quiet hours
        _check_sends(schedule.rules, run.state, planned, dues=dues)
    for n, plan in plans.items():
        before = previous.get(n)
        if before is None or before.at is None or plan.at is None:
            continue
        # planned at the last lane run for between then and now: it goes now, or it was
        # planned for a moment that has gone between two ticks (never a tick too early).
        # Planned from hypothetical sends, a chain may start a second off the ticks the
        # real sends took (a delivery due at :01 sent at the :00 tick after a new month
        # released the budget): within a tick is the same plan.
        slack = schedule.step - timedelta(seconds=1)
        assert plan.at >= before.at - slack, f"{n}: planned {before.at}, now planned {plan.at}"


SETTINGS = settings(max_examples=150, deadline=None)
# The minimal examples the properties found (see the regressions above).
PLANNED_BEFORE_THE_ONE_AHEAD = Schedule(
    rules=TargetRules(max_per_day=1),
    state=TargetState(target="x"),
    start=_utc(2026, 1, 1),
    step=15 * SEC,
    dues=(_utc(2026, 1, 1),) * 3,
    costs=(X_POST,) * 3,
)
A_SLOT_THE_CLOCKS_SKIP = Schedule(
    rules=TargetRules(slots=(time(2, 30),), timezone=BERLIN),
    state=TargetState(target="x"),
    start=_utc(2026, 3, 29, 1, 0),
    step=3 * MIN,
    dues=(_utc(2026, 3, 29, 1, 0),),
    costs=(X_POST,),
)
QUIET_HOURS_THAT_END_TWICE = Schedule(
    rules=TargetRules(quiet_hours=(time(22), time(2, 3)), timezone=BERLIN),
    state=TargetState(target="x"),
    start=_utc(2026, 10, 25, 1, 0),
    step=MIN,
    dues=(_utc(2026, 10, 25, 1, 0),),
    costs=(X_POST,),
)


@settings(max_examples=300, deadline=None)
@given(schedules())
@example(A_SLOT_THE_CLOCKS_SKIP)
@example(QUIET_HOURS_THAT_END_TWICE)
def test_next_slot_is_the_first_moment_the_rules_allow(schedule: Schedule) -> None:
    """Never inside a rule, and no later than the first moment every rule allows."""
    state, rules, at = schedule.state, schedule.rules, schedule.start
    until, reason = policy.next_slot(state, rules, at)
    assert until >= at
    assert (until > at) is bool(reason), (until, reason)
    if _may_ever_post(rules):
        assert _allowed(state, rules, until), f"{until} ({reason}) is not allowed"
    for moment in _moments_a_rule_opens(state, rules, at, until):
        assert not _allowed(state, rules, moment), f"waits until {until} ({reason}): {moment}"


@SETTINGS
@given(schedules())
@example(A_SLOT_THE_CLOCKS_SKIP)
def test_the_simulated_daemon_keeps_every_rule(schedule: Schedule) -> None:
    run = simulate(schedule)
    _check_sends(schedule.rules, schedule.state, run.sends, dues=dict(enumerate(schedule.dues, 1)))
    assert all(n not in run.sent_at() for n in run.held)


@SETTINGS
@given(schedules())
def test_every_delivery_is_sent_or_held_with_a_reason(schedule: Schedule) -> None:
    run = simulate(schedule)
    if _may_ever_post(schedule.rules):
        assert not run.pending, f"still waiting at {run.now}: {[d.id for d in run.pending]}"
    else:  # slots all inside quiet hours: nothing ever goes, but it says why
        wait = policy.target_wait(run.state, schedule.rules, run.now)
        assert run.pending and wait is not None and wait.reason
    assert len(run.sends) + len(run.held) + len(run.pending) == len(schedule.dues)
    assert all(reason.startswith("budget: ") for _, reason in run.held.values())


@SETTINGS
@given(schedules())
@example(PLANNED_BEFORE_THE_ONE_AHEAD)
def test_plan_queue_agrees_with_the_simulated_daemon(schedule: Schedule) -> None:
    """At every lane run the plan keeps every rule, plans for now exactly what the lane
    sends now, and planned each send at the run before for a moment within the tick
    before it; and nothing goes before the time planned for it at the start.

    Not asserted with a budget: across a new month the plan does not foresee the budget
    being released, so it may plan later or earlier than the lane sends (the lane decides
    at claim time; the safety properties hold there). A known gap of ``schedule``."""
    assume(not schedule.rules.monthly_budget)
    run = simulate(schedule, check_plans=True)
    plans = policy.plan_queue(
        schedule.deliveries(),
        schedule.state,
        schedule.rules,
        schedule.start,
        costs={n: schedule.cost(n) for n in range(1, len(schedule.dues) + 1)},
    )
    sent = run.sent_at()
    for plan in plans:
        n = plan.delivery.id
        if plan.at is None:
            continue
        if n in sent:
            assert sent[n] >= plan.at, (n, plan, sent[n])


@SETTINGS
@given(schedules(on_grid=True))
@example(PLANNED_BEFORE_THE_ONE_AHEAD)
@example(A_SLOT_THE_CLOCKS_SKIP)
def test_plan_queue_on_the_tick_grid_is_what_the_daemon_does(schedule: Schedule) -> None:
    """With every time on the tick grid, the lane sends each delivery at the tick it was
    planned for at the start, and holds the ones planned as held, for the same reason."""
    assume(_may_ever_post(schedule.rules))  # else plan_queue plans what never comes
    run = simulate(schedule)
    plans = policy.plan_queue(
        schedule.deliveries(),
        schedule.state,
        schedule.rules,
        schedule.start,
        costs={n: schedule.cost(n) for n in range(1, len(schedule.dues) + 1)},
    )
    sent = run.sent_at()
    for plan in plans:
        n = plan.delivery.id
        if plan.at is None:
            assert n in run.held and run.held[n][1] == plan.reason, (plan, run.held.get(n))
        elif plan.at <= run.now:
            assert sent.get(n) == plan.at, (plan, sent.get(n))
