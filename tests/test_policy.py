"""The policy: every rule a one-line test, then properties over simulated histories."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot import policy
from bot.errors import RateLimitedError
from bot.model import DeliveryState, Settlement
from bot.policy import TargetRules

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
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
