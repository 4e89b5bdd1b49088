"""The policy: every rule a one-line test, then properties over simulated histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot import policy
from bot.errors import AuthError, RateLimitedError
from bot.model import Decision, DeliveryState, Settlement, TargetState
from bot.policy import TargetRules
from bot.store.sql import TARGET_CHANGES, _apply

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
HOUR = timedelta(hours=1)
RULES = TargetRules(min_interval=30 * MIN, max_attempts=3, credentials_hash="creds-1")


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
    changes = {n: getattr(settlement, n) for n in TARGET_CHANGES if getattr(settlement, n)}
    refused = _apply(expired, changes)  # as SqlStore.settle applies it
    assert policy.target_wait(refused, RULES, NOW) == Decision(
        action="wait", until=None, reason="credentials refused: 401"
    )
    assert policy.target_wait(refused, RULES, NOW, manual=True) is not None
