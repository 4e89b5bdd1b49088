"""``bot.names``: the target or feed a person means by the name typed (issue 19, item 6)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot import names
from bot.config import Config, load_config
from bot.errors import UnknownNameError
from tests.conftest import ENV, feed_table, reddit_target, write_config, x_target


def _config(tmp_path: Path, *tables: str) -> Config:
    targets = [re.findall(r"\[targets\.([^\]]+)\]", table)[0] for table in tables]
    path = write_config(tmp_path, feed_table("blog", "feed.xml", targets), *tables)
    return load_config(path, environ=ENV)


def test_a_configured_name_is_itself(tmp_path: Path) -> None:
    config = _config(tmp_path, x_target("http://127.0.0.1:1"))
    assert names.target(config.targets, "x") == "x"


def test_a_platform_that_one_target_posts_to_names_that_target(tmp_path: Path) -> None:
    config = _config(
        tmp_path, x_target("http://127.0.0.1:1"), reddit_target("http://127.0.0.1:1", name="r")
    )
    assert names.target(config.targets, "twitter") == "x"
    assert names.target(config.targets, "reddit") == "r"
    assert names.target(config.targets, "Reddit") == "r"


def test_a_platform_of_two_targets_asks_for_one(tmp_path: Path) -> None:
    config = _config(
        tmp_path,
        x_target("http://127.0.0.1:1"),
        reddit_target("http://127.0.0.1:1", name="r-python"),
        reddit_target("http://127.0.0.1:1", name="r-garden"),
    )
    with pytest.raises(UnknownNameError) as raised:
        names.target(config.targets, "reddit")
    assert str(raised.value) == (
        "no target named 'reddit': 2 targets post to reddit (r-python, r-garden): name one"
    )


def test_an_unknown_name_suggests_the_nearest_and_lists_the_targets(tmp_path: Path) -> None:
    config = _config(
        tmp_path, x_target("http://127.0.0.1:1", name="x-main"), reddit_target("http://127.0.0.1:1")
    )
    with pytest.raises(UnknownNameError) as raised:
        names.target(config.targets, "x-mian")
    assert str(raised.value) == (
        "no target named 'x-mian' (did you mean 'x-main'?); the targets: x-main (twitter),"
        " reddit (reddit)"
    )
    with pytest.raises(UnknownNameError, match=r"^no target named 'tumblr'; the targets: x-main"):
        names.target(config.targets, "tumblr")  # a platform no target posts to


def test_a_removed_target_still_in_the_record_can_be_named(tmp_path: Path) -> None:
    config = _config(tmp_path, x_target("http://127.0.0.1:1"))
    assert names.target(config.targets, "old", also=["old"]) == "old"


def test_an_unknown_feed_suggests_the_nearest_and_lists_the_feeds() -> None:
    assert names.feed(["blog", "news"], "blog") == "blog"
    with pytest.raises(UnknownNameError) as raised:
        names.feed(["blog", "news"], "blgo")
    assert str(raised.value) == "no feed named 'blgo' (did you mean 'blog'?); the feeds: blog, news"
