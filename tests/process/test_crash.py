"""The crash suite: the daemon, a real subprocess, dies at each failpoint (as ``kill -9``
would) on each registered platform; the next start settles what it left. The fakes' own
records must show each entry exactly once.

Failpoints (``bot/failpoints.py``): after a claim before its request, after the platform's
answer before it is recorded, and mid-fetch (a feed's body arrived, nothing recorded). The
platforms, their fakes and their targets come from the registry and ``tests/platforms``.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from bot.failpoints import ENV_VAR, POINTS
from tests.conftest import Clock, feed_table, open_app, write_config
from tests.fakes.feed_server import FakeBlog
from tests.platforms import hooks, registered


@pytest.fixture(params=registered())
def platform(request: pytest.FixtureRequest) -> ModuleType:
    return hooks(request.param)


@pytest.fixture
def fake(platform: ModuleType) -> Iterator[Any]:
    server = platform.start_fake()
    yield server
    server.stop()


def _feedrelay(
    path: Path, platform: ModuleType, *args: str, failpoint: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **platform.ENV}
    env.pop(ENV_VAR, None)
    if failpoint:
        env[ENV_VAR] = failpoint
    return subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(path), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=90,
    )


@pytest.mark.parametrize("point", POINTS)
def test_killed_at_a_failpoint_then_restarted_posts_each_entry_once(
    tmp_path: Path, blog: FakeBlog, clock: Clock, platform: ModuleType, fake: Any, point: str
) -> None:
    entries = [blog.add_entry("First of two"), blog.add_entry("Second of two")]
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["target"], backfill=2),
        platform.target_table(fake.url, "target"),
    )

    crashed = _feedrelay(path, platform, "run", failpoint=point)
    assert crashed.returncode == -9, crashed.stderr  # died at the failpoint

    restarted = _feedrelay(path, platform, "run", "--once")
    assert restarted.returncode == 0, restarted.stderr
    assert "Traceback" not in restarted.stderr

    # A post that the restart looked up and did not find goes again after the backoff.
    for _ in range(4):
        clock.advance(minutes=30)
        with open_app(path, clock, platform.ENV) as app:
            app.poll_due_feeds()
            app.dispatch_due()

    expected = sorted(blog.entry_url(entry) for entry in entries)
    assert sorted(platform.posted_links(fake)) == expected
    with open_app(path, clock, platform.ENV) as app:
        assert sorted(d.state.value for d in app.history()) == ["posted", "posted"]


@pytest.mark.parametrize("engine", ["sqlite", "postgresql"])
def test_a_runner_starting_while_a_manual_post_is_in_flight_never_posts_it_twice(
    tmp_path: Path,
    blog: FakeBlog,
    clock: Clock,
    request: pytest.FixtureRequest,
    platform: ModuleType,
    fake: Any,
    engine: str,
) -> None:
    """``feedrelay post URL`` is in flight (its request has not reached the platform yet)
    when a cron ``run --once`` starts: the runner leaves the live claim alone, both finish,
    and later runs send nothing more. On SQLite and on PostgreSQL."""
    entry = blog.add_entry("Posted by hand")
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["target"]),
        platform.target_table(fake.url, "target"),
    )
    if engine == "postgresql":
        url = request.getfixturevalue("postgres_url")
        path.write_text(path.read_text().replace('"state.sqlite"', f'"{url}"'))
    baseline = _feedrelay(path, platform, "run", "--once")  # the entry is recorded as seen
    assert baseline.returncode == 0, baseline.stderr

    method, create = platform.CREATE
    gate = fake.hold_next(method, create)
    env = {**os.environ, **platform.ENV}
    env.pop(ENV_VAR, None)
    manual = subprocess.Popen(
        [sys.executable, "-m", "bot", "--config", str(path), "post", blog.entry_url(entry)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 60
        while not fake.requests_to(method, create):
            assert manual.poll() is None, manual.communicate()
            assert time.monotonic() < deadline, "the manual post never reached the platform"
            time.sleep(0.05)

        runner = _feedrelay(path, platform, "run", "--once")  # starts while it is in flight
        assert runner.returncode == 0, runner.stderr
        assert "interrupted" not in runner.stderr
    finally:
        gate.set()
        stdout, stderr = manual.communicate(timeout=90)
    assert manual.returncode == 0, stderr
    assert "Traceback" not in stderr

    for _ in range(4):  # later runs, past every backoff, find nothing to send
        clock.advance(minutes=30)
        with open_app(path, clock, platform.ENV) as app:
            app.recover()
            app.poll_due_feeds()
            app.dispatch_due()

    assert platform.posted_links(fake) == [blog.entry_url(entry)]
    (accepted,) = platform.accepted(fake)
    with open_app(path, clock, platform.ENV) as app:
        (row,) = app.history()
    assert row.state.value == "posted"
    assert row.remote_id == str(accepted["id"])
    # The command said what the store holds.
    assert f"target: posted {row.remote_url}".rstrip() in stdout
