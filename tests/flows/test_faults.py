"""Faults, as an operator meets them: a 5xx storm, refused credentials, a hung platform.

Driven through the app against the loopback fakes, with a controlled clock. Order and counts
are asserted, never seconds.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from bot.config import load_config
from bot.model import DeliveryState
from tests.conftest import (
    ENV,
    X_SECRETS,
    Clock,
    feed_table,
    open_app,
    three_platforms,
    write_config,
    x_target,
)
from tests.fakes.feed_server import FakeBlog
from tests.fakes.reddit_api import FakeReddit
from tests.fakes.tumblr_api import FakeTumblr
from tests.fakes.x_api import FakeX


def _x_only(tmp_path: Path, blog: FakeBlog, x_api: FakeX) -> Path:
    return write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))


def _baseline_then(path: Path, blog: FakeBlog, clock: Clock, *titles: str) -> None:
    with open_app(path, clock) as app:
        app.poll_due_feeds()
    for title in titles:
        blog.add_entry(title)
    clock.advance(minutes=11)
    with open_app(path, clock) as app:
        app.poll_due_feeds()


def test_a_5xx_storm_backs_off_and_then_gives_up(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _x_only(tmp_path, blog, x_api)
    _baseline_then(path, blog, clock, "Into the storm")
    for _ in range(20):
        x_api.fail_next(503)
    waits = []
    with open_app(path, clock) as app:
        for _ in range(40):
            sent_before = len(x_api.requests_to("POST", "/2/tweets"))
            app.dispatch_due()
            app.dispatch_due()  # at the same moment: nothing more goes out
            (row,) = app.history()
            if row.state is DeliveryState.FAILED:
                break
            assert len(x_api.requests_to("POST", "/2/tweets")) <= sent_before + 1
            assert row.due_at is not None
            if row.state is DeliveryState.RETRY:
                waits.append(row.due_at - clock.now)
            clock.now = max(clock.now, row.due_at)
    assert row.state is DeliveryState.FAILED
    assert row.attempts == 8
    assert row.error is not None and row.error.startswith("gave up after 8 attempts")
    assert "503" in row.error
    assert len(x_api.requests_to("POST", "/2/tweets")) == 8
    assert len(waits) == 7
    assert waits == sorted(waits) and waits[0].total_seconds() >= 60


def test_refused_credentials_pause_the_target_durably(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _x_only(tmp_path, blog, x_api)
    _baseline_then(path, blog, clock, "One", "Two")
    x_api.fail_next(401)
    with open_app(path, clock) as app:
        app.dispatch_due()
    for _ in range(3):  # restarts and cron runs forget nothing
        clock.advance(hours=2)
        with open_app(path, clock) as app:
            app.dispatch_due()
            states = sorted(d.state.value for d in app.history())
    assert states == ["held", "queued"]
    assert len(x_api.requests_to("POST", "/2/tweets")) == 1

    shown = CliRunner().invoke(main, ["--config", str(path), "status", "--json"], env=ENV)
    assert shown.exit_code == 0, shown.output
    (target,) = json.loads(shown.output)["targets"]
    assert target["paused"] and "credentials refused" in target["pause_reason"]
    text = CliRunner().invoke(main, ["--config", str(path), "status"], env=ENV).output
    assert "PAUSED" in text and "feedrelay resume x" in text

    resumed = CliRunner().invoke(main, ["--config", str(path), "resume", "x"], env=ENV)
    assert resumed.exit_code == 0, resumed.output
    with open_app(path, clock) as app:
        app.dispatch_due()
        states = sorted(d.state.value for d in app.history())
    assert states == ["posted", "posted"]  # the post held for the credentials went too
    assert len(x_api.tweets) == 2


def test_changed_credentials_lift_an_auth_pause(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _x_only(tmp_path, blog, x_api)
    _baseline_then(path, blog, clock, "One", "Two")
    x_api.fail_next(401)
    with open_app(path, clock) as app:
        app.dispatch_due()
        assert app.store.target_state("x").pause_kind == "auth"
    with open_app(path, clock, {**X_SECRETS, "X_ACCESS_TOKEN": "a-new-token"}) as app:
        app.dispatch_due()  # tried again at once with the new credentials
    assert len(x_api.requests_to("POST", "/2/tweets")) == 2


def test_new_credentials_at_the_next_start_send_the_post_held_for_the_old_ones(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    """Issue 19, item 9: the pause lifted only when a delivery of the target was dispatched,
    and the post refused for the credentials stayed failed. Now it is held, and the check
    at start-up (run, run --once) lifts the pause and sends it, with nothing else due."""
    path = _x_only(tmp_path, blog, x_api)
    _baseline_then(path, blog, clock, "Refused")
    revoked = {**X_SECRETS, "X_ACCESS_TOKEN": "at-revoked-0000"}
    with open_app(path, clock, revoked) as app:
        app.dispatch_due()
        (row,) = app.history()
        assert (row.state, row.held_for) == (DeliveryState.HELD, "credentials")
        state = app.store.target_state("x")
        assert state.pause_kind == "auth" and state.credentials_hash
        assert "at-revoked-0000" not in state.credentials_hash  # a digest, never the secret
    with open_app(path, clock, revoked) as app:  # the same credentials: nothing changes
        app.start_polling()
        assert app.store.target_state("x").pause_kind == "auth"
        assert app.store.targets_with_work(clock.now) == set()
    with open_app(path, clock) as app:  # the right ones
        app.start_polling()
        assert app.store.target_state("x").pause_reason is None
        assert [d.state for d in app.history()] == [DeliveryState.QUEUED]
        app.dispatch_due()
        (row,) = app.history()
    assert row.state is DeliveryState.POSTED
    assert [t["text"].split(" http")[0] for t in x_api.tweets] == ["Refused"]
    assert len(x_api.requests_to("POST", "/2/tweets")) == 2  # refused once, then posted


def test_a_reload_with_new_credentials_lifts_the_pause(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _x_only(tmp_path, blog, x_api)
    _baseline_then(path, blog, clock, "Refused")
    x_api.fail_next(401)
    with open_app(path, clock) as app:
        app.dispatch_due()
        app.reload(load_config(path, environ=X_SECRETS))  # the same: still paused
        assert app.store.target_state("x").pause_kind == "auth"
        app.reload(load_config(path, environ={**X_SECRETS, "X_ACCESS_TOKEN": "a-new-token"}))
        assert app.store.target_state("x").pause_reason is None
        assert [d.state for d in app.history()] == [DeliveryState.QUEUED]


def test_a_hung_platform_delays_only_its_own_target(
    tmp_path: Path,
    blog: FakeBlog,
    x_api: FakeX,
    reddit_api: FakeReddit,
    tumblr_api: FakeTumblr,
    clock: Clock,
) -> None:
    path = three_platforms(tmp_path, blog, x_api, reddit_api, tumblr_api)
    with open_app(path, clock, ENV) as app:
        app.poll_due_feeds()
    blog.add_entry("While X hangs")
    clock.advance(minutes=11)
    x_api.delay_next(3)
    with open_app(path, clock, ENV) as app:
        app.poll_due_feeds()
        dispatch = threading.Thread(target=app.dispatch_due)
        dispatch.start()
        deadline = time.monotonic() + 30
        while not (tumblr_api.posts and reddit_api.submissions):
            assert time.monotonic() < deadline, "the other targets did not post"
            time.sleep(0.02)
        # Reddit and Tumblr have posted while X has not answered yet.
        assert dispatch.is_alive()
        dispatch.join(timeout=30)
        states = {d.target: d.state for d in app.history()}
    assert states == {t: DeliveryState.POSTED for t in ("x", "reddit", "tumblr")}
