"""``feedrelay add feed`` and ``feedrelay add target`` with every answer an option (issue 19,
item 7); their journeys in a terminal are in tests/process/test_first_hour.py."""

from __future__ import annotations

import stat
from pathlib import Path

import click.testing
from click.testing import CliRunner

from bot.cli import main
from bot.config import load_config
from tests.conftest import ENV, feed_table, write_config, x_target
from tests.fakes.feed_server import FakeBlog


def _invoke(*args: str) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), env={})


def test_add_target_with_options_asks_nothing_and_names_its_own_variables(
    tmp_path: Path, blog: FakeBlog
) -> None:
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["x"]),
        feed_table("news", blog.feed_url + "?news", ["x"]),
        x_target("http://127.0.0.1:9"),
    )
    path.chmod(0o640)
    added = _invoke("add", "target", "x", "--name", "x-work", "--feed", "news", "--yes")
    assert added.exit_code == 0, added.output
    assert "added [targets.x-work] (twitter) to feedrelay.toml; feed news posts to it" in (
        added.output
    )
    assert "X_ACCESS_TOKEN_X_WORK" in added.output
    text = path.read_text()
    assert 'access_token = "${X_ACCESS_TOKEN_X_WORK}"' in text  # x already reads X_ACCESS_TOKEN
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    config = load_config(path, environ={**ENV, **{f"{k}_X_WORK": v for k, v in ENV.items()}})
    assert config.feeds["news"].targets == ["x", "x-work"]
    assert config.feeds["blog"].targets == ["x"]
    assert "X_ACCESS_TOKEN_X_WORK=\n" in (tmp_path / ".env").read_text()
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600

    again = _invoke("add", "target", "twitter", "--name", "x-work", "--yes")
    assert again.exit_code == 1
    assert "the config has a target named 'x-work' already: choose another --name" in again.output
    bad = _invoke("add", "target", "x", "--name", "x work", "--yes")
    assert "'x work' cannot name a target" in bad.output
    unknown = _invoke("add", "target", "myspace", "--yes")
    assert unknown.exit_code == 2 and "unknown platform myspace: choose from" in unknown.output
    no_feed = _invoke("add", "target", "x", "--feed", "nwes", "--yes")
    assert no_feed.exit_code == 2 and "(did you mean 'news'?)" in no_feed.output
    assert path.read_text() == text  # none of them changed it


def test_add_edits_the_file_a_linked_config_points_at_and_refuses_a_wrong_config(
    tmp_path: Path, blog: FakeBlog
) -> None:
    real = write_config(tmp_path, feed_table("blog", blog.feed_url, ["x"]), x_target(blog.url))
    link = tmp_path / "linked.toml"
    link.symlink_to(real)
    with FakeBlog("Other") as other:
        result = _invoke("--config", str(link), "add", "feed", other.url, "--to", "twitter")
        assert result.exit_code == 0, result.output
        assert "posting to x" in result.output
        assert link.is_symlink() and "[feeds.other]" in real.read_text()
        assert other.url in real.read_text()

        real.write_text(real.read_text() + '\n[targets.broken]\nplatform = "x-twitter"\n')
        wrong = real.read_text()
        refused = _invoke("--config", str(real), "add", "feed", other.url, "--yes")
        assert refused.exit_code == 2
        assert "targets.broken.platform: must be one of" in refused.output
        assert real.read_text() == wrong
        assert other.requests_to("GET", "/") == [other.requests[0]]  # never fetched again
