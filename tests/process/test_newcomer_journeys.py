"""Issue 19, "the first hour": the journeys a newcomer stumbled on, in a pseudo-terminal,
reading the screen as a person would, against the loopback fakes.

Ctrl-C on a run (item 8) and a credentials fix that lifts a pause (item 9) are here; `auth
--write-env` and `add feed` / `add target` have their own journeys below.
"""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import time
from pathlib import Path

from tests.conftest import X_SECRETS, feed_table, write_config, x_target
from tests.fakes.feed_server import FakeBlog
from tests.fakes.x_api import FakeX
from tests.terminal import Terminal


def _history(path: Path) -> list[dict[str, object]]:
    result = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(path), "history", "--json"],
        capture_output=True,
        text=True,
        check=True,
    )
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def _wait_for(condition: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not condition():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def _no_secret_on(screen: str, secrets: dict[str, str] = X_SECRETS) -> None:
    for name, value in secrets.items():
        assert value not in screen, f"{name}'s value is on the screen:\n{screen}"


# -- item 8: Ctrl-C ------------------------------------------------------------------------
def _a_post_in_flight(tmp_path: Path, blog: FakeBlog, x_api: FakeX, *args: str) -> Terminal:
    """A run whose post to X has reached X's door and waits there (a slow network)."""
    blog.add_entry("Slow to arrive")
    write_config(
        tmp_path, feed_table("blog", blog.feed_url, ["x"], backfill=1), x_target(x_api.url)
    )
    term = Terminal("run", *args, cwd=tmp_path, env=X_SECRETS)
    _wait_for(lambda: bool(x_api.requests_to("POST", "/2/tweets")))
    return term


def test_a_double_ctrl_c_during_a_slow_post_exits_130_and_the_next_run_posts_nothing_twice(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    gate = x_api.hold_next("POST", "/2/tweets")
    term = _a_post_in_flight(tmp_path, blog, x_api)
    term.child.sendintr()
    term.expect(
        r"Ctrl-C: stopping; waiting for the post to x \(Slow to arrive\) to finish and be"
        r" recorded, at most 60 seconds \(Ctrl-C again stops at once\)"
    )
    term.child.sendintr()
    term.expect(
        r"Ctrl-C again: stopping now; the post to x \(Slow to arrive\) is left to the next"
        r" start, which looks up on the platform what may have gone out before sending"
        r" anything again \(nothing is sent twice\)"
    )
    assert term.finish() == 130
    _no_secret_on(term.screen)
    (row,) = _history(tmp_path / "feedrelay.toml")
    assert row["status"] == "sending"

    # The request was on its way: X gets it after the process is gone, and posts it.
    gate.set()
    _wait_for(lambda: len(x_api.tweets) == 1)
    again = Terminal("run", "--once", cwd=tmp_path, env=X_SECRETS)
    again.expect(r"1 feed: nothing new")
    assert again.finish() == 0
    (row,) = _history(tmp_path / "feedrelay.toml")
    assert row["status"] == "posted"
    assert row["remote_id"] == str(x_api.tweets[0]["id"])
    assert len(x_api.requests_to("POST", "/2/tweets")) == 1  # looked up, never re-sent
    assert len(x_api.tweets) == 1


def test_one_ctrl_c_waits_for_the_post_in_flight_records_it_and_exits_130(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    gate = x_api.hold_next("POST", "/2/tweets")
    term = _a_post_in_flight(tmp_path, blog, x_api, "--once")
    term.child.sendintr()
    term.expect(r"Ctrl-C: stopping; waiting for the post to x \(Slow to arrive\)")
    gate.set()
    term.expect(r"1 feed: 1 entry recorded as seen, 1 post sent")
    assert term.finish() == 130
    (row,) = _history(tmp_path / "feedrelay.toml")
    assert row["status"] == "posted"
    assert len(x_api.tweets) == 1


def test_ctrl_c_with_nothing_in_flight_says_so_and_exits_130(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    term = Terminal("run", cwd=tmp_path, env=X_SECRETS)
    term.expect(r"feedrelay running")
    _wait_for(lambda: bool(blog.feed_fetches()))
    time.sleep(0.5)
    term.child.sendintr()
    term.expect(r"Ctrl-C: stopping\r?\n")
    term.expect(r"feedrelay stopped")
    assert term.finish() == 130


# -- item 9: a credentials fix -------------------------------------------------------------
def test_a_credentials_fix_lifts_the_pause_at_the_next_start_and_the_held_post_goes_out(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    revoked = {**X_SECRETS, "X_ACCESS_TOKEN": "at-revoked-70ad1c"}
    first = Terminal("run", "--once", cwd=tmp_path, env=revoked)
    assert first.finish() == 0  # the baseline
    blog.add_entry("Written with old tokens")

    refused = Terminal("run", "--once", cwd=tmp_path, env=revoked)
    refused.expect(r"1 post held: the target's credentials were refused \(`feedrelay status`\)")
    assert refused.finish() == 1
    status = Terminal("status", cwd=tmp_path, env={})
    status.expect(r"PAUSED: credentials refused: X refused")
    status.expect(
        r"1 waits for x's credentials, refused: it goes when the pause lifts: at the next"
        r" start with new credentials \(`feedrelay auth twitter`\), or with `feedrelay"
        r" resume x`"
    )
    assert status.finish() == 0
    assert [row["status"] for row in _history(path)] == ["held"]

    fixed = Terminal("run", "--once", cwd=tmp_path, env=X_SECRETS)
    fixed.expect(r"target x: its credentials changed since they were refused; posting resumes")
    fixed.expect(r"1 feed: nothing new, 1 post sent")
    assert fixed.finish() == 0
    assert [row["status"] for row in _history(path)] == ["posted"]
    assert [t["text"].split(" http")[0] for t in x_api.tweets] == ["Written with old tokens"]
    for screen in (first.screen, refused.screen, status.screen, fixed.screen):
        _no_secret_on(screen, {**X_SECRETS, "revoked": "at-revoked-70ad1c"})
    assert not re.search(r"Traceback", fixed.screen)


# -- item 7: add feed, add target ----------------------------------------------------------
def _is_kept(before: str, after: str, *, changed: tuple[str, ...] = ()) -> None:
    """Every line of ``before`` is in ``after``, in its order, but those starting with one
    of ``changed`` (a list that gained a name)."""
    lines = iter(after.splitlines())
    for line in before.splitlines():
        if line.startswith(changed):
            continue
        assert any(line == other for other in lines), f"lost or moved: {line!r}\n{after}"


def test_add_feed_and_add_target_keep_the_comments_and_make_a_config_check_accepts(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    from tests.conftest import ENV
    from tests.platforms import reddit as reddit_hooks

    made = Terminal("init", "--blog", blog.url, "--to", "x", "--yes", cwd=tmp_path, env={})
    assert made.finish() == 0
    config = tmp_path / "feedrelay.toml"
    env_file = tmp_path / ".env"
    written = config.read_text()
    env_file.write_text(env_file.read_text().replace("X_CONSUMER_KEY=\n", "X_CONSUMER_KEY=ck\n"))
    env_file.chmod(0o600)

    with FakeBlog("Second Diary") as second:
        second.add_entry("Seed catalogue")
        add = Terminal("add", "feed", second.url + "/", cwd=tmp_path, env={})
        add.expect(r"feed: http://127\.0\.0\.1:\d+/feeds/posts/default \(the page advertises it\)")
        add.expect(r"title: Second Diary, 1 entry")
        add.answer(r"Post to which targets \(x; comma-separated\) \[x\]: ", "twiter")
        add.expect(r"no target named 'twiter' \(did you mean 'twitter', the platform of x\?\)")
        add.answer(r"Post to which targets", "")
        add.expect(r"added \[feeds\.second-diary\] to feedrelay\.toml, posting to x")
        add.expect(r"see them: feedrelay preview second-diary")
        assert add.finish() == 0
        feed_url = second.feed_url
    after_feed = config.read_text()
    _is_kept(written, after_feed)
    assert "[feeds.second-diary] # Second Diary, added by `feedrelay add feed` on" in after_feed
    assert f'url = "{feed_url}"' in after_feed

    target = Terminal("add", "target", "reddit", cwd=tmp_path, env={})
    target.answer(r"Subreddit \(r/NAME\): ", "r/no such")
    target.expect(r"is not a subreddit name")
    target.answer(r"Subreddit", f"r/{reddit_hooks.SUBREDDIT}")
    target.expect(
        r"added \[targets\.reddit\] \(reddit\) to feedrelay\.toml; feeds blog, second-diary"
        r" post to it"
    )
    target.expect(
        r"its secrets come from REDDIT_CLIENT_ID, REDDIT_CLIENT_SECRET, REDDIT_USERNAME,"
        r" REDDIT_PASSWORD: named in \.env"
    )
    target.expect(r"feedrelay auth reddit --target reddit --write-env")
    assert target.finish() == 0
    after_target = config.read_text()
    _is_kept(after_feed, after_target, changed=("targets = [",))
    assert 'targets = ["x", "reddit"]' in after_target
    assert 'password = "${REDDIT_PASSWORD}"' in after_target  # a reference, never a secret
    assert "# A script app (reddit.com/prefs/apps) and the posting account." in after_target

    env_text = env_file.read_text()
    assert "X_CONSUMER_KEY=ck\n" in env_text and "REDDIT_PASSWORD=\n" in env_text
    assert stat.S_IMODE(env_file.stat().st_mode) == 0o600

    filled = {**ENV, "REDDIT_USERNAME": reddit_hooks.USERNAME}
    check = Terminal("check", cwd=tmp_path, env=filled)
    check.expect(r"config .*feedrelay\.toml: ok \(2 feeds, 2 targets\)")
    assert check.finish() == 0
    for screen in (add.screen, target.screen, check.screen):
        _no_secret_on(screen, filled)
