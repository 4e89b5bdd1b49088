"""When the daemon's poll job runs next (``bot.scheduling._next_poll``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.scheduling import POLL_AT_LEAST_EVERY, POLL_RETRY, _next_poll

NOW = datetime(2026, 12, 1, 9, tzinfo=UTC)


def test_the_poll_job_runs_when_the_next_feed_is_due() -> None:
    due = NOW + timedelta(seconds=42)
    assert _next_poll(due, failed=False, now=NOW) == due


def test_a_feed_due_already_is_polled_a_second_later_never_in_a_loop() -> None:
    assert _next_poll(NOW - timedelta(hours=1), failed=False, now=NOW) == NOW + timedelta(seconds=1)


def test_the_poll_job_runs_at_least_every_few_minutes() -> None:
    assert _next_poll(NOW + timedelta(days=2), failed=False, now=NOW) == NOW + POLL_AT_LEAST_EVERY
    assert _next_poll(None, failed=False, now=NOW) == NOW + POLL_AT_LEAST_EVERY


def test_a_poll_that_failed_as_a_whole_is_tried_again_later() -> None:
    assert _next_poll(NOW, failed=True, now=NOW) == NOW + POLL_RETRY
