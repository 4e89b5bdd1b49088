"""The policy: every rule a one-line test, then properties over simulated histories.

The second half drives a small engine, in memory, through the policy functions only, the
way ``Dispatcher.run_lane`` and ``SqlStore.claim_due`` / ``SqlStore.settle`` do, against a
platform whose answers Hypothesis makes up, and checks what must hold whatever it answers.
"""

from __future__ import annotations

import itertools
from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

from bot import policy
from bot.errors import (
    AllowanceError,
    AuthError,
    CannotResendError,
    DuplicatePostError,
    OutcomeUnknownError,
    PostRejectedError,
    PublishError,
    RateLimitedError,
    TransientError,
)
from bot.model import (
    Decision,
    Delivery,
    DeliveryState,
    FeedState,
    Post,
    Published,
    Settlement,
    TargetState,
)
from bot.policy import TargetRules
from bot.store.sql import TARGET_CHANGES, _apply, _sent

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
RULES = TargetRules(min_interval=30 * MIN, max_attempts=3, credentials_hash="creds-1")


def _delivery(**changes: object) -> Delivery:
    base = Delivery(
        id=1,
        entry_id=1,
        feed="blog",
        entry_key="k1",
        target="x",
        platform="twitter",
        state=DeliveryState.QUEUED,
        post=Post(text="hello"),
        link="https://blog.example/1",
        due_at=NOW,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def _state(**changes: object) -> TargetState:
    return replace(TargetState(target="x"), **changes)  # type: ignore[arg-type]


def _feed(**changes: object) -> FeedState:
    return replace(FeedState(name="blog", url="https://blog.example/feed"), **changes)  # type: ignore[arg-type]


# == plain rules ==========================================================================
# -- target_wait -------------------------------------------------------------------------
def test_a_pause_with_an_end_holds_until_then() -> None:
    state = _state(paused_until=NOW + HOUR, pause_reason="paused by the operator")
    assert policy.target_wait(state, RULES, NOW) == Decision(
        action="wait", until=NOW + HOUR, reason="paused by the operator"
    )


def test_a_pause_with_an_end_is_over_at_its_end() -> None:
    state = _state(paused_until=NOW, pause_reason="paused by the operator")
    assert policy.target_wait(state, RULES, NOW) is None


def test_a_pause_without_an_end_holds_with_no_until() -> None:
    state = _state(pause_reason="credentials refused: 401", pause_kind="auth")
    assert policy.target_wait(state, RULES, NOW + 1000 * HOUR) == Decision(
        action="wait", until=None, reason="credentials refused: 401"
    )


def test_a_rate_limit_holds_until_its_reset() -> None:
    state = _state(rate_limited_until=NOW + 5 * MIN)
    wait = policy.target_wait(state, RULES, NOW)
    assert wait is not None and wait.action == "wait" and wait.until == NOW + 5 * MIN
    assert wait.reason == "rate limited until 2026-12-01 12:05 UTC"


def test_a_rate_limit_is_over_at_its_reset() -> None:
    assert policy.target_wait(_state(rate_limited_until=NOW), RULES, NOW) is None


def test_min_interval_spaces_two_sends() -> None:
    state = _state(last_sent_at=NOW - 10 * MIN)
    assert policy.target_wait(state, RULES, NOW) == Decision(
        action="wait", until=NOW + 20 * MIN, reason="spacing until 2026-12-01 12:20 UTC"
    )


def test_min_interval_is_over_after_exactly_min_interval() -> None:
    assert policy.target_wait(_state(last_sent_at=NOW - 30 * MIN), RULES, NOW) is None


def test_no_min_interval_no_spacing() -> None:
    rules = replace(RULES, min_interval=timedelta(0))
    assert policy.target_wait(_state(last_sent_at=NOW), rules, NOW) is None


def test_nothing_sent_yet_no_spacing() -> None:
    assert policy.target_wait(_state(), RULES, NOW) is None


def test_manual_bypasses_spacing() -> None:
    assert policy.target_wait(_state(last_sent_at=NOW), RULES, NOW, manual=True) is None


def test_manual_does_not_bypass_a_pause() -> None:
    state = _state(pause_reason="paused by the operator", pause_kind="operator")
    wait = policy.target_wait(state, RULES, NOW, manual=True)
    assert wait is not None and wait.action == "wait"


def test_manual_does_not_bypass_a_rate_limit() -> None:
    wait = policy.target_wait(_state(rate_limited_until=NOW + MIN), RULES, NOW, manual=True)
    assert wait is not None and wait.until == NOW + MIN


# -- decide ------------------------------------------------------------------------------
def test_decide_sends_when_nothing_holds_the_target() -> None:
    assert policy.decide(_delivery(), _state(), RULES, NOW, link_posted=False) == Decision(
        action="send"
    )


def test_decide_skips_a_link_posted_to_the_target_before() -> None:
    decision = policy.decide(_delivery(), _state(), RULES, NOW, link_posted=True)
    assert decision.action == "skip"
    assert decision.reason == "this link was posted to this target before"


def test_decide_sends_a_link_posted_before_when_manual() -> None:
    decision = policy.decide(_delivery(), _state(), RULES, NOW, link_posted=True, manual=True)
    assert decision.action == "send"


def test_decide_waits_rather_than_skips_while_the_target_waits() -> None:
    state = _state(rate_limited_until=NOW + MIN)
    assert policy.decide(_delivery(), state, RULES, NOW, link_posted=True).action == "wait"


# -- pause_lifted ------------------------------------------------------------------------
def test_an_auth_pause_lifts_when_the_credentials_change() -> None:
    state = _state(pause_reason="credentials refused", pause_kind="auth", credentials_hash="old")
    assert policy.pause_lifted(state, RULES)


def test_an_auth_pause_stays_with_the_same_credentials() -> None:
    state = _state(pause_reason="refused", pause_kind="auth", credentials_hash="creds-1")
    assert not policy.pause_lifted(state, RULES)


def test_an_operator_pause_does_not_lift_on_new_credentials() -> None:
    state = _state(pause_reason="paused", pause_kind="operator", credentials_hash="old")
    assert not policy.pause_lifted(state, RULES)


def test_an_auth_pause_without_a_recorded_hash_does_not_lift() -> None:
    state = _state(pause_reason="refused", pause_kind="auth", credentials_hash=None)
    assert not policy.pause_lifted(state, RULES)


def test_an_auth_pause_does_not_lift_when_the_target_has_no_credentials_hash() -> None:
    state = _state(pause_reason="refused", pause_kind="auth", credentials_hash="old")
    assert not policy.pause_lifted(state, replace(RULES, credentials_hash=""))


# -- retry_delay -------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("attempts", "delay"),
    [
        (0, MIN),
        (1, MIN),
        (2, 5 * MIN),
        (3, 15 * MIN),
        (4, HOUR),
        (5, 3 * HOUR),
        (6, 6 * HOUR),
        (7, 6 * HOUR),
        (100, 6 * HOUR),
    ],
)
def test_retry_delay(attempts: int, delay: timedelta) -> None:
    assert policy.retry_delay(attempts) == delay


def test_retry_delay_never_shrinks() -> None:
    delays = [policy.retry_delay(n) for n in range(-1, 50)]
    assert delays == sorted(delays)


# -- after_publish / after_duplicate -----------------------------------------------------
def test_after_publish_is_posted_where_it_went() -> None:
    published = Published(remote_id="42", url="https://x.example/42")
    assert policy.after_publish(published) == Settlement(
        state=DeliveryState.POSTED,
        published=published,
        lifts_pause=frozenset(policy.RECHECK_AFTER),
    )


def test_after_duplicate_is_posted_with_the_existing_post() -> None:
    existing = Published(remote_id="41")
    settlement = policy.after_duplicate(existing, "Status is a duplicate")
    assert settlement.state is DeliveryState.POSTED and settlement.published == existing
    assert settlement.error == "already on the platform: Status is a duplicate"


def test_after_duplicate_is_posted_even_when_the_existing_post_is_not_found() -> None:
    settlement = policy.after_duplicate(None, "dup")
    assert settlement.state is DeliveryState.POSTED
    assert settlement.published == Published(remote_id="")


# -- after_error -------------------------------------------------------------------------
def test_auth_error_holds_the_row_for_the_credentials_and_pauses_the_target() -> None:
    settlement = policy.after_error(AuthError("401 Unauthorized"), attempts=1, rules=RULES, now=NOW)
    assert settlement == Settlement(
        state=DeliveryState.HELD,
        error="401 Unauthorized",
        held_for="credentials",
        pause_kind="auth",
        pause_reason="credentials refused: 401 Unauthorized",
        credentials_hash="creds-1",
        void_attempt=True,  # nothing was made: the attempt does not count
    )


def test_auth_error_on_the_last_attempt_still_holds_and_pauses() -> None:
    settlement = policy.after_error(AuthError("401"), attempts=3, rules=RULES, now=NOW)
    assert settlement.pause_kind == "auth" and settlement.state is DeliveryState.HELD


def test_posts_held_for_credentials_go_once_the_target_is_not_paused_for_them() -> None:
    assert not policy.release_held_for_pause(_state(pause_reason="refused", pause_kind="auth"))
    assert policy.release_held_for_pause(_state())
    assert policy.release_held_for_pause(_state(pause_reason="paused", pause_kind="operator"))


def test_unpaused_forgets_the_pause_and_the_refused_credentials() -> None:
    state = _state(
        pause_reason="refused", pause_kind="auth", credentials_hash="old", paused_until=NOW
    )
    assert policy.unpaused(state) == _state()


def test_a_rejected_post_fails() -> None:
    settlement = policy.after_error(PostRejectedError("too long"), attempts=1, rules=RULES, now=NOW)
    assert settlement == Settlement(state=DeliveryState.FAILED, error="too long")


@pytest.mark.parametrize("attempts", [1, 2])
def test_a_transient_error_retries_after_the_backoff(attempts: int) -> None:
    settlement = policy.after_error(TransientError("503"), attempts=attempts, rules=RULES, now=NOW)
    assert settlement == Settlement(
        state=DeliveryState.RETRY, error="503", due_at=NOW + policy.retry_delay(attempts)
    )


@pytest.mark.parametrize("attempts", [3, 4])
def test_a_transient_error_gives_up_at_max_attempts(attempts: int) -> None:
    settlement = policy.after_error(TransientError("503"), attempts=attempts, rules=RULES, now=NOW)
    assert settlement == Settlement(
        state=DeliveryState.FAILED, error=f"gave up after {attempts} attempts: 503"
    )


def test_a_rate_limit_retries_at_its_reset_and_holds_the_target() -> None:
    error = RateLimitedError("429", retry_at=NOW + 15 * MIN)
    assert policy.after_error(error, attempts=1, rules=RULES, now=NOW) == Settlement(
        state=DeliveryState.RETRY,
        error="429",
        due_at=NOW + 15 * MIN,
        rate_limited_until=NOW + 15 * MIN,
    )


def test_a_rate_limit_whose_reset_has_passed_retries_now() -> None:
    error = RateLimitedError("429", retry_at=NOW - MIN)
    settlement = policy.after_error(error, attempts=1, rules=RULES, now=NOW)
    assert settlement.due_at == NOW and settlement.rate_limited_until == NOW


def test_an_unknown_outcome_is_looked_up_now() -> None:
    settlement = policy.after_error(
        OutcomeUnknownError("timeout"), attempts=1, rules=RULES, now=NOW
    )
    assert settlement == Settlement(state=DeliveryState.UNKNOWN, error="timeout", due_at=NOW)


def test_an_unknown_outcome_on_the_last_attempt_is_still_looked_up() -> None:
    settlement = policy.after_error(
        OutcomeUnknownError("timeout"), attempts=3, rules=RULES, now=NOW
    )
    assert settlement.state is DeliveryState.UNKNOWN


def test_a_duplicate_through_after_error_is_still_done_not_lost() -> None:
    # The dispatcher catches DuplicatePostError first (after_duplicate, with the existing
    # post); through after_error it is the same answer: the platform has it.
    settlement = policy.after_error(DuplicatePostError("dup"), attempts=1, rules=RULES, now=NOW)
    assert settlement.state is DeliveryState.POSTED


# -- lane_step ---------------------------------------------------------------------------
def test_a_lane_posts_what_may_go_before_it_looks_anything_up() -> None:
    assert policy.lane_step(may_post=True, lookups_left=20, owed=0) == "post"


def test_after_a_post_the_lane_makes_the_look_ups_it_owes_before_the_next_post() -> None:
    assert policy.lane_step(may_post=True, lookups_left=20, owed=1) == "look up"
    assert policy.lane_step(may_post=True, lookups_left=0, owed=3) == "post"


def test_once_nothing_may_go_the_lane_makes_the_rest_of_its_look_ups_then_stops() -> None:
    assert policy.lane_step(may_post=False, lookups_left=2, owed=0) == "look up"
    assert policy.lane_step(may_post=False, lookups_left=0, owed=0) == "done"


def test_a_long_run_of_posts_interleaves_a_batch_of_look_ups_after_each_post() -> None:
    steps, owed, left, posts = [], 0, policy.LOOKUPS_PER_RUN, 10
    while (step := policy.lane_step(may_post=posts > 0, lookups_left=left, owed=owed)) != "done":
        steps.append(step)
        if step == "post":
            posts, owed = posts - 1, policy.LOOKUPS_AFTER_POST
        else:
            left, owed = left - 1, max(owed - 1, 0)
    batch = ["post"] + ["look up"] * policy.LOOKUPS_AFTER_POST
    runs = policy.LOOKUPS_PER_RUN // policy.LOOKUPS_AFTER_POST
    assert steps[: len(batch) * runs] == batch * runs
    assert steps.count("post") == 10 and steps.count("look up") == policy.LOOKUPS_PER_RUN


# -- after_lookup / after_failed_lookup --------------------------------------------------
def test_a_lookup_that_finds_the_post_settles_it_posted() -> None:
    found = Published(remote_id="7")
    settlement = policy.after_lookup(
        _delivery(state=DeliveryState.UNKNOWN, attempts=1), found, rules=RULES, now=NOW
    )
    assert settlement == Settlement(
        state=DeliveryState.POSTED,
        published=found,
        error="found on the platform after an unknown outcome",
    )


def test_a_lookup_that_does_not_find_the_post_retries_after_the_backoff() -> None:
    delivery = _delivery(state=DeliveryState.UNKNOWN, attempts=2, error="timeout")
    assert policy.after_lookup(delivery, None, rules=RULES, now=NOW) == Settlement(
        state=DeliveryState.RETRY,
        error="not on the platform after: timeout",
        due_at=NOW + policy.retry_delay(2),
    )


def test_a_lookup_that_does_not_find_the_post_gives_up_at_max_attempts() -> None:
    delivery = _delivery(state=DeliveryState.UNKNOWN, attempts=3, error="timeout")
    assert policy.after_lookup(delivery, None, rules=RULES, now=NOW) == Settlement(
        state=DeliveryState.FAILED, error="gave up after 3 attempts: timeout"
    )


def test_not_found_twice_does_not_repeat_the_prefix() -> None:
    delivery = _delivery(attempts=1, error="not on the platform after: timeout")
    settlement = policy.after_lookup(delivery, None, rules=RULES, now=NOW)
    assert settlement.error == "not on the platform after: timeout"


def test_a_failed_lookup_stays_unknown_and_looks_again_later() -> None:
    delivery = _delivery(state=DeliveryState.UNKNOWN, attempts=2)
    settlement = policy.after_failed_lookup(delivery, TransientError("502"), now=NOW)
    assert settlement.state is DeliveryState.UNKNOWN
    assert settlement.due_at == NOW + policy.retry_delay(2)
    assert settlement.error == (
        "cannot check the platform yet (502); looking again at 2026-12-01 12:05 UTC"
    )


# -- feeds -------------------------------------------------------------------------------
URL = "https://blog.example/feed"


def test_a_new_feed_is_due() -> None:
    assert policy.feed_due(None, URL, NOW)


def test_a_feed_whose_url_changed_is_due_even_when_gone_or_checked_later() -> None:
    state = _feed(gone=True, next_check_at=NOW + HOUR)
    assert policy.feed_due(state, "https://blog.example/new-feed", NOW)


def test_a_gone_feed_is_not_due() -> None:
    assert not policy.feed_due(_feed(gone=True, next_check_at=NOW - HOUR), URL, NOW)


def test_a_feed_never_checked_is_due() -> None:
    assert policy.feed_due(_feed(next_check_at=None), URL, NOW)


def test_a_feed_whose_next_check_is_now_or_past_is_due() -> None:
    assert policy.feed_due(_feed(next_check_at=NOW), URL, NOW)
    assert policy.feed_due(_feed(next_check_at=NOW - MIN), URL, NOW)


def test_a_feed_whose_next_check_is_in_the_future_is_not_due() -> None:
    assert not policy.feed_due(_feed(next_check_at=NOW + MIN), URL, NOW)


def test_the_next_poll_is_when_the_first_feed_is_due() -> None:
    """Issue 19, item 13: the daemon polls when a feed is due, not on a 30-second tick."""
    states = {
        "a": _feed(name="a", next_check_at=NOW + 10 * MIN),
        "b": _feed(name="b", next_check_at=NOW + timedelta(seconds=90)),
        "gone": _feed(name="gone", gone=True, next_check_at=NOW + MIN),
    }
    urls = dict.fromkeys(states, URL)
    assert policy.next_poll_at(states, urls, NOW) == NOW + timedelta(seconds=90)
    assert policy.next_poll_at({**states, "new": None}, {**urls, "new": URL}, NOW) == NOW
    moved = {**urls, "a": "https://blog.example/moved"}
    assert policy.next_poll_at(states, moved, NOW) == NOW  # its url changed: due now
    assert policy.next_poll_at({"gone": states["gone"]}, {"gone": URL}, NOW) is None
    assert policy.next_poll_at({}, {}, NOW) is None


@pytest.mark.parametrize(
    ("jitter", "after"),
    [(0.0, 10 * MIN), (1.0, 11 * MIN), (-1.0, 9 * MIN), (5.0, 11 * MIN), (-5.0, 9 * MIN)],
)
def test_next_check_moves_by_at_most_ten_percent(jitter: float, after: timedelta) -> None:
    assert policy.next_check(10 * MIN, NOW, jitter=jitter) == NOW + after


@given(
    interval=st.integers(1, 7 * 24 * 3600).map(lambda s: timedelta(seconds=s)),
    jitter=st.floats(-10, 10, allow_nan=False),
)
def test_next_check_stays_within_its_jitter_bounds(interval: timedelta, jitter: float) -> None:
    at = policy.next_check(interval, NOW, jitter=jitter)
    slack = timedelta(microseconds=1)  # timedelta * float rounds to the microsecond
    assert NOW + interval * 0.9 - slack <= at <= NOW + interval * 1.1 + slack


@pytest.mark.parametrize(
    ("errors", "backoff"), [(0, 10 * MIN), (1, 10 * MIN), (2, 20 * MIN), (3, 40 * MIN)]
)
def test_next_check_after_error_doubles(errors: int, backoff: timedelta) -> None:
    assert policy.next_check_after_error(10 * MIN, errors, NOW, retry_at=None) == NOW + backoff


def test_next_check_after_error_caps_at_six_hours() -> None:
    assert policy.next_check_after_error(HOUR, 4, NOW, retry_at=None) == NOW + 6 * HOUR
    assert policy.next_check_after_error(HOUR, 10_000, NOW, retry_at=None) == NOW + 6 * HOUR


def test_next_check_after_error_caps_at_the_interval_when_longer() -> None:
    assert policy.next_check_after_error(8 * HOUR, 3, NOW, retry_at=None) == NOW + 8 * HOUR


def test_next_check_after_error_follows_a_later_retry_after() -> None:
    later = NOW + 2 * HOUR
    assert policy.next_check_after_error(10 * MIN, 1, NOW, retry_at=later) == later


def test_next_check_after_error_ignores_an_earlier_retry_after() -> None:
    at = policy.next_check_after_error(10 * MIN, 2, NOW, retry_at=NOW + MIN)
    assert at == NOW + 20 * MIN


def test_a_healthy_feed_checked_too_far_ahead_is_pulled_back() -> None:
    state = _feed(next_check_at=NOW + 3 * HOUR)
    assert policy.pulled_back(state, HOUR, NOW) == NOW + HOUR


def test_a_feed_checked_within_one_interval_is_not_pulled_back() -> None:
    assert policy.pulled_back(_feed(next_check_at=NOW + HOUR), HOUR, NOW) is None


def test_a_feed_checked_within_one_interval_and_its_jitter_is_not_pulled_back() -> None:
    """A restart does not undo the spread of the feeds' checks (nor write them all)."""
    jittered = policy.next_check(HOUR, NOW, jitter=1.0)
    assert jittered > NOW + HOUR
    assert policy.pulled_back(_feed(next_check_at=jittered), HOUR, NOW) is None
    later = jittered + timedelta(seconds=1)
    assert policy.pulled_back(_feed(next_check_at=later), HOUR, NOW) == NOW + HOUR


@pytest.mark.parametrize(
    "state",
    [
        _feed(next_check_at=NOW + 3 * HOUR, gone=True),
        _feed(next_check_at=NOW + 3 * HOUR, error_count=2),
        _feed(next_check_at=None),
    ],
    ids=["gone", "in backoff", "never checked"],
)
def test_only_a_healthy_feed_is_pulled_back(state: FeedState) -> None:
    assert policy.pulled_back(state, HOUR, NOW) is None


def test_too_old() -> None:
    assert policy.too_old(NOW - 3 * HOUR, 2 * HOUR, NOW)
    assert not policy.too_old(NOW - 2 * HOUR, 2 * HOUR, NOW)
    assert not policy.too_old(NOW - HOUR, 2 * HOUR, NOW)


def test_too_old_is_off_at_zero_and_without_a_date() -> None:
    assert not policy.too_old(NOW - 1000 * HOUR, timedelta(0), NOW)
    assert not policy.too_old(None, HOUR, NOW)


def test_is_flood() -> None:
    assert policy.is_flood(6, 5)
    assert not policy.is_flood(5, 5)


def test_an_entry_looks_redated_when_both_its_dates_are_a_day_before_the_newest_known() -> None:
    newest = datetime(2026, 12, 1, 12, tzinfo=UTC)
    day = timedelta(days=1)
    assert policy.looks_redated(newest - 2 * day, newest - 2 * day, newest)
    assert policy.looks_redated(newest - 2 * day, None, newest)
    assert policy.looks_redated(None, None, newest)  # no date: cannot be told apart
    assert not policy.looks_redated(newest - 2 * day, newest, newest)  # updated recently
    assert not policy.looks_redated(newest - day / 2, None, newest)  # within the day
    assert not policy.looks_redated(newest - 30 * day, None, None)  # nothing known yet


def test_is_flood_is_off_at_zero() -> None:
    assert not policy.is_flood(10_000, 0)


# == regressions ==========================================================================
def test_a_rate_limit_on_the_last_attempt_still_holds_the_target() -> None:
    """Found by test_never_sent_while_rate_limited_or_paused: with max_attempts=1 and two
    rows, the first answered 429 (reset in 1 s) gave up without recording the limit, and
    the second was sent at once, before the reset."""
    error = RateLimitedError("429", retry_at=NOW + 15 * MIN)
    assert policy.after_error(error, attempts=3, rules=RULES, now=NOW) == Settlement(
        state=DeliveryState.FAILED,
        error="gave up after 3 attempts: 429",
        rate_limited_until=NOW + 15 * MIN,
    )


def test_refused_credentials_pause_the_target_after_an_expired_operator_pause() -> None:
    """Found by test_never_sent_while_rate_limited_or_paused: `feedrelay pause x 1h` leaves
    paused_until (then past) on the state; the auth Settlement sets pause_reason and
    pause_kind but cannot clear paused_until, so paused_at() was False and every queued
    row went out against the refused credentials, one failure each."""
    expired = TargetState(
        target="x",
        pause_reason="paused by the operator",
        pause_kind="operator",
        paused_until=NOW - HOUR,
    )
    settlement = policy.after_error(AuthError("401"), attempts=1, rules=RULES, now=NOW)
    changes = {
        n: getattr(settlement, n) for n in TARGET_CHANGES if getattr(settlement, n) is not None
    }
    refused = _apply(expired, changes)  # as SqlStore.settle applies it
    assert policy.target_wait(refused, RULES, NOW) == Decision(
        action="wait", until=None, reason="credentials refused: 401"
    )
    assert policy.target_wait(refused, RULES, NOW, manual=True) is not None


# == properties over simulated histories ==================================================
# -- what the platform answers -----------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Answer:
    latency: timedelta = timedelta(0)  # how long the request takes: the clock moves on


@dataclass(frozen=True, kw_only=True)
class Success(Answer):
    pass


@dataclass(frozen=True, kw_only=True)
class Duplicate(Answer):
    pass


@dataclass(frozen=True, kw_only=True)
class ServerError(Answer):
    pass


@dataclass(frozen=True, kw_only=True)
class RateLimited(Answer):
    reset: timedelta  # after the request


@dataclass(frozen=True, kw_only=True)
class Unknown(Answer):
    applied: bool  # did the platform create the post after all?
    failed_lookups: int  # look-ups that cannot tell before one answers truthfully


@dataclass(frozen=True, kw_only=True)
class Refused(Answer):
    resume_after: timedelta  # until the operator resumes (or fixes the credentials)
    new_credentials: bool


@dataclass(frozen=True, kw_only=True)
class Tick:
    step: timedelta  # the clock moves, then the daemon runs the lane
    manual: int | None = None  # ... or an operator's `feedrelay post` for this row


@dataclass(frozen=True, kw_only=True)
class History:
    rules: TargetRules
    state: TargetState  # as persisted before the simulation starts
    links: tuple[str, ...]  # one delivery each, due at NOW + its offset
    offsets: tuple[timedelta, ...]
    answers: tuple[Answer, ...]  # one per attempt, then Success for ever
    ticks: tuple[Tick, ...]


@dataclass(frozen=True, kw_only=True)
class Send:
    id: int
    at: datetime
    attempt: int  # the delivery's attempts, this one included
    manual: bool
    answer: Answer


@dataclass(frozen=True, kw_only=True)
class Settled:
    id: int
    at: datetime
    settlement: Settlement
    answer: Answer | None  # None: a look-up


@dataclass(kw_only=True)
class Sim:
    """One target's lane, its rows and its state, and what the platform saw."""

    rules: TargetRules
    state: TargetState
    rows: dict[int, Delivery]
    answers: list[Answer]
    now: datetime
    sends: list[Send] = field(default_factory=list)
    settled: list[Settled] = field(default_factory=list)
    on_platform: Counter[int] = field(default_factory=Counter)
    failed_lookups: dict[int, int] = field(default_factory=dict)
    resumes: list[tuple[datetime, bool]] = field(default_factory=list)  # (at, new credentials)
    # The truth, as (the last send before, until): the platform refuses the credentials
    # or the operator paused the target; the platform's rate limits.
    paused: list[tuple[int, datetime]] = field(default_factory=list)
    resets: list[tuple[int, datetime]] = field(default_factory=list)

    # -- Dispatcher.run_lane -------------------------------------------------------------
    def run_lane(self, *, only: set[int] | None = None, manual: bool = False) -> None:
        self._operator()
        if policy.pause_lifted(self.state, self.rules):  # Dispatcher._lift_stale_pause
            self.state = replace(
                self.state,
                paused_until=None,
                pause_reason=None,
                pause_kind=None,
                credentials_hash=None,
            )
        unknown = [
            d
            for d in self._rows((DeliveryState.UNKNOWN,))[: policy.LOOKUPS_PER_RUN]
            if only is None or d.id in only
        ]
        may_post, owed = True, 0
        while True:  # in the order policy.lane_step gives
            step = policy.lane_step(may_post=may_post, lookups_left=len(unknown), owed=owed)
            if step == "look up":
                self._look_up(unknown.pop(0))
                may_post, owed = True, max(owed - 1, 0)
            elif step == "post" and (claimed := self._claim_due(only, manual)) is not None:
                self._send(claimed, manual)
                owed = policy.LOOKUPS_AFTER_POST
            elif step == "post":
                may_post = False
            else:
                return

    def _operator(self) -> None:
        for at, new_credentials in [r for r in self.resumes if r[0] <= self.now]:
            self.resumes.remove((at, new_credentials))
            if new_credentials:  # the operator fixed the config: a new hash
                self.rules = replace(self.rules, credentials_hash=self.rules.credentials_hash + "'")
            elif self.state.pause_reason is not None:  # App.resume
                self.state = replace(
                    self.state,
                    paused_until=None,
                    pause_reason=None,
                    pause_kind=None,
                    credentials_hash=None,
                )

    def _look_up(self, delivery: Delivery) -> None:
        if self.failed_lookups.get(delivery.id, 0) > 0:
            self.failed_lookups[delivery.id] -= 1
            error = TransientError("502 while searching")
            settlement = policy.after_failed_lookup(delivery, error, now=self.now)
        else:
            found = Published(remote_id=str(delivery.id)) if self.on_platform[delivery.id] else None
            settlement = policy.after_lookup(delivery, found, rules=self.rules, now=self.now)
        self._settle(delivery, settlement, None)

    def _rows(self, states: tuple[DeliveryState, ...]) -> list[Delivery]:
        rows = [
            d
            for d in self.rows.values()
            if d.state in states and d.due_at is not None and d.due_at <= self.now
        ]
        return sorted(rows, key=lambda d: (d.due_at or self.now, d.id))

    # -- SqlStore.claim_due, limit 1 -----------------------------------------------------
    def _claim_due(self, only: set[int] | None, manual: bool) -> Delivery | None:
        due = self._rows((DeliveryState.QUEUED, DeliveryState.RETRY))
        for delivery in [d for d in due if only is None or d.id in only][:21]:
            posted = delivery.repost == 0 and self._link_posted(delivery.link)
            decision = policy.decide(
                delivery, self.state, self.rules, self.now, link_posted=posted, manual=manual
            )
            if decision.action == "wait":
                return None
            if decision.action in ("hold", "skip"):
                held = DeliveryState.HELD if decision.action == "hold" else DeliveryState.SKIPPED
                self.rows[delivery.id] = replace(delivery, state=held, error=decision.reason)
                continue
            claimed = replace(
                delivery,
                state=DeliveryState.SENDING,
                attempts=delivery.attempts + 1,
                claimed_by="sim",
                lease_until=self.now + timedelta(minutes=10),
            )
            self.rows[delivery.id] = claimed
            self.state = _sent(self.state, self.now)
            return claimed
        return None

    def _link_posted(self, link: str) -> bool:
        return bool(link) and any(
            d.link == link and d.state is DeliveryState.POSTED for d in self.rows.values()
        )

    # -- Dispatcher._send, against the made-up platform -----------------------------------
    def _send(self, delivery: Delivery, manual: bool) -> None:
        answer = self.answers.pop(0) if self.answers else Success()
        sent_at = self.now
        self.sends.append(
            Send(
                id=delivery.id, at=sent_at, attempt=delivery.attempts, manual=manual, answer=answer
            )
        )
        self.now += answer.latency
        error: PublishError
        match answer:
            case Success():
                self.on_platform[delivery.id] += 1
                settlement = policy.after_publish(Published(remote_id=str(delivery.id)))
                self._settle(delivery, settlement, answer)
                return
            case Duplicate():
                self.on_platform[delivery.id] = max(1, self.on_platform[delivery.id])
                existing = Published(remote_id=str(delivery.id))
                self._settle(delivery, policy.after_duplicate(existing, "duplicate"), answer)
                return
            case ServerError():
                error = TransientError("503 Service Unavailable")
            case RateLimited(reset=reset):
                self.resets.append((len(self.sends), sent_at + reset))
                error = RateLimitedError("429 Too Many Requests", retry_at=sent_at + reset)
            case Unknown(applied=applied, failed_lookups=failed):
                self.on_platform[delivery.id] += applied
                self.failed_lookups[delivery.id] = failed
                error = OutcomeUnknownError("timed out reading the response")
            case Refused(resume_after=after, new_credentials=new_credentials):
                self.paused.append((len(self.sends), self.now + after))
                self.resumes.append((self.now + after, new_credentials))
                error = AuthError("401 Unauthorized")
            case _:
                raise AssertionError(answer)
        settlement = policy.after_error(
            error, attempts=delivery.attempts, rules=self.rules, now=self.now
        )
        self._settle(delivery, settlement, answer)

    # -- SqlStore.settle -----------------------------------------------------------------
    def _settle(self, delivery: Delivery, settlement: Settlement, answer: Answer | None) -> None:
        assert self.rows[delivery.id] == delivery, "settled from where the attempt left it"
        row = replace(
            delivery,
            state=settlement.state,
            error=settlement.error,
            claimed_by=None,
            lease_until=None,
        )
        if settlement.due_at is not None:
            row = replace(row, due_at=settlement.due_at)
        if settlement.state is DeliveryState.POSTED:
            published = settlement.published
            row = replace(
                row,
                remote_id=published.remote_id if published else None,
                remote_url=published.url if published else None,
                sent_at=self.now,
            )
        self.rows[delivery.id] = row
        changes = {
            name: getattr(settlement, name)
            for name in TARGET_CHANGES
            if getattr(settlement, name) is not None
        }
        if changes:
            self.state = _apply(self.state, changes)
        self.settled.append(
            Settled(id=delivery.id, at=self.now, settlement=settlement, answer=answer)
        )

    # -- the clock -----------------------------------------------------------------------
    def next_event(self) -> datetime | None:
        """When the daemon has something to do next (it sleeps until then)."""
        times = [at for at, _ in self.resumes]
        for d in self.rows.values():
            if d.state in (DeliveryState.QUEUED, DeliveryState.RETRY, DeliveryState.UNKNOWN):
                assert d.due_at is not None
                if d.due_at > self.now or d.state is DeliveryState.UNKNOWN:
                    times.append(d.due_at)
        if self._rows((DeliveryState.QUEUED, DeliveryState.RETRY)):
            wait = policy.target_wait(self.state, self.rules, self.now)
            assert wait is not None, "a due row the lane did not take"
            if wait.until is not None:
                times.append(wait.until)
        return min(times, default=None)


def simulate(history: History) -> Sim:
    """Run the generated ticks, then sleep from event to event until nothing is left."""
    rows = {
        n: _delivery(id=n, entry_id=n, entry_key=f"k{n}", link=link, due_at=NOW + offset)
        for n, (link, offset) in enumerate(zip(history.links, history.offsets, strict=True), 1)
    }
    sim = Sim(
        rules=history.rules, state=history.state, rows=rows, answers=list(history.answers), now=NOW
    )
    if history.state.paused_at(NOW) and history.state.paused_until is not None:
        sim.paused.append((0, history.state.paused_until))
    if history.state.rate_limited_until is not None:
        sim.resets.append((0, history.state.rate_limited_until))
    for tick in history.ticks:
        sim.now += tick.step
        if tick.manual is not None and tick.manual in rows:
            sim.run_lane(only={tick.manual}, manual=True)
        else:
            sim.run_lane()
    for _ in range(1000):
        sim.run_lane()
        at = sim.next_event()
        if at is None:
            return sim
        sim.now = max(sim.now, at)
    raise AssertionError(f"still busy after 1000 wake-ups: {sim.rows}")


# -- generated histories -----------------------------------------------------------------
def _seconds(low: int, high: int) -> st.SearchStrategy[timedelta]:
    return st.integers(low, high).map(lambda s: timedelta(seconds=s))


LATENCY = st.sampled_from(
    [timedelta(0), timedelta(0), timedelta(seconds=1), timedelta(seconds=45), 3 * MIN]
)
ANSWERS: st.SearchStrategy[Answer] = st.one_of(
    st.builds(Success, latency=LATENCY),
    st.builds(Duplicate, latency=LATENCY),
    st.builds(ServerError, latency=LATENCY),
    st.builds(RateLimited, latency=LATENCY, reset=_seconds(0, 3 * 3600)),
    st.builds(
        Unknown,
        latency=LATENCY,
        applied=st.booleans(),
        failed_lookups=st.sampled_from([0, 0, 0, 1, 3]),
    ),
    st.builds(
        Refused,
        latency=LATENCY,
        resume_after=_seconds(60, 12 * 3600),
        new_credentials=st.booleans(),
    ),
)
STEPS = st.sampled_from(
    [timedelta(0), timedelta(seconds=10), MIN, 4 * MIN, 17 * MIN, HOUR, 5 * HOUR]
)


@st.composite
def target_states(draw: st.DrawFn) -> TargetState:
    """What a target may have persisted from earlier runs."""
    state = TargetState(target="x")
    if draw(st.booleans()):
        state = replace(state, last_sent_at=NOW - draw(_seconds(0, 2 * 3600)))
    if draw(st.booleans()):
        state = replace(state, rate_limited_until=NOW + draw(_seconds(-3600, 3600)))
    pause = draw(st.sampled_from(["none", "operator, until later", "operator, expired"]))
    if pause != "none":
        until = draw(_seconds(1, 3 * 3600))
        state = replace(
            state,
            pause_reason="paused by the operator",
            pause_kind="operator",
            paused_until=NOW + until if pause == "operator, until later" else NOW - until,
        )
    return state


@st.composite
def histories(draw: st.DrawFn) -> History:
    count = draw(st.integers(1, 5))
    return History(
        rules=TargetRules(
            # no spacing half the time: spacing would hide a retry that does not wait
            min_interval=draw(st.sampled_from([timedelta(0), timedelta(0), MIN, 10 * MIN, HOUR])),
            max_attempts=draw(st.integers(1, 8)),
            credentials_hash="creds",
        ),
        state=draw(target_states()),
        # a shared link: two feeds of one blog
        links=tuple(draw(st.lists(st.sampled_from("abcdefg"), min_size=count, max_size=count))),
        offsets=tuple(draw(st.lists(_seconds(0, 3600), min_size=count, max_size=count))),
        answers=tuple(draw(st.lists(ANSWERS, max_size=14))),
        ticks=tuple(
            draw(
                st.lists(
                    st.builds(
                        Tick,
                        step=STEPS,
                        manual=st.none() | st.integers(1, count),
                    ),
                    max_size=15,
                )
            )
        ),
    )


PROPERTY = settings(max_examples=200, deadline=None)

# The minimal examples the properties found (see the regressions above), and the look-up
# path, which other waits (spacing, latency, failed look-ups) easily hide.
NO_SPACING = TargetRules(max_attempts=1, credentials_hash="creds")
RATE_LIMITED_ON_THE_LAST_ATTEMPT = History(
    rules=NO_SPACING,
    state=TargetState(target="x"),
    links=("a", "b"),
    offsets=(timedelta(0), timedelta(0)),
    answers=(RateLimited(reset=timedelta(seconds=1)),),
    ticks=(),
)
REFUSED_AFTER_AN_EXPIRED_PAUSE = History(
    rules=NO_SPACING,
    state=TargetState(
        target="x",
        pause_reason="paused by the operator",
        pause_kind="operator",
        paused_until=NOW + timedelta(seconds=1),
    ),
    links=("a", "b", "c"),
    offsets=(timedelta(seconds=1),) * 3,
    answers=(Refused(resume_after=MIN, new_credentials=False),),
    ticks=(),
)
NOT_FOUND_AFTER_AN_UNKNOWN_OUTCOME = History(
    rules=replace(NO_SPACING, max_attempts=3),
    state=TargetState(target="x"),
    links=("a",),
    offsets=(timedelta(0),),
    answers=(Unknown(applied=False, failed_lookups=0),),
    ticks=(),
)


def _sends_of(sim: Sim, delivery_id: int) -> list[Send]:
    return [s for s in sim.sends if s.id == delivery_id]


@PROPERTY
@given(histories())
@example(RATE_LIMITED_ON_THE_LAST_ATTEMPT)
@example(REFUSED_AFTER_AN_EXPIRED_PAUSE)
def test_never_sent_while_rate_limited_or_paused(history: History) -> None:
    sim = simulate(history)
    for n, send in enumerate(sim.sends, 1):
        for after, reset in sim.resets:
            assert not (n > after and send.at < reset), f"{send} before the reset at {reset}"
        for after, end in sim.paused:
            assert not (n > after and send.at < end), f"{send} while paused until {end}"


@PROPERTY
@given(histories())
def test_two_sends_are_never_closer_than_min_interval_unless_manual(history: History) -> None:
    sim = simulate(history)
    last = history.state.last_sent_at
    for send in sim.sends:
        if last is not None and not send.manual:
            assert send.at - last >= history.rules.min_interval, f"{send}, previous at {last}"
        last = send.at


@PROPERTY
@given(histories())
def test_retry_delays_of_one_delivery_never_shrink(history: History) -> None:
    sim = simulate(history)
    for delivery_id in sim.rows:
        delays = [
            s.settlement.due_at - s.at
            for s in sim.settled
            if s.id == delivery_id
            and s.settlement.state is DeliveryState.RETRY
            and s.settlement.due_at is not None
            and not isinstance(s.answer, RateLimited)
        ]
        assert delays == sorted(delays), f"delivery {delivery_id}: {delays}"


@PROPERTY
@given(histories())
def test_every_delivery_ends_posted_failed_or_skipped_with_a_reason(history: History) -> None:
    sim = simulate(history)
    for delivery in sim.rows.values():
        assert delivery.state in (
            DeliveryState.POSTED,
            DeliveryState.FAILED,
            DeliveryState.SKIPPED,
            DeliveryState.HELD,
        ), delivery
        if delivery.state is not DeliveryState.POSTED:
            assert delivery.error, delivery
        assert delivery.attempts <= history.rules.max_attempts, delivery
        assert len(_sends_of(sim, delivery.id)) == delivery.attempts
    assert sim.resumes == []


@PROPERTY
@given(histories())
def test_posted_exactly_once(history: History) -> None:
    sim = simulate(history)
    for delivery_id, delivery in sim.rows.items():
        assert sim.on_platform[delivery_id] <= 1, f"delivery {delivery_id} posted twice"
        posted = [
            s.at
            for s in sim.settled
            if s.id == delivery_id and s.settlement.state is DeliveryState.POSTED
        ]
        assert len(posted) <= 1
        if posted:
            assert all(s.at <= posted[0] for s in _sends_of(sim, delivery_id))
        if delivery.state is DeliveryState.POSTED:
            assert sim.on_platform[delivery_id] == 1, f"delivery {delivery_id} posted, not there"


@PROPERTY
@given(histories())
@example(NOT_FOUND_AFTER_AN_UNKNOWN_OUTCOME)
def test_nothing_is_sent_again_without_waiting(history: History) -> None:
    sim = simulate(history)
    for delivery_id in sim.rows:
        sends = _sends_of(sim, delivery_id)
        for earlier, later in itertools.pairwise(sends):
            if isinstance(earlier.answer, RateLimited):
                assert later.at >= earlier.at + earlier.answer.reset, (earlier, later)
            else:
                wait = policy.retry_delay(earlier.attempt)
                assert later.at - earlier.at >= wait, (earlier, later)


# == a used-up allowance, an unknown outcome nobody can look up ============================
def _allowance(kind: str = "credits", recheck_at: datetime | None = None) -> AllowanceError:
    return AllowanceError(
        "out", target="x", kind=kind, pause_as="out of credits", recheck_at=recheck_at
    )


def test_a_used_up_allowance_pauses_the_target_and_the_post_waits_uncounted() -> None:
    settled = policy.after_error(
        _allowance(), attempts=RULES.max_attempts, rules=RULES, now=NOW, cost=0.2
    )
    assert settled.state is DeliveryState.RETRY  # never failed, even on the last attempt
    assert settled.void_attempt and settled.refund == 0.2
    assert settled.pause_kind == "credits"
    assert settled.paused_until == NOW + policy.RECHECK_AFTER["credits"]
    capped = policy.after_error(_allowance("usage_cap"), attempts=1, rules=RULES, now=NOW)
    assert capped.paused_until == NOW + timedelta(days=1)
    named = policy.after_error(
        _allowance("usage_cap", recheck_at=NOW + 3 * HOUR), attempts=1, rules=RULES, now=NOW
    )
    assert named.paused_until == NOW + 3 * HOUR


def test_an_allowance_pause_holds_until_the_recheck_then_lets_one_post_try() -> None:
    state = _state(pause_kind="credits", pause_reason="out of credits: 402", paused_until=NOW)
    assert state.paused_at(NOW + HOUR)  # shown as paused until it is lifted
    waiting = policy.target_wait(state, RULES, NOW - MIN)
    assert waiting is not None and waiting.until == NOW
    assert policy.target_wait(state, RULES, NOW) is None  # the re-check
    lifted = policy.after_publish(Published(remote_id="1"))
    assert lifted.lifts_pause == {"credits", "usage_cap"}  # an allowance pause, no other
    assert lifted.pause_reason is None  # and it sets none


def test_an_unknown_outcome_that_cannot_be_looked_up_waits_for_the_operator() -> None:
    held = policy.after_refused_lookup(
        _delivery(state=DeliveryState.UNKNOWN), refused="no reads", rules=RULES, now=NOW
    )
    assert held.state is DeliveryState.HELD and held.held_for == policy.UNKNOWN_HOLD
    assert "feedrelay resolve ID --url URL" in (held.error or "")


def test_resend_unknown_sends_once_then_waits_for_the_operator() -> None:
    rules = replace(RULES, resend_unknown=True)
    unknown = _delivery(state=DeliveryState.UNKNOWN)
    again = policy.after_refused_lookup(unknown, refused="no reads", rules=rules, now=NOW)
    assert (again.state, again.resend, again.due_at) == (DeliveryState.RETRY, True, NOW)
    after = policy.after_refused_lookup(
        replace(unknown, resend=True), refused="no reads", rules=rules, now=NOW
    )
    assert after.state is DeliveryState.HELD
    lost = policy.after_error(
        OutcomeUnknownError("lost", target="x"), attempts=2, rules=rules, now=NOW, resend=True
    )
    assert lost.state is DeliveryState.HELD and "after its one re-send" in (lost.error or "")
    expired = policy.after_error(
        CannotResendError("expired", target="x"), attempts=2, rules=rules, now=NOW
    )
    assert expired.state is DeliveryState.HELD


def test_a_lookup_refused_for_credits_waits_for_the_pause() -> None:
    settled = policy.after_failed_lookup(
        _delivery(state=DeliveryState.UNKNOWN, attempts=1), _allowance(), now=NOW
    )
    assert settled.state is DeliveryState.UNKNOWN
    assert settled.due_at == settled.paused_until == NOW + policy.RECHECK_AFTER["credits"]
