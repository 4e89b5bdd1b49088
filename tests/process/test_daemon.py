"""The daemon as a real subprocess against the fakes: clean stops and crash recovery."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from tests.conftest import X_SECRETS, Clock, feed_table, open_app, write_config, x_target
from tests.fakes.feed_server import FakeBlog
from tests.fakes.x_api import FakeX
from tests.terminal import Terminal


def _start(path: Path, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, **X_SECRETS}
    return subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(path), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _wait_for(condition: Callable[[], bool], timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _history(path: Path) -> list[dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(path), "history", "--json"],
        env={**os.environ, **X_SECRETS},
        capture_output=True,
        text=True,
        check=True,
    )
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def test_sigterm_finishes_the_post_in_flight_and_exits(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    blog.add_entry("Posted while stopping")
    path = write_config(
        tmp_path, feed_table("blog", blog.feed_url, ["x"], backfill=1), x_target(x_api.url)
    )
    x_api.delay_next(1.5)  # the post is in flight when SIGTERM arrives
    daemon = _start(path, "run")
    _wait_for(lambda: bool(x_api.requests_to("POST", "/2/tweets")))
    daemon.send_signal(signal.SIGTERM)
    _, stderr = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, stderr
    assert "Traceback" not in stderr
    (row,) = _history(path)
    assert row["status"] == "posted"
    assert row["remote_id"] == str(x_api.tweets[0]["id"])


def test_a_second_daemon_on_the_same_store_refuses_to_start(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    first = _start(path, "run")
    try:
        _wait_for(lambda: (tmp_path / "state.sqlite.lock").exists() and bool(blog.feed_fetches()))
        second = _start(path, "run")
        _, stderr = second.communicate(timeout=30)
        assert second.returncode == 1
        assert "another feedrelay run" in stderr
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=30)


def test_killed_while_sending_then_restarted_posts_exactly_once(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    """SIGKILL after X created the post but before we heard back: the row is found
    'sending' at the next start, becomes 'unknown', and the identical re-send meets
    X's duplicate check instead of a second post."""
    blog.add_entry("Crash point")
    blog.add_entry("Next in line")
    path = write_config(
        tmp_path, feed_table("blog", blog.feed_url, ["x"], backfill=2), x_target(x_api.url)
    )
    x_api.delay_next(30)  # created at once, answered never (in time)
    daemon = _start(path, "run")
    _wait_for(lambda: len(x_api.tweets) == 1)
    daemon.kill()
    daemon.communicate(timeout=30)
    statuses = sorted(str(r["status"]) for r in _history(path))
    assert statuses == ["queued", "sending"]

    again = _start(path, "run", "--once")
    _, stderr = again.communicate(timeout=60)
    assert again.returncode == 0, stderr
    assert [t["text"].split(" http")[0] for t in x_api.tweets] == ["Crash point", "Next in line"]
    assert sorted(str(r["status"]) for r in _history(path)) == ["posted", "posted"]


def test_run_once_refuses_while_a_daemon_runs(tmp_path: Path, blog: FakeBlog, x_api: FakeX) -> None:
    """A cron --once beside a daemon would mistake the daemon's post in flight for an
    interrupted one."""
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    daemon = _start(path, "run")
    try:
        _wait_for(lambda: bool(blog.feed_fetches()))
        once = _start(path, "run", "--once")
        _, stderr = once.communicate(timeout=30)
        assert once.returncode == 1
        assert "another feedrelay run is using" in stderr
    finally:
        daemon.send_signal(signal.SIGTERM)
        daemon.communicate(timeout=30)


def test_run_once_finishes_the_post_in_flight_on_sigterm(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    blog.add_entry("In flight")
    blog.add_entry("Not started")
    path = write_config(
        tmp_path, feed_table("blog", blog.feed_url, ["x"], backfill=2), x_target(x_api.url)
    )
    x_api.delay_next(1.5)
    once = _start(path, "run", "--once")
    _wait_for(lambda: bool(x_api.requests_to("POST", "/2/tweets")))
    once.send_signal(signal.SIGTERM)
    _, stderr = once.communicate(timeout=30)
    assert once.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert sorted(str(r["status"]) for r in _history(path)) == ["posted", "queued"]
    assert len(x_api.tweets) == 1


def test_sighup_reloads_a_valid_config_and_keeps_the_old_one_otherwise(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    daemon = _start(path, "-v", "run")
    try:
        _wait_for(lambda: len(blog.feed_fetches()) == 1)
        good = path.read_text()
        path.write_text(good.replace('poll_interval = "10m"', 'poll_interval = "soon"'))
        daemon.send_signal(signal.SIGHUP)
        time.sleep(0.5)
        path.write_text(good + "\n" + feed_table("second", blog.feed_url + "?second", ["x"]))
        daemon.send_signal(signal.SIGHUP)
        _wait_for(lambda: any(r.query.get("second") is not None for r in blog.feed_fetches()))
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, stderr
    assert "config not reloaded, the old one stays" in stderr
    assert "bot.poll_interval" in stderr
    assert "config reloaded: 2 feeds, 1 target" in stderr
    assert "apscheduler" not in stderr  # its own messages stay out of the log


def test_the_daemon_polls_a_feed_when_it_is_due_and_logs_its_recovery_once(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    """Issue 19, item 13: feeds were polled on a 30-second tick, so a feed due in a few
    seconds waited for the tick, and a recovery after errors was never logged. The feed
    failed once; its next try is set a few seconds ahead: the daemon, finding nothing due
    at start, fetches it then (long before a 30-second tick), and says once that it reads
    again."""
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    blog.fail_next(503)
    with open_app(path, clock) as app:
        app.poll_due_feeds()
        state = app.store.feed_state("blog")
        assert state is not None and state.error_count == 1
        soon = datetime.now(UTC) + timedelta(seconds=3)
        app.store.save_feed_state(replace(state, next_check_at=soon))
    daemon = _start(path, "run")
    try:
        _wait_for(lambda: len(blog.feed_fetches()) == 2, timeout=20)
        assert datetime.now(UTC) >= soon  # not before it was due
        # Another interval later is far away: no third fetch while the daemon runs on.
        time.sleep(1)
        assert len(blog.feed_fetches()) == 2
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=30)
    assert daemon.returncode == 0, stderr
    recovered = [line for line in stderr.splitlines() if "reads again" in line]
    assert len(recovered) == 1, stderr
    assert "feed blog reads again after 1 failed poll (the last: HTTP 503 from" in recovered[0]
    # Without -v, a run logs what happens but not every poll and wait.
    assert "next poll at" not in stderr and "unchanged" not in stderr


def test_run_with_v_logs_each_poll_and_the_next_one(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    first = _start(path, "run", "--once")
    assert first.communicate(timeout=30) and first.returncode == 0
    again = _start(path, "-v", "run", "--once")
    _, stderr = again.communicate(timeout=30)
    assert again.returncode == 0, stderr
    assert "DEBUG bot.ingest: feed blog: unchanged (304); next check" in stderr
    daemon = Terminal("-v", "run", cwd=tmp_path, env=X_SECRETS)
    # Its first poll finds nothing due (the feed was just read) and plans the next.
    daemon.expect(r"DEBUG bot\.scheduling: next poll at")
    daemon.child.kill(signal.SIGTERM)
    assert daemon.finish() == 0
    assert "apscheduler" not in daemon.screen  # the libraries' own detail is -vv's
