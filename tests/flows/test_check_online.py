"""``check --online`` says in plain words what would stop posts, and what to do about it."""

from __future__ import annotations

from pathlib import Path

import click.testing
from click.testing import CliRunner

from bot.cli import main
from tests.conftest import ENV, feed_table, reddit_target, three_platforms, write_config
from tests.fakes.feed_server import FakeBlog
from tests.fakes.reddit_api import FakeReddit
from tests.fakes.tumblr_api import FakeTumblr
from tests.fakes.x_api import FakeX
from tests.platforms import reddit as reddit_hooks
from tests.platforms import tumblr as tumblr_hooks


def _check(path: Path, env: dict[str, str] | None = None) -> click.testing.Result:
    return CliRunner().invoke(main, ["--config", str(path), "check", "--online"], env=env or ENV)


def _no_secret_in(output: str) -> None:
    for secret in ENV.values():
        assert secret not in output
    assert "Traceback" not in output


def test_a_read_only_x_app_is_named_with_the_fix(
    tmp_path: Path,
    blog: FakeBlog,
    x_api: FakeX,
    reddit_api: FakeReddit,
    tumblr_api: FakeTumblr,
) -> None:
    x_api.read_only()
    result = _check(three_platforms(tmp_path, blog, x_api, reddit_api, tumblr_api))
    assert result.exit_code == 1
    assert "target x: PROBLEM, posting as @feedrelay_bot:" in result.output
    assert (
        "the X app has read-only permission: set it to Read and write, then generate new"
        " tokens (`feedrelay auth twitter`)"
    ) in result.output
    assert "target reddit: ok" in result.output and "target tumblr: ok" in result.output
    assert "1 problem: fix it and run this again" in result.output
    assert x_api.tweets == []  # found out without posting
    _no_secret_in(result.output)


def test_subreddit_rules_that_refuse_the_targets_posts(
    tmp_path: Path, blog: FakeBlog, reddit_api: FakeReddit
) -> None:
    reddit_api.set_subreddit(reddit_hooks.SUBREDDIT, submission_type="self", flair_required=True)
    path = write_config(
        tmp_path, feed_table("blog", blog.feed_url, ["reddit"]), reddit_target(reddit_api.url)
    )
    result = _check(path)
    assert result.exit_code == 1
    sub = f"r/{reddit_hooks.SUBREDDIT}"
    assert f"target reddit: PROBLEM, posting as u/{reddit_hooks.USERNAME}:" in result.output
    assert (
        f"{sub} requires post flair and this target sets none: set flair_text (or flair_id)"
        " in [targets.reddit]"
    ) in result.output
    assert f'{sub} allows only text posts: set kind = "self" in [targets.reddit]' in result.output
    assert reddit_api.submissions == []

    fixed = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["reddit"]),
        reddit_target(reddit_api.url, 'kind = "self"\nflair_text = "Blog"'),
    )
    # flair_text alone needs the subreddit's flair of that text (Reddit wants its id).
    reddit_api.set_flair_templates(reddit_hooks.SUBREDDIT, [("id-news", "News")])
    no_such_flair = _check(fixed)
    assert no_such_flair.exit_code == 1
    assert "flair_text 'Blog' matches none of its flairs: 'News' (flair_id id-news)" in (
        no_such_flair.output
    )
    reddit_api.set_flair_templates(reddit_hooks.SUBREDDIT, [("id-blog", "Blog")])
    assert _check(fixed).exit_code == 0

    reddit_api.set_subreddit(reddit_hooks.SUBREDDIT, submission_type="link")
    self_posts = _check(fixed)
    assert f'{sub} allows only link posts: set kind = "link"' in self_posts.output
    reddit_api.missing_subreddit(reddit_hooks.SUBREDDIT)
    missing = _check(fixed)
    assert f"{sub} does not exist (or was banned): check subreddit in [targets.reddit]" in (
        missing.output
    )
    _no_secret_in(result.output + self_posts.output + missing.output)


def test_a_tumblr_blog_the_account_cannot_post_to(
    tmp_path: Path,
    blog: FakeBlog,
    x_api: FakeX,
    reddit_api: FakeReddit,
    tumblr_api: FakeTumblr,
) -> None:
    path = three_platforms(tmp_path, blog, x_api, reddit_api, tumblr_api)
    path.write_text(path.read_text().replace(f'blog = "{tumblr_hooks.BLOG}"', 'blog = "other"'))
    result = _check(path)
    assert result.exit_code == 1
    assert (
        f"target tumblr: FAILED: account {tumblr_hooks.USER} cannot post to blog"
        f" other.tumblr.com: set blog in [targets.tumblr] to one of its blogs"
        f" ({tumblr_hooks.BLOG})"
    ) in result.output
    _no_secret_in(result.output)


def test_refused_credentials_say_how_to_get_new_ones(
    tmp_path: Path,
    blog: FakeBlog,
    x_api: FakeX,
    reddit_api: FakeReddit,
    tumblr_api: FakeTumblr,
) -> None:
    path = three_platforms(tmp_path, blog, x_api, reddit_api, tumblr_api)
    result = _check(path, {**ENV, "X_ACCESS_TOKEN": "revoked-token"})
    assert result.exit_code == 1
    assert "target x: FAILED: X refused the account check (401)" in result.output
    assert (
        "fix: check the target's credentials in the environment; `feedrelay auth twitter`"
        " makes new ones"
    ) in result.output
    assert "revoked-token" not in result.output


def test_a_feed_that_is_a_web_page_names_its_feed(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    from tests.conftest import X_SECRETS, x_target

    path = write_config(tmp_path, feed_table("blog", blog.url + "/", ["x"]), x_target(x_api.url))
    result = CliRunner().invoke(main, ["--config", str(path), "check", "--online"], env=X_SECRETS)
    assert result.exit_code == 1
    assert "feed blog: FAILED:" in result.output
    assert f"this is a web page, not a feed; it advertises: {blog.feed_url}" in result.output
    assert (
        f'fix: set url = "{blog.feed_url}" in [feeds.blog] (the page advertises it)'
        in result.output
    )
    gone = write_config(
        tmp_path, feed_table("blog", blog.url + "/nothing.xml", ["x"]), x_target(x_api.url)
    )
    blog.fail_next(404)
    missing = CliRunner().invoke(main, ["--config", str(gone), "check", "--online"], env=X_SECRETS)
    assert "fix: check url in [feeds.blog]: open it in a browser" in missing.output
