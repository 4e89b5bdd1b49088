"""A backlog of unknown outcomes and queued posts: what goes first, what a dry run does.

Driven through the app (and the CLI for the dry run) against the loopback FakeX, whose
timeline answers the look-ups. Order and counts are asserted, never seconds.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import policy
from bot.cli import main
from bot.model import DeliveryState
from tests.conftest import X_SECRETS, Clock, feed_table, open_app, write_config, x_target
from tests.fakes.feed_server import FakeBlog
from tests.fakes.x_api import FakeX

LOST = 50  # posts whose answer was lost: unknown outcomes
NEW = 50  # posts queued behind them


@pytest.fixture
def x(clock: Clock) -> Iterator[FakeX]:
    """FakeX with its rate-limit windows wide open: the test sends a hundred posts."""
    with FakeX(
        clock=lambda: clock().timestamp(),
        consumer_key=X_SECRETS["X_CONSUMER_KEY"],
        consumer_secret=X_SECRETS["X_CONSUMER_SECRET"],
        access_token=X_SECRETS["X_ACCESS_TOKEN"],
        access_token_secret=X_SECRETS["X_ACCESS_TOKEN_SECRET"],
        window_limit=10_000,
        user_daily_limit=10_000,
        app_daily_limit=10_000,
    ) as server:
        yield server


def _with_unknown_outcomes(tmp_path: Path, blog: FakeBlog, x: FakeX, clock: Clock) -> Path:
    """A store with LOST deliveries whose post X made but whose answer was a 503."""
    feed = feed_table("blog", blog.feed_url, ["x"]) + "max_new_per_poll = 1000\n"
    path = write_config(tmp_path, feed, x_target(x.url))
    with open_app(path, clock) as app:
        app.poll_due_feeds()  # the baseline
    for number in range(LOST):
        blog.add_entry(f"Lost answer {number}")
        x.accept_then_fail_next(503)
    with open_app(path, clock) as app:
        app.poll_due_feeds(everything=True)
        app.dispatch_due()
        assert len(app.history(state="unknown")) == LOST
    assert len(x.tweets) == LOST
    return path


def test_a_backlog_of_unknown_outcomes_does_not_hold_back_the_first_post(
    tmp_path: Path, blog: FakeBlog, x: FakeX, clock: Clock
) -> None:
    path = _with_unknown_outcomes(tmp_path, blog, x, clock)
    for number in range(NEW):
        blog.add_entry(f"Queued behind them {number}")
    clock.advance(minutes=2)
    seen = len(x.requests)
    with open_app(path, clock) as app:
        app.poll_due_feeds(everything=True)
        assert len(app.history(state="queued")) == NEW
        app.dispatch_due()
        found = [d for d in app.history(state="posted") if d.error and "found" in d.error]
        still_unknown = app.history(state="unknown")
    requests = [(r.method, r.path) for r in x.requests[seen:]]
    posts = [i for i, r in enumerate(requests) if r == ("POST", "/2/tweets")]
    lookups = [i for i, r in enumerate(requests) if r[0] == "GET" and r[1].endswith("/tweets")]
    assert len(posts) == NEW
    assert posts[0] < lookups[0] < lookups[-1]  # the first post went before any look-up
    assert posts[1] < lookups[-1]  # and the look-ups were spread between the posts
    # A run looks up a bounded batch; the rest waits for the next run, never re-sent.
    assert len(found) == policy.LOOKUPS_PER_RUN
    assert len(still_unknown) == LOST - policy.LOOKUPS_PER_RUN
    texts = [tweet["text"] for tweet in x.tweets]
    assert len(texts) == LOST + NEW == len(set(texts))


def test_a_dry_run_looks_nothing_up_and_lists_the_unknown_outcomes(
    tmp_path: Path, blog: FakeBlog, x: FakeX, clock: Clock
) -> None:
    path = _with_unknown_outcomes(tmp_path, blog, x, clock)
    seen = len(x.requests)
    result = CliRunner().invoke(
        main, ["--config", str(path), "run", "--once", "--dry-run"], env=X_SECRETS
    )
    assert result.exit_code == 0, result.output
    assert x.requests[seen:] == []  # no look-up, no post: a dry run asks no platform
    listed = [line for line in result.output.splitlines() if line.startswith("   unknown ")]
    assert len(listed) == LOST
    with open_app(path, clock) as app:  # and it changed nothing
        assert len(app.history(state=DeliveryState.UNKNOWN.value)) == LOST
