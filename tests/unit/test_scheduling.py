"""When the daemon's poll job runs next (``bot.scheduling._next_poll``), and how a lane
woken while it runs looks again (``LaneWakes``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from bot.scheduling import POLL_AT_LEAST_EVERY, POLL_RETRY, LaneWakes, _next_poll

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


def test_a_woken_lane_that_does_not_run_is_started() -> None:
    wakes = LaneWakes()
    assert wakes.wake("x")
    assert wakes.begin("x")
    wakes.looking("x")
    assert wakes.done("x")  # nothing woke it meanwhile: it ends
    assert wakes.wake("x")  # and the next wake starts it again


def test_a_lane_woken_while_it_runs_is_not_started_twice_but_looks_again() -> None:
    wakes = LaneWakes()
    assert wakes.begin("x")  # a tick started it
    wakes.looking("x")
    assert not wakes.wake("x")  # running: no second run
    assert not wakes.begin("x")  # a second instance (the tick, the wake) returns at once
    assert not wakes.done("x")  # woken after it looked: it looks again
    wakes.looking("x")
    assert wakes.done("x")
    assert wakes.begin("x")


def test_a_wake_before_the_lane_looks_is_seen_by_that_look() -> None:
    wakes = LaneWakes()
    assert wakes.begin("x")
    assert not wakes.wake("x")  # woken as the run starts, before it looks
    wakes.looking("x")  # this look sees the new rows
    assert wakes.done("x")


def test_lanes_are_woken_each_on_its_own() -> None:
    wakes = LaneWakes()
    assert wakes.begin("x")
    assert wakes.wake("y")  # another lane, not running: started
    wakes.looking("x")
    assert wakes.done("x")


def test_a_run_that_ends_by_a_stop_or_an_error_leaves_the_lane_free() -> None:
    wakes = LaneWakes()
    assert wakes.begin("x")
    assert not wakes.wake("x")
    wakes.end("x")
    assert wakes.begin("x")
