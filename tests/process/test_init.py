"""``feedrelay init``: in a terminal against the loopback blog, and with every answer an option."""

from __future__ import annotations

import stat
from pathlib import Path

import click.testing
import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.config import load_config
from tests.conftest import ENV, X_SECRETS
from tests.fakes.feed_server import FakeBlog
from tests.fakes.reddit_api import FakeReddit
from tests.fakes.x_api import FakeX
from tests.platforms import reddit as reddit_hooks
from tests.terminal import Terminal

# What `check` needs once .env is filled in (init names REDDIT_USERNAME too).
FILLED_ENV = {**ENV, "REDDIT_USERNAME": reddit_hooks.USERNAME}


def _invoke(*args: str, env: dict[str, str] | None = None) -> click.testing.Result:
    return CliRunner().invoke(main, list(args), env=env or {})


def _use_fakes(config: Path, **api_base: str) -> None:
    """Point targets at the loopback fakes, as `api_base` does for a proxy."""
    text = config.read_text()
    for target, url in api_base.items():
        text = text.replace(f"[targets.{target}]\n", f'[targets.{target}]\napi_base = "{url}"\n')
    config.write_text(text)


def test_init_in_a_terminal_then_check_online(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, reddit_api: FakeReddit
) -> None:
    blog.add_entry("Planting garlic")
    blog.add_entry("Tomatoes & blight")
    term = Terminal("init", cwd=tmp_path, env={})
    # A wrong address first: it says why and asks again.
    term.answer(r"Blog address \(its home page or its feed\): ", blog.url + "/2019/01/gone.html")
    term.expect(r"cannot read .*gone\.html: HTTP 404 Not Found.*check the address")
    term.answer(r"Blog address", blog.url + "/")
    term.expect(r"feed: http://127\.0\.0\.1:\d+/feeds/posts/default \(the page advertises it\)")
    term.expect(r"title: Field Notes, 2 entries")
    term.expect(r"newest: Tomatoes & blight")
    term.answer(r"Post to which platforms .*\[twitter\]: ", "twitter, myspace")
    term.expect(r"unknown platform myspace: choose from mastodon, reddit, tumblr, twitter")
    term.answer(r"Post to which platforms", "x,reddit")
    term.answer(r"Subreddit \(r/NAME\): ", "r/feedrelay test")
    term.expect(r"is not a subreddit name: give it as in reddit.com/r/NAME")
    term.answer(r"Subreddit", f"r/{reddit_hooks.SUBREDDIT}")
    term.expect(r"wrote feedrelay\.toml and \.env")
    assert term.finish() == 0
    assert "feedrelay auth twitter" in term.screen and "feedrelay check --online" in term.screen

    config = tmp_path / "feedrelay.toml"
    text = config.read_text()
    assert f'url = "{blog.feed_url}"' in text
    assert 'targets = ["x", "reddit"]' in text and "[targets.tumblr]" not in text
    assert f'subreddit = "{reddit_hooks.SUBREDDIT}"' in text
    env = (tmp_path / ".env").read_text()
    assert "X_ACCESS_TOKEN=\n" in env and "REDDIT_PASSWORD=\n" in env
    assert all(line.endswith("=") for line in env.splitlines() if "=" in line.split("#")[0])
    assert stat.S_IMODE((tmp_path / ".env").stat().st_mode) == 0o600

    # Valid as written: `check` passes once the variables are set.
    assert _invoke("check", env={}).exit_code == 2
    checked = _invoke("check", env=FILLED_ENV)
    assert checked.exit_code == 0, checked.output

    _use_fakes(config, x=x_api.url, reddit=reddit_api.url)
    online = Terminal("check", "--online", cwd=tmp_path, env=FILLED_ENV)
    online.expect(r"target x: ok, posting as @feedrelay_bot")
    online.expect(rf"target reddit: ok, posting as u/{reddit_hooks.USERNAME}")
    online.expect(r"feed blog: ok")
    assert online.finish() == 0
    for secret in FILLED_ENV.values():
        if secret != reddit_hooks.USERNAME:
            assert secret not in term.screen + online.screen


def test_init_with_every_answer_as_an_option_asks_nothing(tmp_path: Path, blog: FakeBlog) -> None:
    blog.add_entry("Only post")
    args = [
        "init",
        "--blog",
        blog.url,
        "--to",
        "twitter,reddit,tumblr",
        "--subreddit",
        "r/feedrelaytest",
        "--tumblr-blog",
        "feedrelay-test.tumblr.com",
        "--config",
        "conf/relay.toml",
    ]
    result = _invoke(*args)  # no input at all: a prompt would abort
    assert result.exit_code == 0, result.output
    assert "newest: Only post" in result.output
    assert "feedrelay --config conf/relay.toml auth tumblr" in result.output
    config = load_config(tmp_path / "conf" / "relay.toml", environ=FILLED_ENV)
    assert list(config.targets) == ["x", "reddit", "tumblr"]
    assert config.targets["tumblr"].blog == "feedrelay-test"
    assert (tmp_path / "conf" / ".env").exists()

    again = _invoke(*args)
    assert again.exit_code == 1
    assert "already exist: pass --force to overwrite" in again.output
    forced = _invoke(*args, "--force", "--to", "twitter")
    assert forced.exit_code == 0, forced.output
    assert "[targets.reddit]" not in (tmp_path / "conf" / "relay.toml").read_text()


def test_init_yes_takes_twitter_and_the_global_config_option(
    tmp_path: Path, blog: FakeBlog
) -> None:
    result = _invoke("--config", "other.toml", "init", "--blog", blog.feed_url, "--yes")
    assert result.exit_code == 0, result.output
    assert "(the address is a feed)" in result.output
    assert "it has no entries yet" in result.output
    config = load_config(tmp_path / "other.toml", environ=X_SECRETS)
    assert list(config.targets) == ["x"]


def test_init_finds_bloggers_feed_when_the_page_names_none(tmp_path: Path, blog: FakeBlog) -> None:
    blog.advertise = False
    result = _invoke("init", "--blog", blog.url, "--yes")
    assert result.exit_code == 0, result.output
    assert f"feed: {blog.feed_url} (Blogger's feed)" in result.output


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--yes"], "--yes needs --blog URL"),
        (
            ["--to", "twitter,myspace"],
            "unknown platform myspace: choose from mastodon, reddit, tumblr, twitter",
        ),
        (["--to", "reddit", "--yes"], "--yes needs --subreddit"),
        (["--to", "reddit", "--subreddit", "r/a b"], "is not a subreddit name: give it as in"),
        (["--to", "tumblr", "--tumblr-blog", "my blog!"], "is not a Tumblr blog: give its name"),
    ],
)
def test_init_option_errors_name_the_problem_and_the_fix(
    tmp_path: Path, blog: FakeBlog, args: list[str], says: str
) -> None:
    blog_args = [] if args == ["--yes"] else ["--blog", blog.url]
    result = _invoke("init", *blog_args, *args)
    assert result.exit_code == 2, result.output
    assert says in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "feedrelay.toml").exists()


def test_init_without_a_feed_says_what_was_tried_and_what_to_give(
    tmp_path: Path, blog: FakeBlog
) -> None:
    page = blog.add_page("/2026/11/about.html", "<html><head><title>About</title></head></html>")
    blog.fail_next(404)  # and Blogger's feed path is not there either
    result = _invoke("init", "--blog", page, "--yes")
    assert result.exit_code == 1
    assert f"found no feed at {page}: this is a web page, not a feed" in result.output
    assert f"tried {blog.feed_url} (HTTP 404 Not Found" in result.output
    assert "Give the feed's own address (often /feed, /rss.xml" in result.output
    unreachable = _invoke("init", "--blog", "http://127.0.0.1:9/", "--yes")
    assert unreachable.exit_code == 1
    assert "cannot read http://127.0.0.1:9/" in unreachable.output
    assert "check the address (and that the blog is up)" in unreachable.output


def test_init_force_rewrites_an_existing_env_with_mode_0600(tmp_path: Path, blog: FakeBlog) -> None:
    env = tmp_path / ".env"
    env.write_text("X_ACCESS_TOKEN=a-real-token\n")
    env.chmod(0o644)  # made by hand, readable by everyone
    result = _invoke("init", "--blog", blog.feed_url, "--yes", "--force")
    assert result.exit_code == 0, result.output
    assert stat.S_IMODE(env.stat().st_mode) == 0o600
    assert "X_ACCESS_TOKEN=\n" in env.read_text()


@pytest.mark.parametrize("force", [[], ["--force"]])
@pytest.mark.parametrize("dangling", [False, True])
def test_init_refuses_an_env_that_is_a_symbolic_link(
    tmp_path: Path, blog: FakeBlog, force: list[str], dangling: bool
) -> None:
    target = tmp_path / "elsewhere" / "secrets"
    target.parent.mkdir()
    if not dangling:
        target.write_text("KEEP=me\n")
        target.chmod(0o640)
    (tmp_path / ".env").symlink_to(target)
    result = _invoke("init", "--blog", blog.feed_url, "--yes", *force)
    assert result.exit_code == 2, result.output
    assert ".env is a symbolic link: init writes .env itself, with mode 0600" in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "feedrelay.toml").exists()
    if dangling:
        assert not target.exists()
    else:
        assert target.read_text() == "KEEP=me\n"
        assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert blog.requests == []  # refused before fetching or asking anything


def test_write_files_never_follows_a_symbolic_link(tmp_path: Path) -> None:
    from bot import setup
    from bot.errors import SetupError

    target = tmp_path / "secrets"
    target.write_text("KEEP=me\n")
    (tmp_path / ".env").symlink_to(target)
    answers = setup.Answers(
        feed=setup.FoundFeed(url="https://b.example/feed", how="given", title="B", entries=0),
        platforms=["twitter"],
    )
    with pytest.raises(SetupError, match="is a symbolic link"):
        setup.write_files(tmp_path / "feedrelay.toml", answers, force=True)
    assert target.read_text() == "KEEP=me\n"
