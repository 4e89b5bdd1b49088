"""One feed fans out to X, a subreddit and a Tumblr blog, each through its real client."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.model import DeliveryState
from tests.conftest import (
    ENV,
    LOOPBACK_IMAGES,
    Clock,
    feed_table,
    open_app,
    reddit_target,
    write_config,
)
from tests.conftest import three_platforms as _config
from tests.fakes.feed_server import FakeBlog
from tests.fakes.reddit_api import FakeReddit
from tests.fakes.tumblr_api import FakeTumblr
from tests.fakes.x_api import FakeX
from tests.platforms import reddit as reddit_hooks


def _run_once(path: Path, clock: Clock) -> None:
    with open_app(path, clock, ENV) as app:
        app.recover()
        app.poll_due_feeds(everything=True)
        app.dispatch_due()


def test_each_new_entry_lands_once_on_each_platform(
    tmp_path: Path,
    blog: FakeBlog,
    x_api: FakeX,
    reddit_api: FakeReddit,
    tumblr_api: FakeTumblr,
    clock: Clock,
) -> None:
    blog.add_entry("Baseline")
    path = _config(tmp_path, blog, x_api, reddit_api, tumblr_api)
    _run_once(path, clock)
    entry = blog.add_entry(
        "Tomatoes &amp; blight, a field report",
        "<p>The <b>third</b> year running.</p><p>Next year: resistant varieties.</p>",
        labels=["Gardening", "Oil, Gas & Tomatoes"],
    )
    for _ in range(2):
        clock.advance(minutes=11)
        _run_once(path, clock)
    link = blog.entry_url(entry)

    (tweet,) = x_api.tweets
    assert link in tweet["text"]

    (submission,) = reddit_api.submissions
    assert submission["url"] == link
    assert submission["title"] == "Tomatoes & blight, a field report"
    assert submission["subreddit"] == reddit_hooks.SUBREDDIT

    (post,) = tumblr_api.posts
    assert post["source_url"] == link
    assert post["tags"] == "Gardening,Oil Gas & Tomatoes,from-feedrelay"
    # One text block per paragraph, then the link card.
    assert [block["type"] for block in post["content"]] == ["text", "text", "link"]
    assert post["content"][0]["text"] == "The third year running."
    assert post["content"][1]["text"] == "Next year: resistant varieties."
    assert post["content"][2]["url"] == link
    assert post["slug"]

    with open_app(path, clock, ENV) as app:
        rows = app.history()
    assert {(r.platform, r.state) for r in rows} == {
        ("twitter", DeliveryState.POSTED),
        ("reddit", DeliveryState.POSTED),
        ("tumblr", DeliveryState.POSTED),
    }
    by_platform = {r.platform: r for r in rows}
    assert by_platform["reddit"].remote_id == submission["id"]
    assert by_platform["tumblr"].remote_id == str(post["id"])


def test_reddit_self_post_and_flair(
    tmp_path: Path,
    blog: FakeBlog,
    x_api: FakeX,
    reddit_api: FakeReddit,
    tumblr_api: FakeTumblr,
    clock: Clock,
) -> None:
    path = _config(
        tmp_path,
        blog,
        x_api,
        reddit_api,
        tumblr_api,
        'kind = "self"\nflair_text = "Blog"\nbody = "{summary}\\n\\nRead more: {url}"',
    )
    reddit_api.set_flair_templates(reddit_hooks.SUBREDDIT, [("id-blog", "Blog")])
    _run_once(path, clock)
    entry = blog.add_entry("Self post", '<p>See <a href="/about.html">about</a>.</p>')
    clock.advance(minutes=11)
    _run_once(path, clock)
    (submission,) = reddit_api.submissions
    assert (submission["flair_id"], submission["flair_text"]) == ("id-blog", "Blog")
    assert f"[about]({blog.url}/about.html)" in submission["selftext"]
    assert submission["selftext"].endswith("Read more: " + blog.entry_url(entry))


def test_an_unknown_reddit_outcome_is_found_not_resent(
    tmp_path: Path,
    blog: FakeBlog,
    x_api: FakeX,
    reddit_api: FakeReddit,
    tumblr_api: FakeTumblr,
    clock: Clock,
) -> None:
    path = _config(tmp_path, blog, x_api, reddit_api, tumblr_api)
    _run_once(path, clock)
    blog.add_entry("Lost answer")
    reddit_api.accept_then_fail_next(503)
    tumblr_api.accept_then_fail_next(503)
    clock.advance(minutes=11)
    _run_once(path, clock)
    with open_app(path, clock, ENV) as app:
        states = {r.target: r.state for r in app.history()}
        assert states["reddit"] is DeliveryState.UNKNOWN
        assert states["tumblr"] is DeliveryState.UNKNOWN
        app.dispatch_due()
        rows = {r.target: r for r in app.history()}
    assert len(reddit_api.submissions) == 1
    assert len(tumblr_api.posts) == 1
    assert rows["reddit"].state is DeliveryState.POSTED
    assert rows["reddit"].remote_id == reddit_api.submissions[0]["id"]
    assert rows["tumblr"].state is DeliveryState.POSTED
    assert rows["tumblr"].remote_id == str(tumblr_api.posts[0]["id"])


def test_check_online_names_every_account(
    tmp_path: Path,
    blog: FakeBlog,
    x_api: FakeX,
    reddit_api: FakeReddit,
    tumblr_api: FakeTumblr,
) -> None:
    path = _config(tmp_path, blog, x_api, reddit_api, tumblr_api)
    result = CliRunner().invoke(main, ["--config", str(path), "check", "--online"], env=ENV)
    assert result.exit_code == 0, result.output
    assert "target x: ok, posting as @feedrelay_bot" in result.output
    assert f"target reddit: ok, posting as u/{reddit_hooks.USERNAME}" in result.output
    assert "target tumblr: ok, posting as" in result.output
    for secret in ENV.values():
        assert secret not in result.output
    bad = CliRunner().invoke(
        main,
        ["--config", str(path), "check", "--online"],
        env={**ENV, "REDDIT_PASSWORD": "wrong", "TUMBLR_OAUTH_TOKEN_SECRET": "wrong-too"},
    )
    assert bad.exit_code == 1
    assert "target reddit: FAILED" in bad.output
    assert "target tumblr: FAILED" in bad.output
    history = CliRunner().invoke(main, ["--config", str(path), "history", "--json"], env=ENV)
    assert json.loads(history.stdout) == []


PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def test_an_entry_image_reaches_x_as_media_and_tumblr_as_poster(
    tmp_path: Path,
    blog: FakeBlog,
    x_api: FakeX,
    reddit_api: FakeReddit,
    tumblr_api: FakeTumblr,
    clock: Clock,
) -> None:
    path = _config(tmp_path, blog, x_api, reddit_api, tumblr_api, bot=LOOPBACK_IMAGES)
    _run_once(path, clock)
    image_url = blog.add_image("tomatoes.png", PNG)
    blog.add_entry(
        "With a picture",
        f'<p><img src="{image_url}" alt="Ripe tomatoes on the vine"></p><p>Look.</p>',
    )
    clock.advance(minutes=11)
    _run_once(path, clock)

    (tweet,) = x_api.tweets
    (media_id,) = tweet["media_ids"]
    assert x_api.media[media_id]["data"] == PNG
    assert x_api.media[media_id]["alt"] == "Ripe tomatoes on the vine"
    (post,) = tumblr_api.posts
    link_block = post["content"][-1]
    assert link_block["poster"][0]["url"] == image_url
    # The image was downloaded once, for X; Tumblr fetches it by URL itself.
    assert len(blog.requests_to("GET", "/img/tomatoes.png")) == 1


def test_a_broken_image_never_blocks_the_post(
    tmp_path: Path,
    blog: FakeBlog,
    x_api: FakeX,
    reddit_api: FakeReddit,
    tumblr_api: FakeTumblr,
    clock: Clock,
    caplog: pytest.LogCaptureFixture,
) -> None:
    path = _config(tmp_path, blog, x_api, reddit_api, tumblr_api, bot=LOOPBACK_IMAGES)
    _run_once(path, clock)
    not_an_image = blog.add_image("fake.png", b"<html>nope</html>", "image/png")
    blog.add_entry("Broken picture", f'<p><img src="{not_an_image}"></p>')
    clock.advance(minutes=11)
    _run_once(path, clock)
    (tweet,) = x_api.tweets
    assert not tweet["media_ids"]
    assert "without its image" in caplog.text and "not a JPEG, PNG, GIF or WebP" in caplog.text


def test_a_reddit_target_is_spaced_by_its_platforms_default_unless_it_sets_its_own(
    tmp_path: Path, blog: FakeBlog, reddit_api: FakeReddit, clock: Clock
) -> None:
    """Reddit flags bursts of links: a target that sets no min_interval posts one entry,
    then the next ten minutes later; one that sets its own (here none) posts both."""
    entries = [blog.add_entry("First"), blog.add_entry("Second")]
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["reddit", "eager"], backfill=2),
        reddit_target(reddit_api.url),
        reddit_target(reddit_api.url, extra='min_interval = "0s"', name="eager"),
    )
    with open_app(path, clock, ENV) as app:
        app.poll_due_feeds()
        app.dispatch_due()
        posted = {
            t: [d.link for d in app.history(target=t, state="posted")] for t in ("reddit", "eager")
        }
    assert len(posted["eager"]) == 2
    assert len(posted["reddit"]) == 1
    clock.advance(minutes=9)
    with open_app(path, clock, ENV) as app:
        app.dispatch_due()
        assert len(app.history(target="reddit", state="posted")) == 1
        clock.advance(minutes=1)
        app.dispatch_due()
        assert len(app.history(target="reddit", state="posted")) == 2
    assert sorted(s["url"] for s in reddit_api.submissions) == sorted(
        blog.entry_url(e) for e in entries
    )  # one subreddit: the second target's posts were Reddit's duplicates
