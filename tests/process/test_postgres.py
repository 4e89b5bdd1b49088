"""Several daemons on one PostgreSQL store, and moving a SQLite store there.

The server is a private PostgreSQL the tests start themselves (``postgres_server`` in
conftest); the platforms are the loopback fakes, whose own records are the proof.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import psycopg
import requests
from click.testing import CliRunner

from bot.cli import main
from bot.model import DeliveryState
from tests.conftest import (
    ENV,
    REPO,
    Clock,
    feed_table,
    open_app,
    reddit_target,
    tumblr_target,
    write_config,
    x_target,
)
from tests.fakes.feed_server import FakeBlog
from tests.fakes.reddit_api import FakeReddit
from tests.fakes.tumblr_api import FakeTumblr
from tests.fakes.x_api import FakeX

ENTRIES = 30


def _wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.1)


def test_migrate_store_copies_a_real_store_and_nothing_is_posted_again(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock, postgres_url: str
) -> None:
    blog.add_entry("Posted from SQLite")
    path = write_config(
        tmp_path, feed_table("blog", blog.feed_url, ["x"], backfill=1), x_target(x_api.url)
    )
    with open_app(path, clock, ENV) as app:
        app.poll_due_feeds()
        app.dispatch_due()
    assert len(x_api.tweets) == 1
    moved = CliRunner().invoke(
        main, ["--config", str(path), "migrate-store", "--to", postgres_url], env=ENV
    )
    assert moved.exit_code == 0, moved.output
    assert "1 entry, 1 delivery, 1 feed, 1 target state (counts checked)" in moved.output
    path.write_text(path.read_text().replace('"state.sqlite"', f'"{postgres_url}"'))
    clock.advance(minutes=11)
    with open_app(path, clock, ENV) as app:
        assert app.store.shared
        app.poll_due_feeds(everything=True)
        app.dispatch_due()
        (row,) = app.history()
    assert row.state is DeliveryState.POSTED and len(x_api.tweets) == 1
    again = CliRunner().invoke(
        main, ["--config", str(path), "migrate-store", "--to", postgres_url], env=ENV
    )
    assert again.exit_code == 2 and "PostgreSQL store already" in again.output


def test_three_daemons_share_the_work_and_survive_one_killed_mid_post(
    tmp_path: Path,
    blog: FakeBlog,
    x_api: FakeX,
    reddit_api: FakeReddit,
    tumblr_api: FakeTumblr,
    postgres_url: str,
) -> None:
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["x", "reddit", "tumblr"]),
        x_target(x_api.url),
        reddit_target(reddit_api.url, 'min_interval = "0s"  # many posts at once: no spacing'),
        tumblr_target(tumblr_api.url),
    )
    text = path.read_text().replace('"state.sqlite"', f'"{postgres_url}"\nclaim_lease = "3s"')
    path.write_text(text.replace("backfill = 0", "backfill = 0\nmax_new_per_poll = 50"))
    now = datetime.now(UTC)
    with open_app(path, Clock(), ENV) as app:
        app.poll_due_feeds()  # the baseline
        state = app.store.feed_state("blog")
        assert state is not None
        app.store.save_feed_state(replace(state, next_check_at=now))
    fetches_before = len(blog.feed_fetches())
    for number in range(ENTRIES):
        blog.add_entry(f"Shared {number}", published_at=now)
    x_api.delay_next(20)  # the first X post is created at once and answered late

    env = {**os.environ, **ENV}
    daemons = [
        subprocess.Popen(
            [sys.executable, "-m", "bot", "--config", str(path), "run"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    try:
        with open_app(path, Clock(), ENV) as app:

            def sending_pid() -> int | None:
                for delivery in app.history(state="sending"):
                    if delivery.target == "x" and delivery.claimed_by:
                        return int(delivery.claimed_by.split(":")[1])
                return None

            _wait_for(lambda: sending_pid() is not None, 60, "an X post in flight")
            victim = sending_pid()
            assert victim in [d.pid for d in daemons]
            os.kill(victim, signal.SIGKILL)  # it holds a claim: the post is created

            def settled() -> bool:
                states = [d.state for d in app.history()]
                return len(states) == 3 * ENTRIES and set(states) == {DeliveryState.POSTED}

            def counts() -> str:
                found: dict[str, int] = {}
                for d in app.history():
                    key = f"{d.target}:{d.state.value}"
                    found[key] = found.get(key, 0) + 1
                return f"every delivery posted (have {found})"

            try:
                # Generous: a lookup that cannot tell waits a backoff (60 s) before it looks again.
                _wait_for(settled, 300, "every delivery posted")
            except AssertionError:
                raise AssertionError(counts()) from None
            runners = {r.pid for r in app.status().runners}
    finally:
        for daemon in daemons:
            if daemon.poll() is None:
                daemon.send_signal(signal.SIGTERM)
        outputs = [daemon.communicate(timeout=60) for daemon in daemons]
    survivors = [d for d in daemons if d.pid != victim]
    for daemon, (_, stderr) in zip(daemons, outputs, strict=True):
        if daemon.pid != victim:
            assert daemon.returncode == 0, stderr
            assert "Traceback" not in stderr
    # Each entry exactly once on each platform, from the platforms' own records.
    expected = sorted(blog.entry_url(e) for e in blog.entries[-ENTRIES:])
    assert len(x_api.tweets) == ENTRIES
    assert len({t["text"] for t in x_api.tweets}) == ENTRIES
    assert sorted(s["url"] for s in reddit_api.submissions) == expected
    assert sorted(p["source_url"] for p in tumblr_api.posts) == expected
    # The feed was fetched by one daemon, not by each of the three.
    assert len(blog.feed_fetches()) - fetches_before == 1
    assert {d.pid for d in survivors} <= runners
    status = CliRunner().invoke(main, ["--config", str(path), "status", "--json"], env=ENV)
    assert json.loads(status.output)["daemon"]["lock_held_by_pid"] is None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_work_queued_by_another_runner_wakes_an_idle_daemons_lanes_at_once(
    tmp_path: Path,
    blog: FakeBlog,
    x_api: FakeX,
    tumblr_api: FakeTumblr,
    postgres_url: str,
) -> None:
    """A daemon whose lanes tick once an hour (``tests.hourly_lanes``) posts, within the
    test's minutes, what another runner's poll queued: its lanes were woken by the notice
    (LISTEN/NOTIFY), not by a tick."""
    port = _free_port()
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["x", "tumblr"]),
        x_target(x_api.url),
        tumblr_target(tumblr_api.url),
        f'[web]\nlisten = "127.0.0.1:{port}"\n',
    )
    path.write_text(path.read_text().replace('"state.sqlite"', f'"{postgres_url}"'))
    with open_app(path, Clock(), ENV) as app:
        app.poll_due_feeds()  # the baseline: the daemon has nothing to poll for minutes
    daemon = subprocess.Popen(
        [sys.executable, "-m", "tests.hourly_lanes", str(path)],
        env={**os.environ, **ENV},
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def lanes_have_looked_once() -> bool:
            try:
                health = requests.get(f"http://127.0.0.1:{port}/healthz", timeout=5).json()
            except requests.ConnectionError:
                return False
            lanes = [loop for loop in health["loops"] if loop["name"].startswith("lane:")]
            return len(lanes) == 2 and all(
                loop["idle_s"] is not None and not loop["running"] for loop in lanes
            )

        def listening() -> bool:
            with psycopg.connect(postgres_url) as c:
                found = c.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                    " AND application_name = 'feedrelay listener'"
                    " AND query = 'LISTEN feedrelay_work'"
                ).fetchone()
            return found == (1,)

        _wait_for(lanes_have_looked_once, 60, "the daemon's lanes to have looked for work")
        _wait_for(listening, 60, "the daemon to listen")
        for number in range(3):
            blog.add_entry(f"Heard of at once {number}")
        with open_app(path, Clock(), ENV) as app:  # another runner polls; it never sends
            queued = sum(result.queued for result in app.poll_due_feeds(everything=True))
        assert queued == 6
        # The next lane tick is an hour away: only the wake can make these posts.
        _wait_for(
            lambda: len(x_api.tweets) == 3 and len(tumblr_api.posts) == 3,
            120,
            "the woken daemon to post every entry",
        )
    finally:
        daemon.send_signal(signal.SIGTERM)
        _, stderr = daemon.communicate(timeout=60)
    assert daemon.returncode == 0, stderr
    assert "Traceback" not in stderr
    assert len([line for line in stderr.splitlines() if " posted " in line]) == 6, stderr
    assert len({tweet["text"] for tweet in x_api.tweets}) == 3
