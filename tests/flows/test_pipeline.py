"""The whole flow against loopback fakes: feed -> store -> render -> X -> history."""

from __future__ import annotations

import threading
import time
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.twitter.text import weighted_length
from bot.model import Decision, DeliveryState, Limits
from tests.conftest import (
    DATA,
    Clock,
    feed_table,
    open_app,
    register_dead_runner,
    write_config,
    x_target,
)
from tests.fakes.feed_server import FakeBlog
from tests.fakes.server import Response
from tests.fakes.x_api import FakeX


def _config(tmp_path: Path, blog: FakeBlog, x_api: FakeX, backfill: int = 0, **x: str) -> Path:
    return write_config(
        tmp_path, feed_table("blog", blog.feed_url, ["x"], backfill), x_target(x_api.url, **x)
    )


def _run_once(path: Path, clock: Clock) -> None:
    with open_app(path, clock) as app:
        app.recover()
        app.poll_due_feeds(everything=True)
        app.dispatch_due()


def test_first_poll_is_a_baseline_then_each_new_entry_is_posted_once(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    blog.add_entry("Old post one")
    blog.add_entry("Old post two")
    path = _config(tmp_path, blog, x_api)

    _run_once(path, clock)
    assert x_api.tweets == []

    first = blog.add_entry("Tomatoes in November", labels=["Gardening"])
    second = blog.add_entry("A second new post")
    clock.advance(minutes=11)
    _run_once(path, clock)

    texts = [t["text"] for t in x_api.tweets]
    assert len(texts) == 2
    assert texts[0].startswith("Tomatoes in November " + blog.entry_url(first))
    assert texts[0].endswith("#Gardening")
    assert texts[1].startswith("A second new post " + blog.entry_url(second))

    with open_app(path, clock) as app:
        history = app.history()
    assert {d.remote_id for d in history} == {str(t["id"]) for t in x_api.tweets}
    assert all(d.state is DeliveryState.POSTED for d in history)

    clock.advance(minutes=11)
    _run_once(path, clock)  # unchanged feed (304)
    blog.edit_entry(first, title="Tomatoes in November (updated)", html="<p>More</p>")
    clock.advance(minutes=11)
    _run_once(path, clock)  # an edit is never a new post
    assert len(x_api.tweets) == 2


def test_backfill_posts_the_newest_entries_oldest_first(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    for title in ("One", "Two", "Three", "Four"):
        blog.add_entry(title)
    _run_once(_config(tmp_path, blog, x_api, backfill=2), clock)
    assert [t["text"].split()[0] for t in x_api.tweets] == ["Three", "Four"]


def test_conditional_get_sends_the_validators(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    blog.add_entry("Hello")
    path = _config(tmp_path, blog, x_api)
    _run_once(path, clock)
    clock.advance(minutes=11)
    _run_once(path, clock)
    first, second = blog.feed_fetches()
    assert "if-none-match" not in first.headers
    assert second.header("if-none-match").startswith('"')
    assert second.header("if-modified-since")


def test_rate_limited_post_waits_for_the_reset_and_then_goes(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _config(tmp_path, blog, x_api)
    _run_once(path, clock)
    blog.add_entry("Busy day")
    x_api.fail_next(429, reset_in=900)
    clock.advance(minutes=11)
    _run_once(path, clock)
    with open_app(path, clock) as app:
        (row,) = app.history()
        assert row.state is DeliveryState.RETRY
        assert row.due_at is not None and row.due_at > clock.now
        app.dispatch_due()  # not due yet: nothing is sent
    assert x_api.tweets == []
    clock.now = row.due_at
    _run_once(path, clock)
    assert len(x_api.tweets) == 1


def test_rejected_post_fails_with_the_platforms_reason(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _config(tmp_path, blog, x_api)
    _run_once(path, clock)
    blog.add_entry("Too long for X")
    x_api.fail_next(400)
    clock.advance(minutes=11)
    _run_once(path, clock)
    with open_app(path, clock) as app:
        (row,) = app.history()
    assert row.state is DeliveryState.FAILED
    assert row.error and "Tweet text is too long" in row.error


def test_a_post_refused_for_the_accounts_permission_is_held_with_the_platforms_reason(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _config(tmp_path, blog, x_api)
    _run_once(path, clock)
    blog.add_entry("Denied")
    x_api.fail_next(403)
    clock.advance(minutes=11)
    _run_once(path, clock)
    with open_app(path, clock) as app:
        (row,) = app.history()
    assert row.state is DeliveryState.HELD and row.held_for == "credentials"
    assert row.error and "not permitted" in row.error


def test_interrupted_send_is_checked_not_blindly_resent(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    """A crash after X accepted the tweet: the post is found on the timeline, not re-sent."""
    path = _config(tmp_path, blog, x_api)
    _run_once(path, clock)
    blog.add_entry("Crash in the middle")
    clock.advance(minutes=11)
    with open_app(path, clock) as app:
        app.poll_due_feeds()
        register_dead_runner(app.store, "crashed", clock.now)
        (row,) = app.store.claim_due(
            clock.now,
            target="x",
            worker="crashed",
            lease=timedelta(minutes=10),
            decide=lambda *_: Decision(action="send"),
        )  # committed as sending ...
    x_api.seed_tweet(row.post.text)  # ... and X did create it, then we "crashed"

    _run_once(path, clock)
    with open_app(path, clock) as app:
        (row,) = app.history()
    assert row.state is DeliveryState.POSTED
    assert len(x_api.tweets) == 1
    # Found on the account's timeline: the record names the post that is there.
    tweet_id = x_api.tweets[0]["id"]
    assert row.remote_id == tweet_id
    assert row.remote_url == f"https://x.com/{x_api.user['username']}/status/{tweet_id}"


def test_unknown_outcome_is_recorded_as_unknown(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _config(tmp_path, blog, x_api)
    _run_once(path, clock)
    blog.add_entry("Ambiguous")
    x_api.accept_then_fail_next(503)
    clock.advance(minutes=11)
    _run_once(path, clock)
    with open_app(path, clock) as app:
        (row,) = app.history()
        assert row.state is DeliveryState.UNKNOWN
        app.dispatch_due()  # found on the timeline before anything is re-sent
        (row,) = app.history()
    assert row.state is DeliveryState.POSTED
    assert len(x_api.tweets) == 1
    assert row.remote_id == x_api.tweets[0]["id"]
    assert len(x_api.requests_to("POST", "/2/tweets")) == 1


def test_a_duplicate_records_the_post_that_is_already_there(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _config(tmp_path, blog, x_api)
    _run_once(path, clock)
    blog.add_entry("Posted by hand earlier")
    clock.advance(minutes=11)
    with open_app(path, clock) as app:
        app.poll_due_feeds()
        (row,) = app.history()
        earlier = x_api.seed_tweet(row.post.text)
        app.dispatch_due()  # X answers 403 duplicate content
        (row,) = app.history()
    assert row.state is DeliveryState.POSTED
    assert row.remote_id == earlier["id"]
    assert row.remote_url and row.remote_url.endswith(f"/status/{earlier['id']}")


def test_a_broken_feed_does_not_stop_the_others(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    broken = tmp_path / "broken.xml"
    broken.write_text("<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><rss>&a;</rss>")
    path = write_config(
        tmp_path,
        feed_table("broken", str(broken), ["x"]),
        feed_table("missing", "http://127.0.0.1:9/feed", ["x"]),
        feed_table("blog", blog.feed_url, ["x"], backfill=1),
        x_target(x_api.url),
    )
    blog.add_entry("Still posted")
    with open_app(path, clock) as app:
        results = {r.feed: r for r in app.poll_due_feeds()}
        app.dispatch_due()
    assert "ENTITY" in (results["broken"].error or "")
    assert results["missing"].error
    assert results["blog"].error is None
    assert len(x_api.tweets) == 1


def test_every_tweet_fits_and_keeps_its_link(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _config(tmp_path, blog, x_api, template='"{title} {summary} {url} {hashtags}"')
    _run_once(path, clock)
    long_title = "Überlange Überschrift mit 日本語の文字と絵文字 👨‍👩‍👧‍👦 " * 12
    entry = blog.add_entry(long_title, "<p>" + "word " * 200 + "</p>", labels=["Oil & Gas", "C++"])
    clock.advance(minutes=11)
    _run_once(path, clock)
    (tweet,) = x_api.tweets
    assert weighted_length(tweet["text"]) <= 280
    assert blog.entry_url(entry) in tweet["text"]


def test_min_interval_spaces_posts(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _config(tmp_path, blog, x_api, min_interval='"30m"')
    _run_once(path, clock)
    blog.add_entry("First")
    blog.add_entry("Second")
    clock.advance(minutes=11)
    _run_once(path, clock)
    assert len(x_api.tweets) == 1
    clock.advance(minutes=29)
    _run_once(path, clock)
    assert len(x_api.tweets) == 1
    clock.advance(minutes=2)
    _run_once(path, clock)
    assert len(x_api.tweets) == 2


def test_bad_credentials_hold_one_post_and_pause_the_target(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _config(tmp_path, blog, x_api)
    _run_once(path, clock)
    blog.add_entry("One")
    blog.add_entry("Two")
    x_api.fail_next(401)
    clock.advance(minutes=11)
    _run_once(path, clock)
    with open_app(path, clock) as app:
        states = sorted(d.state.value for d in app.history())
    # The first is held for the credentials, the second waits behind the pause: neither fails.
    assert states == ["held", "queued"]
    assert x_api.tweets == []


def test_one_page_in_two_feeds_is_posted_once_per_target(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    """A blog's main feed and a label feed list the same post under different names."""
    path = write_config(
        tmp_path,
        feed_table("main", blog.feed_url, ["x"]),
        feed_table("label", blog.feed_url + "?label", ["x"]),
        x_target(x_api.url),
    )
    _run_once(path, clock)
    blog.add_entry("In both feeds")
    clock.advance(minutes=11)
    _run_once(path, clock)
    assert len(x_api.tweets) == 1
    with open_app(path, clock) as app:
        states = sorted(d.state.value for d in app.history())
    assert states == ["posted", "skipped"]


def test_a_feed_that_is_gone_is_not_polled_again_until_its_url_changes(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _config(tmp_path, blog, x_api)
    blog.fail_next(410)
    with open_app(path, clock) as app:
        (result,) = app.poll_due_feeds()
        assert result.error and "410 Gone" in result.error
        clock.advance(days=2)
        assert app.poll_due_feeds() == []
        assert app.poll_due_feeds(everything=True) == []  # run --once too
    assert len(blog.feed_fetches()) == 1
    moved = write_config(
        tmp_path, feed_table("blog", blog.feed_url + "?new", ["x"]), x_target(x_api.url)
    )
    with open_app(moved, clock) as app:
        (result,) = app.poll_due_feeds()
    assert result.error is None and result.baseline  # its first successful poll


class _BrokenAdapter:
    """An adapter with a bug: it raises something that is not a PublishError."""

    limits = Limits(max_text=280)

    def publish(self, post: object, media: object = None) -> object:
        raise KeyError("a bug")

    def verify(self) -> str:
        return "broken"

    def close(self) -> None:
        pass


def test_a_bug_in_an_adapter_leaves_the_delivery_unknown_not_sending(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _config(tmp_path, blog, x_api, backfill=1)
    blog.add_entry("Hits the bug")
    with open_app(path, clock, adapter_factory=lambda name, target: _BrokenAdapter()) as app:
        app.poll_due_feeds()
        with pytest.raises(KeyError):
            app.dispatch_due()
        (row,) = app.history()
    assert row.state is DeliveryState.UNKNOWN
    assert row.error and "unexpected KeyError" in row.error


def test_start_brings_a_far_next_check_back_to_one_interval(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _config(tmp_path, blog, x_api)
    with open_app(path, clock) as app:
        app.poll_due_feeds()
        state = app.store.feed_state("blog")
        assert state is not None
        app.store.save_feed_state(replace(state, next_check_at=clock.now + timedelta(days=1)))
    with open_app(path, clock) as app:
        with app.running("once"):
            app.start_polling()
            state = app.store.feed_state("blog")
            assert state is not None and state.next_check_at == clock.now + timedelta(minutes=10)
            assert [r.mode for r in app.status().runners] == ["once"]
        assert app.status().runners == []


def test_posts_written_while_down_go_out_and_a_flood_of_redated_ids_is_held(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    """After downtime a poll finds 19 new ids: 7 posts written meanwhile (dated after what
    the feed had) and 12 old posts under new ids (a migrated feed: dated days before). The
    7 go out, oldest first; the 12 are held until approved."""
    for number in range(3):
        blog.add_entry(f"Known post {number}")
    path = _config(tmp_path, blog, x_api)
    _run_once(path, clock)  # the baseline
    redated = [
        blog.add_entry(f"Migrated post {n}", published_at=clock.now - timedelta(days=5, hours=n))
        for n in range(12)
    ]
    genuine = [blog.add_entry(f"Written while down {n}") for n in range(7)]
    clock.advance(minutes=11)
    _run_once(path, clock)
    texts = [t["text"] for t in x_api.tweets]
    assert [text.split(" http")[0] for text in texts] == [e.title for e in genuine]
    with open_app(path, clock) as app:
        held = [d for d in app.history() if d.state is DeliveryState.HELD]
        assert sorted(d.title for d in held) == sorted(e.title for e in redated)
        assert held[0].error and "approve --feed blog" in held[0].error
        assert "12 entries of feed blog new by id but dated before" in held[0].error
        assert len(app.approve(feed="blog")) == 12
        app.dispatch_due()
    assert len(x_api.tweets) == 19


def test_an_entry_older_than_max_age_is_recorded_but_not_posted(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _config(tmp_path, blog, x_api)
    _run_once(path, clock)
    old = blog.add_entry("Backdated", published_at=clock.now - timedelta(days=30))
    clock.advance(minutes=11)
    _run_once(path, clock)
    assert x_api.tweets == []
    with open_app(path, clock) as app:
        (row,) = app.history()
        assert row.state is DeliveryState.SKIPPED
        assert row.error and "older than max_age" in row.error
        (result,) = app.post_now(blog.entry_url(old))  # by hand it still goes
    assert result.new and len(x_api.tweets) == 1


def test_a_feed_that_drips_its_body_is_cut_at_the_deadline_and_the_others_post(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    with FakeBlog() as slow:
        slow.add_entry("Never arrives")
        slow.next_responses.append(
            Response(200, slow.body(), {"Content-Type": "application/atom+xml"}, drip=0.05)
        )
        blog.add_entry("Arrives")
        path = write_config(
            tmp_path,
            feed_table("slow", slow.feed_url, ["x"], backfill=1),
            feed_table("blog", blog.feed_url, ["x"], backfill=1),
            x_target(x_api.url),
        )
        path.write_text(path.read_text().replace("[bot]\n", '[bot]\nfetch_deadline = "1s"\n'))
        with open_app(path, clock) as app:
            results = {r.feed: r for r in app.poll_due_feeds()}
            app.dispatch_due()
        assert results["slow"].error and "timed out" in results["slow"].error
        assert 0 < slow.dripped < len(slow.body())
    assert [t["text"].split(" http")[0] for t in x_api.tweets] == ["Arrives"]


def test_more_new_entries_than_one_page_holds_are_caught_up_from_the_next_pages(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    blog.page_size = 3
    for title in ("Old one", "Old two", "Old three"):
        blog.add_entry(title)
    path = _config(tmp_path, blog, x_api)
    _run_once(path, clock)
    for number in range(1, 6):  # two pages' worth, while the bot was down
        blog.add_entry(f"Missed {number}")
    clock.advance(minutes=11)
    _run_once(path, clock)
    posted = [t["text"].split(" http")[0] for t in x_api.tweets]
    assert posted == [f"Missed {number}" for number in range(1, 6)]
    starts = [r.query.get("start-index", ["1"])[0] for r in blog.feed_fetches()]
    assert starts == ["1", "1", "4"]  # the baseline, then page 1 and page 2


def test_a_feed_that_moved_permanently_is_fetched_at_its_new_address(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = write_config(
        tmp_path, feed_table("blog", blog.url + "/old-feed", ["x"]), x_target(x_api.url)
    )
    for _ in range(2):
        with open_app(path, clock) as app:
            app.poll_due_feeds(everything=True)
        clock.advance(minutes=11)
    assert len(blog.requests_to("GET", "/old-feed")) == 1  # the second poll went direct
    assert len(blog.feed_fetches()) == 2
    with open_app(path, clock) as app:
        state = app.status().feeds["blog"]
    assert state is not None and state.last_warning
    assert f"moved permanently to {blog.feed_url}: put that url in the config" in (
        state.last_warning
    )


HOSTILE = DATA / "hostile"


def _utf8_feed_with_one_bad_item() -> bytes:
    items = "".join(
        f"<item><guid>g{n}</guid><title>Café crème brûlée {n}</title>"
        f"<link>https://b.example/{n}</link></item>"
        for n in range(10)
    )
    bad = b"<item><guid>bad</guid><title>Broken \xff here</title></item>"
    return (
        b"<?xml version='1.0' encoding='utf-8'?><rss version='2.0'><channel><title>T</title>"
        + items.encode()
        + bad
        + b"</channel></rss>"
    )


@pytest.mark.parametrize(
    ("name", "body", "content_type", "says"),
    [
        (
            "billion laughs",
            (HOSTILE / "billion-laughs.xml").read_bytes(),
            "application/xml",
            "DTD or XML entities",
        ),
        (
            "entity after 100 KB",
            b"<?xml version='1.0'?><rss><channel>"
            + b" " * 102_400
            + b"<!DOCTYPE x [<!ENTITY a 'b'>]></channel></rss>",
            "application/xml",
            "ENTITY",
        ),
        (
            "web page",
            (HOSTILE / "blog-page.html").read_bytes(),
            "text/html",
            "web page, not a feed",
        ),
        (
            "invalid utf-8",
            _utf8_feed_with_one_bad_item(),
            "application/rss+xml",
            "invalid UTF-8",
        ),
    ],
)
def test_a_hostile_feed_is_reported_and_the_healthy_one_beside_it_posts(
    tmp_path: Path,
    blog: FakeBlog,
    x_api: FakeX,
    clock: Clock,
    name: str,
    body: bytes,
    content_type: str,
    says: str,
) -> None:
    with FakeBlog() as hostile:
        hostile.serve_next(body, content_type)
        blog.add_entry("Healthy")
        path = write_config(
            tmp_path,
            feed_table("hostile", hostile.feed_url, ["x"], backfill=1),
            feed_table("blog", blog.feed_url, ["x"], backfill=1),
            x_target(x_api.url),
        )
        with open_app(path, clock) as app:
            results = {r.feed: r for r in app.poll_due_feeds()}
            app.dispatch_due()
            state = app.status().feeds["hostile"]
    problem = results["hostile"].error or results["hostile"].warning
    assert problem and says in problem, name
    assert state is not None and (state.last_error or state.last_warning)
    posted = [t["text"].split(" http")[0] for t in x_api.tweets]
    assert "Healthy" in posted
    assert not any("Broken" in text or "\ufffd" in text for text in posted)


def test_each_feed_is_recorded_as_soon_as_it_arrives(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    with FakeBlog() as slow:
        slow.next_responses.append(
            Response(200, slow.body(), {"Content-Type": "application/atom+xml"}, delay=2)
        )
        path = write_config(
            tmp_path,
            feed_table("slow", slow.feed_url, ["x"]),
            feed_table("fast", blog.feed_url, ["x"]),
            x_target(x_api.url),
        )
        with open_app(path, clock) as app:
            poll = threading.Thread(target=app.poll_due_feeds)
            poll.start()
            while app.store.feed_state("fast") is None:
                assert poll.is_alive(), "the poll ended before the fast feed was recorded"
                time.sleep(0.02)
            assert app.store.feed_state("slow") is None  # still being fetched
            poll.join(timeout=30)
            assert app.store.feed_state("slow") is not None


def test_an_empty_entry_is_recorded_as_skipped_with_its_reason(
    tmp_path: Path, x_api: FakeX, clock: Clock
) -> None:
    """An item with no title, no text and no link was queued as an empty tweet (issue 9)."""
    feed = tmp_path / "feed.xml"
    feed.write_text(
        "<rss version='2.0'><channel><title>T</title><link>https://blog.example/</link>"
        "<item><guid isPermaLink='false'>empty-1</guid><description> </description></item>"
        "<item><title>Title only</title><guid isPermaLink='false'>t-2</guid></item>"
        "<item><title>Linked</title><link>/linked/</link></item>"
        "</channel></rss>"
    )
    path = write_config(
        tmp_path, feed_table("blog", feed.as_uri(), ["x"], backfill=3), x_target(x_api.url)
    )
    _run_once(path, clock)
    assert sorted(t["text"] for t in x_api.tweets) == [
        "Linked https://blog.example/linked/",
        "Title only",
    ]
    with open_app(path, clock) as app:
        skipped = app.history(state="skipped")
    assert [(d.entry_key, d.error) for d in skipped] == [
        ("empty-1", "empty entry: no title, no text and no link")
    ]
