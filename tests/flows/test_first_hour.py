"""What a newcomer reads in the first hour (issue 19), checked message by message where a
terminal adds nothing: config mistakes, words for failed requests, counts, the headers of
a preview, the schedule's times in ``history --json``. The journeys themselves run in a
pseudo-terminal in ``tests/process/test_first_hour.py``."""

from __future__ import annotations

import json
from pathlib import Path

import click.testing
import pytest
import requests
from click.testing import CliRunner

from bot.cli import main
from bot.config import load_config
from bot.errors import ConfigError, EntryNotFoundError
from bot.feeds.pages import fetch_page
from tests.conftest import X_SECRETS, feed_table, write_config, x_target
from tests.fakes.feed_server import FakeBlog
from tests.fakes.x_api import FakeX
from tests.platforms import reddit as reddit_hooks


def _invoke(path: Path, *args: str, env: dict[str, str] | None = None) -> click.testing.Result:
    return CliRunner().invoke(main, ["--config", str(path), *args], env=env or X_SECRETS)


def _problems(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "feedrelay.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ=X_SECRETS)
    return raised.value.problems


def test_a_misspelt_platform_key_is_named_with_the_right_one(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        '[feeds.blog]\nurl = "f.xml"\ntargets = ["r"]\n\n'
        '[targets.r]\nplaform = "reddit"\nsubreddit = "python"\n',
    )
    assert problems == ["targets.r.plaform: unknown key (did you mean platform?) (line 6)"]


def test_a_string_where_a_list_goes_shows_the_list(tmp_path: Path) -> None:
    problems = _problems(
        tmp_path,
        '[feeds.blog]\nurl = "f.xml"\ntargets = "x"\n\n' + x_target("http://127.0.0.1:9"),
    )
    assert problems == ['feeds.blog.targets: must be a list: targets = ["x"] (line 3)']


def test_no_config_file_names_init(tmp_path: Path) -> None:
    result = _invoke(tmp_path / "feedrelay.toml", "check", env={})
    assert result.exit_code == 2
    assert (
        f"no config file at {tmp_path / 'feedrelay.toml'}: `feedrelay init` writes one"
        in result.output
    )


def test_a_page_that_cannot_be_fetched_says_why_in_words() -> None:
    with requests.Session() as session, pytest.raises(EntryNotFoundError) as refused:
        fetch_page(session, "http://127.0.0.1:9/2026/11/post.html")
    assert str(refused.value) == (
        "cannot fetch http://127.0.0.1:9/2026/11/post.html: the connection was refused:"
        " nothing answers at that address and port"
    )


def test_check_online_names_a_failing_feed_once_and_counts_in_words(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    path = write_config(
        tmp_path, feed_table("blog", blog.url + "/missing.xml", ["x"]), x_target(x_api.url)
    )
    result = _invoke(path, "check", "--online")
    assert result.exit_code == 1
    assert f"feed blog: FAILED: HTTP 404 Not Found from {blog.url}/missing.xml\n" in (result.output)
    assert "1 problem: fix it and run this again" in result.output
    once = _invoke(path, "run", "--once")
    assert f"feed blog: HTTP 404 Not Found from {blog.url}/missing.xml" in once.output
    assert "feed blog: feed blog" not in once.output
    status = _invoke(path, "status")
    assert "feed blog: failing (1x): HTTP 404 Not Found" in status.output


def test_a_pause_says_its_time_once_and_an_empty_schedule_says_so(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    assert _invoke(path, "run", "--once").exit_code == 0
    paused = _invoke(path, "pause", "x", "--for", "2h")
    assert paused.exit_code == 0, paused.output
    assert paused.output.startswith("x: paused by the operator until ")
    status = _invoke(path, "status").output
    (line,) = [line for line in status.splitlines() if "PAUSED" in line]
    assert line.count(" UTC") == 1, line
    assert line.startswith("   PAUSED until ") and ": paused by the operator (" in line
    assert _invoke(path, "schedule").output == "target x: nothing waiting\n"


def test_history_json_gives_the_time_the_schedule_sends_each_delivery(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    for title in ("One", "Two", "Three"):
        blog.add_entry(title)
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["x"], backfill=3),
        x_target(x_api.url, min_interval='"1h"'),
    )
    assert _invoke(path, "run", "--once").exit_code == 0
    assert len(x_api.tweets) == 1  # the others wait for the spacing
    history = {row["id"]: row for row in json.loads(_invoke(path, "history", "--json").output)}
    schedule = json.loads(_invoke(path, "schedule", "--json").output)
    assert len(schedule) == 2
    for planned in schedule:
        row = history[planned["id"]]
        assert row["planned_at"] == planned["planned_at"] is not None
        assert row["planned_at"] != row["due_at"]  # due now, sent an hour apart
    (posted,) = [row for row in history.values() if row["status"] == "posted"]
    assert posted["planned_at"] is None


def test_preview_and_the_dry_run_name_where_each_post_goes(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    blog.add_entry("Leeks")
    reddit = reddit_hooks.target_table("http://127.0.0.1:9", "reddit")
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["x", "reddit"], backfill=1),
        x_target(x_api.url),
        reddit,
    )
    env = {**X_SECRETS, **reddit_hooks.ENV}
    preview = _invoke(path, "preview", env=env).output
    assert "── x (twitter) · Leeks" in preview
    heading = (
        f"── reddit (reddit: subreddit r/{reddit_hooks.SUBREDDIT},"
        f" as u/{reddit_hooks.USERNAME}) · Leeks"
    )
    assert heading in preview
    dry_run = _invoke(path, "run", "--once", "--dry-run", env=env).output
    assert heading in dry_run


def test_the_first_dry_run_of_a_feed_says_what_the_first_real_run_does(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    blog.add_entry("Garlic")
    blog.add_entry("Leeks")
    path = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(x_api.url))
    dry_run = _invoke(path, "run", "--once", "--dry-run")
    assert dry_run.exit_code == 0
    assert dry_run.output.startswith(
        "dry run: nothing to post now\n"
        "first run of feed blog: the first real run records what the feed holds now"
        " (2 entries) as seen, as a baseline, and posts none of it; entries published after"
        " it are posted. To post an older entry now: `feedrelay post URL`. To post the N"
        " newest entries on the first run instead, put `backfill = N` in [feeds.blog]"
        " before it.\n"
    )
    # Once the baseline is recorded, a dry run has nothing of the kind to say.
    assert _invoke(path, "run", "--once").exit_code == 0
    again = _invoke(path, "run", "--once", "--dry-run")
    assert again.output == "dry run: nothing to post now\n"
    assert x_api.tweets == []
