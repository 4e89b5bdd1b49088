"""What X's plans do to posting, end to end against a fake X that answers as X does
(tests/fakes/x_api.py cites each behaviour): an app that cannot read, credits running out,
a usage cap, and what a lookup costs."""

from __future__ import annotations

import json
from pathlib import Path

import click
from click.testing import CliRunner

from adapters.twitter.client import LOOKUP_MOST
from bot.cli import main
from bot.model import DeliveryState
from bot.policy import UNKNOWN_HOLD
from tests.conftest import (
    LOOPBACK_IMAGES,
    X_SECRETS,
    Clock,
    feed_table,
    open_app,
    write_config,
    x_target,
)
from tests.fakes.feed_server import FakeBlog
from tests.fakes.x_api import FakeX

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def _config(tmp_path: Path, blog: FakeBlog, x_api: FakeX, **x: str) -> Path:
    return write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["x"]),
        x_target(x_api.url, **x),
        bot=LOOPBACK_IMAGES,
    )


def _run_once(path: Path, clock: Clock) -> None:
    with open_app(path, clock) as app:
        app.recover()
        app.poll_due_feeds(everything=True)
        app.dispatch_due()


def _cli(path: Path, *args: str) -> click.testing.Result:
    return CliRunner().invoke(main, ["--config", str(path), *args], env=X_SECRETS)


def _new_post(path: Path, blog: FakeBlog, clock: Clock, title: str, html: str = "") -> None:
    """A first run records the feed's baseline; then ``title`` is published."""
    _run_once(path, clock)
    blog.add_entry(title, html or "<p>Hello.</p>")
    clock.advance(minutes=11)


# -- an app that cannot read (X's legacy Free tier) ---------------------------------------
def test_an_unknown_outcome_on_an_app_without_reads_goes_to_the_operator_with_words(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    x_api.tier = "free"
    path = _config(tmp_path, blog, x_api)
    _new_post(path, blog, clock, "Ambiguous")
    x_api.accept_then_fail_next(503)
    _run_once(path, clock)  # posted, but X answered 503: unknown
    _run_once(path, clock)  # the lookup is refused: the operator decides
    with open_app(path, clock) as app:
        (row,) = app.history()
        state = app.store.target_state("x")
    assert row.state is DeliveryState.HELD
    assert row.held_for == UNKNOWN_HOLD
    assert "cannot be asked" in (row.error or "")
    assert "feedrelay resolve ID --url URL" in (row.error or "")
    assert "feedrelay retry ID" in (row.error or "")
    assert "client-not-enrolled" in (state.lookups_refused or "")
    assert len(x_api.tweets) == 1  # never re-sent

    status = _cli(path, "status")
    assert status.exit_code == 0, status.output
    assert "cannot read posts" in status.output
    assert "client-not-enrolled" in status.output
    assert f"resolve {row.id}" in status.output or "resolve ID" in status.output

    # The fact is kept: a second unknown outcome is not looked up again.
    blog.add_entry("Ambiguous too")
    clock.advance(minutes=11)
    x_api.accept_then_fail_next(503)
    _run_once(path, clock)
    _run_once(path, clock)
    assert len(x_api.timeline_reads) == 1
    with open_app(path, clock) as app:
        assert [d.held_for for d in app.history()] == [UNKNOWN_HOLD, UNKNOWN_HOLD]

    # `approve` does not release it; `resolve` settles it.
    refused = _cli(path, "approve", str(row.id))
    assert refused.exit_code != 0
    assert f"feedrelay resolve {row.id} --url URL" in refused.output
    resolved = _cli(path, "resolve", str(row.id), "--url", "https://x.com/a/status/1")
    assert resolved.exit_code == 0, resolved.output


def test_resend_unknown_sends_a_text_post_once_and_x_catches_the_duplicate(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    x_api.tier = "free"
    path = _config(tmp_path, blog, x_api, resend_unknown="true")
    _new_post(path, blog, clock, "Ambiguous")
    x_api.accept_then_fail_next(503)
    _run_once(path, clock)
    _run_once(path, clock)  # lookup refused: re-sent once; X refuses it as a duplicate
    with open_app(path, clock) as app:
        (row,) = app.history()
    assert row.state is DeliveryState.POSTED
    assert "already on the platform" in (row.error or "")
    assert len(x_api.tweets) == 1
    assert len(x_api.requests_to("POST", "/2/tweets")) == 2


def test_resend_unknown_sends_once_then_leaves_it_to_the_operator(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    x_api.tier = "free"
    path = _config(tmp_path, blog, x_api, resend_unknown="true")
    _new_post(path, blog, clock, "Twice ambiguous")
    x_api.accept_then_fail_next(503).drop_next(accept=False)
    _run_once(path, clock)  # unknown
    _run_once(path, clock)  # re-sent once: the connection drops, unknown again
    _run_once(path, clock)
    with open_app(path, clock) as app:
        (row,) = app.history()
    assert row.state is DeliveryState.HELD
    assert "after its one re-send" in (row.error or "")
    assert "feedrelay retry ID" in (row.error or "")
    assert len(x_api.requests_to("POST", "/2/tweets")) == 2


def test_resend_unknown_sends_an_image_post_with_the_same_media_never_a_new_upload(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    x_api.tier = "free"
    path = _config(tmp_path, blog, x_api, resend_unknown="true")
    _run_once(path, clock)
    image_url = blog.add_image("tomatoes.png", PNG)
    blog.add_entry("Picture", f'<p><img src="{image_url}" alt="Tomatoes"></p><p>Look.</p>')
    clock.advance(minutes=11)
    x_api.accept_then_fail_next(503)
    _run_once(path, clock)
    _run_once(path, clock)
    with open_app(path, clock) as app:
        (row,) = app.history()
    assert row.state is DeliveryState.POSTED
    assert len(x_api.requests_to("POST", "/2/media/upload")) == 1
    creates = [r.json() for r in x_api.requests_to("POST", "/2/tweets")]
    assert len(creates) == 2
    assert creates[0]["media"] == creates[1]["media"]
    assert len(x_api.tweets) == 1


def test_an_image_post_is_not_resent_once_x_dropped_its_upload(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    x_api.tier = "free"
    path = _config(tmp_path, blog, x_api, resend_unknown="true")
    _run_once(path, clock)
    image_url = blog.add_image("tomatoes.png", PNG)
    blog.add_entry("Picture", f'<p><img src="{image_url}" alt="Tomatoes"></p><p>Look.</p>')
    clock.advance(minutes=11)
    x_api.accept_then_fail_next(503)
    _run_once(path, clock)
    # The adapter's own clock is the real one; X keeps an upload a day: a record of the
    # upload made a day ago is what the adapter finds after a long outage.
    with open_app(path, clock) as app:
        for key, value in _memory(app, "x").items():
            kept = json.loads(value)
            kept["until"] = "2000-01-01T00:00:00+00:00"
            app.store.remember("x", key, old=value, new=json.dumps(kept), now=clock())
    _run_once(path, clock)
    with open_app(path, clock) as app:
        (row,) = app.history()
    assert row.state is DeliveryState.HELD
    assert "X keeps an upload 24" in (row.error or "")
    assert len(x_api.requests_to("POST", "/2/tweets")) == 1


def _memory(app: object, target: str) -> dict[str, str]:
    import sqlalchemy as sa

    from bot.store.schema import platform_memory

    store = app.store  # type: ignore[attr-defined]
    with store._tx(write=False) as c:
        rows = c.execute(
            sa.select(platform_memory.c.key, platform_memory.c.value).where(
                platform_memory.c.target == target
            )
        ).all()
    return {key: value for key, value in rows}


# -- credits and caps ---------------------------------------------------------------------
def test_out_of_credits_pauses_the_target_and_resume_after_a_top_up_lifts_it(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _config(tmp_path, blog, x_api, monthly_budget="5.0")
    _new_post(path, blog, clock, "First")
    blog.add_entry("Second")
    x_api.credits = 0
    x_api.credits_body = 1  # "Payment Required" / credits-depleted
    _run_once(path, clock)
    with open_app(path, clock) as app:
        rows = app.history()
        state = app.store.target_state("x")
    # The refused post waits, uncounted; the other was not even tried. None failed.
    assert sorted((r.state.value, r.attempts) for r in rows) == [("queued", 0), ("retry", 0)]
    assert state.pause_kind == "credits"
    assert state.spent_usd == 0.0  # what the claim counted is taken back
    assert len(x_api.requests_to("POST", "/2/tweets")) == 1  # the others waited

    status = _cli(path, "status")
    assert "out of X credits" in status.output

    clock.advance(hours=4, minutes=1)  # the re-check: still out of credits
    _run_once(path, clock)
    assert len(x_api.requests_to("POST", "/2/tweets")) == 2
    with open_app(path, clock) as app:
        assert app.store.target_state("x").pause_kind == "credits"

    x_api.top_up()
    assert _cli(path, "resume", "x").exit_code == 0
    _run_once(path, clock)
    assert len(x_api.tweets) == 2
    with open_app(path, clock) as app:
        assert {r.state for r in app.history()} == {DeliveryState.POSTED}


def test_a_recheck_that_goes_through_lifts_the_credits_pause(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _config(tmp_path, blog, x_api)
    _new_post(path, blog, clock, "First")
    x_api.credits = 0  # "CreditsDepleted" / credits
    _run_once(path, clock)
    x_api.top_up(10)
    clock.advance(hours=4, minutes=1)
    _run_once(path, clock)
    with open_app(path, clock) as app:
        (row,) = app.history()
        state = app.store.target_state("x")
    assert row.state is DeliveryState.POSTED
    assert state.pause_reason is None


def test_a_usage_cap_pauses_until_the_cycle_turns(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _config(tmp_path, blog, x_api)
    _new_post(path, blog, clock, "Capped")
    x_api.usage_cap = x_api.usage = 3  # the cycle's allowance is used up
    _run_once(path, clock)
    with open_app(path, clock) as app:
        (row,) = app.history()
        state = app.store.target_state("x")
    assert row.state is DeliveryState.RETRY
    assert row.attempts == 0
    assert state.pause_kind == "usage_cap"
    assert state.paused_until == clock() + __import__("datetime").timedelta(days=1)

    clock.advance(hours=23)
    _run_once(path, clock)  # still paused: nothing asked
    assert len(x_api.requests_to("POST", "/2/tweets")) == 1
    x_api.new_cycle()
    clock.advance(hours=1, minutes=1)
    _run_once(path, clock)
    with open_app(path, clock) as app:
        (row,) = app.history()
    assert row.state is DeliveryState.POSTED


# -- what a lookup costs ------------------------------------------------------------------
def test_a_lookup_asks_for_posts_since_the_first_attempt_and_its_reads_are_spent(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    for n in range(30):  # an account with a history: none of it is read
        x_api.seed_tweet(f"an older post {n}")
    path = _config(tmp_path, blog, x_api, monthly_budget="50.0")
    _new_post(path, blog, clock, "Ambiguous")
    x_api.accept_then_fail_next(503)
    _run_once(path, clock)
    _run_once(path, clock)  # looked up: found
    with open_app(path, clock) as app:
        (row,) = app.history()
        state = app.store.target_state("x")
    assert row.state is DeliveryState.POSTED
    (query,) = x_api.timeline_reads
    assert query["max_results"] == ["5"]
    assert query["start_time"]
    assert x_api.reads_billed == 1  # only the post made since the attempt
    # The post (its link is an IP address, which X does not link: 0.015) and one read.
    assert round(state.spent_usd, 6) == round(0.015 + 0.005, 6)


def test_an_unknown_outcome_past_the_lookups_reach_goes_to_the_operator_not_out_again(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    """More posts on the account since the attempt than a lookup reads: the post may be
    there, further back, so it is neither re-sent nor left to be looked up for ever."""
    path = _config(tmp_path, blog, x_api)
    _new_post(path, blog, clock, "Ambiguous")
    x_api.accept_then_fail_next(503)
    _run_once(path, clock)  # posted, but X answered 503: unknown
    for n in range(LOOKUP_MOST + 1):  # the account posts on (by hand, or another tool)
        x_api.seed_tweet(f"posted since {n}")
    _run_once(path, clock)
    _run_once(path, clock)
    with open_app(path, clock) as app:
        (row,) = app.history()
        state = app.store.target_state("x")
    assert row.state is DeliveryState.HELD and row.held_for == UNKNOWN_HOLD
    assert f"more than {LOOKUP_MOST} posts since the attempt" in (row.error or "")
    assert "feedrelay resolve ID --url URL" in (row.error or "")
    assert len(x_api.requests_to("POST", "/2/tweets")) == 1  # never re-sent
    assert x_api.reads_billed == LOOKUP_MOST  # read once, to the bound
    assert state.lookups_refused is None  # a fact about this post, not about the app


def test_check_online_says_when_the_app_cannot_read_at_no_cost(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    path = _config(tmp_path, blog, x_api)
    clock.advance(minutes=-1)  # X's clock: the post was made a minute ago
    x_api.seed_tweet("an earlier post")
    ok = _cli(path, "check", "--online")
    assert ok.exit_code == 0, ok.output
    assert "cannot read posts" not in ok.output
    assert x_api.reads_billed == 0  # asked only for posts made from now on

    x_api.tier = "free"
    noted = _cli(path, "check", "--online")
    assert noted.exit_code == 0, noted.output  # posting works: a note, not a problem
    assert "note: cannot read posts" in noted.output
    assert "resend_unknown = true" in noted.output


def test_a_refusal_is_asked_about_again_a_day_later_and_forgotten_when_reads_work(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    x_api.tier = "free"
    path = _config(tmp_path, blog, x_api)
    _new_post(path, blog, clock, "Ambiguous")
    x_api.accept_then_fail_next(503)
    _run_once(path, clock)
    _run_once(path, clock)  # refused: held for the operator
    blog.add_entry("Ambiguous too")
    clock.advance(days=1, minutes=1)
    x_api.tier = "basic"  # the app's plan now reads
    x_api.accept_then_fail_next(503)
    _run_once(path, clock)
    _run_once(path, clock)  # asked again: found
    with open_app(path, clock) as app:
        states = [d.state for d in app.history()]
        state = app.store.target_state("x")
    assert sorted(s.value for s in states) == ["held", "posted"]
    assert state.lookups_refused is None
    assert len(x_api.timeline_reads) == 2
