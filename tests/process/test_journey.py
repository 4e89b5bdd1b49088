"""A person's first days with FeedRelay, in a terminal: preview, a first run (the baseline),
a new blog post going out to X, and ``status`` — reading only what the screen shows.

The CLI runs in a pseudo-terminal (``tests.terminal``) against the loopback fakes: the
Blogger-shaped blog and the X API. Every step must end without a traceback and without
any secret value of the environment on the screen.
"""

from __future__ import annotations

import re
from pathlib import Path

from tests.conftest import X_SECRETS, feed_table, write_config, x_target
from tests.fakes.feed_server import FakeBlog
from tests.fakes.x_api import FakeX
from tests.terminal import Terminal


def _no_secret_on(screen: str) -> None:
    for name, value in X_SECRETS.items():
        assert value not in screen, f"{name}'s value is on the screen:\n{screen}"
    assert "Traceback" not in screen, screen


def test_a_blog_from_its_first_run_to_its_first_post(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    blog.add_entry("Planting garlic", labels=["Garden"])
    blog.add_entry("Tomatoes & blight")
    write_config(tmp_path, feed_table("allotment", blog.feed_url, ["x"]), x_target(x_api.url))
    screens: list[str] = []

    # preview: the newest entries as X would get them; nothing is posted, nothing stored.
    preview = Terminal("preview", cwd=tmp_path, env=X_SECRETS)
    preview.expect(r"── x \(twitter\) · Tomatoes & blight")
    preview.expect(r"/280")
    assert preview.finish() == 0
    screens.append(preview.screen)
    assert "Planting garlic" in preview.screen
    assert x_api.tweets == []
    assert not (tmp_path / "state.sqlite").exists()

    # The first run records what the feed holds as a baseline and posts none of it.
    first = Terminal("run", "--once", cwd=tmp_path, env=X_SECRETS)
    first.expect(r"1 feed: 2 entries recorded as seen, nothing posted")
    first.expect(r"first run of feed allotment: .*as a\s+baseline.*nothing of it was posted")
    first.expect(r"feedrelay post URL")
    assert first.finish() == 0
    screens.append(first.screen)
    assert x_api.tweets == []

    # A new post on the blog: the next run sends it, and says so.
    new = blog.add_entry("Leeks in December")
    second = Terminal("run", "--once", cwd=tmp_path, env=X_SECRETS)
    second.expect(r"1 feed: 1 new entry, 1 post sent")
    assert second.finish() == 0
    screens.append(second.screen)
    assert "first run" not in second.screen
    assert [tweet["text"] for tweet in x_api.tweets] == [f"Leeks in December {blog.entry_url(new)}"]

    # status: the target's counts, the feed polled, no runner left holding the store.
    status = Terminal("status", cwd=tmp_path, env={})
    status.expect(r"runner: none")
    counts = status.expect(r"target x: ([^\r\n]+)").group(1)
    status.expect(r"feed allotment: ok, last checked")
    assert status.finish() == 0
    screens.append(status.screen)
    assert re.fullmatch(r"1 posted", counts.strip()), counts
    assert "needs you" not in status.screen

    # A third run finds nothing new and sends nothing again.
    third = Terminal("run", "--once", cwd=tmp_path, env=X_SECRETS)
    third.expect(r"1 feed: nothing new, nothing posted")
    assert third.finish() == 0
    screens.append(third.screen)
    assert len(x_api.tweets) == 1

    for screen in screens:
        _no_secret_on(screen)


def test_reading_commands_before_any_run_say_so(tmp_path: Path, blog: FakeBlog) -> None:
    write_config(tmp_path, feed_table("allotment", blog.feed_url, ["x"]), x_target(blog.url))
    for command in ("status", "history", "schedule"):
        term = Terminal(command, cwd=tmp_path, env={})
        term.expect(r"no store yet at \S*state\.sqlite: nothing has run")
        assert term.finish() == 0
        _no_secret_on(term.screen)
    assert not (tmp_path / "state.sqlite").exists()
