"""A poll cycle with many changed feeds parses them in worker processes (``[bot]
parse_workers``) and records what a cycle parsing them in the daemon's own process records;
a cycle with a few changed feeds, or a single blog, starts no worker; the workers are gone
when the cycle ends."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

import pytest

from bot.feeds.workers import IN_THREAD_FIRST
from bot.ingest import FeedResult
from tests.conftest import Clock, feed_table, open_app, write_config, x_target
from tests.fakes.feed_server import FakeBlog
from tests.fakes.x_api import FakeX

pytestmark = pytest.mark.xdist_group("parse-workers")

FEEDS = IN_THREAD_FIRST + 4


def _config(folder: Path, blog: FakeBlog, x_api: FakeX, feeds: int, bot: str) -> Path:
    folder.mkdir()
    # One blog under several names (the query string tells the copies apart): each is a feed
    # of its own in the store, parsed on its own.
    tables = [
        feed_table(f"blog{i:02d}", f"{blog.feed_url}?copy={i}", ["x"], backfill=2)
        for i in range(feeds)
    ]
    return write_config(folder, *tables, x_target(x_api.url), bot=bot)


def _cycle(path: Path, clock: Clock) -> tuple[list[FeedResult], list[int], list[tuple[str, str]]]:
    """The cycle's results, how many worker processes were alive as each feed was
    recorded, and the posts it planned."""
    alive: list[int] = []
    with open_app(path, clock) as app:
        results = app.poll_due_feeds(
            on_result=lambda *_: alive.append(len(multiprocessing.active_children()))
        )
        posts = sorted((d.feed, d.post.text) for d in app.history())
    return results, alive, posts


def test_many_changed_feeds_are_parsed_in_workers_and_recorded_as_in_the_daemon(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    for title in ("Tomatoes in November", "Blight, again", "A shed for the winter"):
        blog.add_entry(title, labels=["Gardening"])
    here = _config(tmp_path / "here", blog, x_api, FEEDS, "parse_workers = 0\n")
    workers = _config(tmp_path / "workers", blog, x_api, FEEDS, "parse_workers = 2\n")

    in_daemon, alive_here, posts_here = _cycle(here, clock)
    in_workers, alive_there, posts_there = _cycle(workers, clock)

    assert in_workers == in_daemon
    assert [r.new for r in in_workers] == [3] * FEEDS
    assert posts_there == posts_here and len(posts_here) == 2 * FEEDS
    assert max(alive_here) == 0
    assert max(alive_there) >= 1  # the bodies after the first few went to a worker
    assert multiprocessing.active_children() == []  # and the cycle's end stopped them


def test_a_single_blog_starts_no_worker(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    blog.add_entry("Tomatoes in November")
    path = _config(tmp_path / "one", blog, x_api, 1, "")
    results, alive, _ = _cycle(path, clock)
    assert [r.new for r in results] == [1]
    assert alive == [0]
    blog.add_entry("Blight, again")
    clock.advance(minutes=11)
    results, alive, posts = _cycle(path, clock)
    assert [r.new for r in results] == [1] and alive == [0]
    assert [text.split(" http")[0] for _, text in posts] == [
        "Blight, again",
        "Tomatoes in November",
    ]
