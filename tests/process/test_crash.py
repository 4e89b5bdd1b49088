"""The crash suite: the daemon, a real subprocess, dies at each failpoint (as ``kill -9``
would) on each platform; the next start settles what it left. The fakes' own records must
show each entry exactly once.

Failpoints (``bot/failpoints.py``): after a claim before its request, after the platform's
answer before it is recorded, and mid-fetch (a feed's body arrived, nothing recorded).
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from bot.failpoints import ENV_VAR, POINTS
from tests.conftest import (
    ENV,
    Clock,
    feed_table,
    open_app,
    reddit_target,
    tumblr_target,
    write_config,
    x_target,
)
from tests.fakes.feed_server import FakeBlog

FAKES = {"twitter": "x_api", "reddit": "reddit_api", "tumblr": "tumblr_api"}
TARGETS: dict[str, Callable[..., str]] = {
    "twitter": x_target,
    "reddit": reddit_target,
    "tumblr": tumblr_target,
}


def _feedrelay(
    path: Path, *args: str, failpoint: str | None = None
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **ENV}
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


def _links_posted(platform: str, fake: Any) -> list[str]:
    """Every post the platform accepted, as the entry link it carries."""
    if platform == "twitter":
        return [t["text"].split(" ")[-1] for t in fake.tweets]
    if platform == "reddit":
        return [s["url"] for s in fake.submissions]
    return [p["source_url"] for p in fake.posts]


@pytest.mark.parametrize("point", POINTS)
@pytest.mark.parametrize("platform", sorted(FAKES))
def test_killed_at_a_failpoint_then_restarted_posts_each_entry_once(
    tmp_path: Path,
    blog: FakeBlog,
    clock: Clock,
    request: pytest.FixtureRequest,
    platform: str,
    point: str,
) -> None:
    fake = request.getfixturevalue(FAKES[platform])
    entries = [blog.add_entry("First of two"), blog.add_entry("Second of two")]
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["target"], backfill=2),
        TARGETS[platform](fake.url, name="target"),
    )
    if platform == "twitter":
        # X shows only the text: end it with the link, so that the fake's log names it.
        path.write_text(path.read_text() + 'template = "{title} {url}"\n')

    crashed = _feedrelay(path, "run", failpoint=point)
    assert crashed.returncode == -9, crashed.stderr  # died at the failpoint

    restarted = _feedrelay(path, "run", "--once")
    assert restarted.returncode == 0, restarted.stderr
    assert "Traceback" not in restarted.stderr

    # A post that the restart looked up and did not find goes again after the backoff.
    for _ in range(4):
        clock.advance(minutes=30)
        with open_app(path, clock, ENV) as app:
            app.poll_due_feeds()
            app.dispatch_due()

    expected = sorted(blog.entry_url(entry) for entry in entries)
    assert sorted(_links_posted(platform, fake)) == expected
    with open_app(path, clock, ENV) as app:
        assert sorted(d.state.value for d in app.history()) == ["posted", "posted"]


# Where each platform receives a new post.
POST_PATHS = {
    "twitter": "/2/tweets",
    "reddit": "/api/submit/",
    "tumblr": "/v2/blog/[^/]+/posts",
}


def _remote_ids(platform: str, fake: Any) -> list[str]:
    if platform == "twitter":
        return [str(t["id"]) for t in fake.tweets]
    if platform == "reddit":
        return [str(s["id"]) for s in fake.submissions]
    return [str(p["id"]) for p in fake.posts]


@pytest.mark.parametrize(
    ("platform", "engine"),
    [(platform, "sqlite") for platform in sorted(FAKES)] + [("tumblr", "postgresql")],
)
def test_a_runner_starting_while_a_manual_post_is_in_flight_never_posts_it_twice(
    tmp_path: Path,
    blog: FakeBlog,
    clock: Clock,
    request: pytest.FixtureRequest,
    platform: str,
    engine: str,
) -> None:
    """``feedrelay post URL`` is in flight (its request has not reached the platform yet)
    when a cron ``run --once`` starts: the runner leaves the live claim alone, both finish,
    and later runs send nothing more. (Tumblr, which has no duplicate refusal of its own,
    also on PostgreSQL.)"""
    fake = request.getfixturevalue(FAKES[platform])
    entry = blog.add_entry("Posted by hand")
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["target"]),
        TARGETS[platform](fake.url, name="target"),
    )
    if engine == "postgresql":
        url = request.getfixturevalue("postgres_url")
        path.write_text(path.read_text().replace('"state.sqlite"', f'"{url}"'))
    if platform == "twitter":
        path.write_text(path.read_text() + 'template = "{title} {url}"\n')
    baseline = _feedrelay(path, "run", "--once")  # the entry is recorded as seen
    assert baseline.returncode == 0, baseline.stderr

    gate = fake.hold_next("POST", POST_PATHS[platform])
    env = {**os.environ, **ENV}
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
        while not fake.requests_to("POST", POST_PATHS[platform]):
            assert manual.poll() is None, manual.communicate()
            assert time.monotonic() < deadline, "the manual post never reached the platform"
            time.sleep(0.05)

        runner = _feedrelay(path, "run", "--once")  # starts while the post is in flight
        assert runner.returncode == 0, runner.stderr
        assert "interrupted" not in runner.stderr
    finally:
        gate.set()
        stdout, stderr = manual.communicate(timeout=90)
    assert manual.returncode == 0, stderr
    assert "Traceback" not in stderr

    for _ in range(4):  # later runs, past every backoff, find nothing to send
        clock.advance(minutes=30)
        with open_app(path, clock, ENV) as app:
            app.recover()
            app.poll_due_feeds()
            app.dispatch_due()

    assert _links_posted(platform, fake) == [blog.entry_url(entry)]
    (remote_id,) = _remote_ids(platform, fake)
    with open_app(path, clock, ENV) as app:
        (row,) = app.history()
    assert row.state.value == "posted"
    assert row.remote_id == remote_id
    # The command said what the store holds.
    assert f"target: posted {row.remote_url}".rstrip() in stdout
