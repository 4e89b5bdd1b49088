"""WebSub round trips in one process: the daemon's web face and its subscriber against a
loopback hub that follows the W3C Recommendation (tests/fakes/websub_hub.py) and a
Blogger-shaped blog that names it: subscribe, verify, notify (signed right, forged,
unsigned), renew, be denied."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot import policy
from bot.cli import main
from bot.loops import Loops
from bot.push import signature_ok
from bot.web.server import WebServer
from tests.conftest import Clock, feed_table, open_app, write_config, x_target
from tests.fakes.feed_server import FakeBlog
from tests.fakes.websub_hub import FakeHub
from tests.fakes.x_api import FakeX
from tests.flows.test_web import ENV, Served, Ticks


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture
def hub() -> Iterator[FakeHub]:
    with FakeHub() as server:
        yield server


@pytest.fixture
def pushed(tmp_path: Path, blog: FakeBlog, x_api: FakeX, hub: FakeHub) -> Iterator[Served]:
    blog.hub_url = hub.url + "/"
    blog.add_entry("Already there")
    port = _free_port()
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["x"]) + 'poll_interval = "1h"\n',
        x_target(x_api.url),
        f'[web]\nlisten = "127.0.0.1:{port}"\ntoken = "${{WEB_TOKEN}}"\n'
        f'public_url = "http://127.0.0.1:{port}"\n',
    )
    clock = Clock()
    app = open_app(path, clock, ENV)
    ticks = Ticks()
    loops = Loops(clock=ticks)
    woken: list[str] = []
    loops.poll_now = woken.append
    assert app.config.web is not None
    server = WebServer(app, loops, app.config.web)
    server.start()
    app.poll_due_feeds()  # the first poll: what is there is seen, not posted
    web = Served(app, loops, ticks, f"http://127.0.0.1:{port}", path, x_api, blog, woken)
    web.clock = clock  # type: ignore[attr-defined]
    yield web
    server.stop()
    app.close()


def _subscribe(web: Served, hub: FakeHub) -> None:
    web.app.push.run_due()
    hub.settle()


def test_subscribes_to_the_topic_the_feed_names_with_a_secret(pushed: Served, hub: FakeHub) -> None:
    _subscribe(pushed, hub)
    (request,) = hub.requests_to("POST", "/")
    form = request.form()
    assert form["hub.mode"] == "subscribe"
    # 5.1: the topic is the feed's rel="self", not the address in the config
    assert form["hub.topic"] == pushed.blog.self_url != pushed.blog.feed_url
    assert form["hub.callback"].startswith(pushed.url + "/websub/")
    assert len(form["hub.callback"].rsplit("/", 1)[1]) >= 32  # unguessable (5.1.1)
    assert len(form["hub.secret"]) == 64  # a loopback hub over http may have it
    assert form["hub.lease_seconds"] == str(int(policy.PUSH_LEASE.total_seconds()))
    (verification,) = hub.verifications
    assert verification.status == 200
    assert hub.active(pushed.blog.self_url)
    sub = pushed.app.store.push_subscription(feed="blog")
    assert sub is not None and sub.state == "subscribed"
    assert sub.lease_until == pushed.app.clock() + policy.PUSH_LEASE


def test_status_shows_the_push_state_and_never_the_secret(pushed: Served, hub: FakeHub) -> None:
    _subscribe(pushed, hub)
    sub = pushed.app.store.push_subscription(feed="blog")
    assert sub is not None and sub.secret and sub.callback_id
    runner = CliRunner().invoke(main, ["--config", str(pushed.path), "status", "--json"], env=ENV)
    (feed,) = json.loads(runner.output)["feeds"]
    assert feed["push"]["state"] == "subscribed"
    assert feed["push"]["topic"] == pushed.blog.self_url
    text = CliRunner().invoke(main, ["--config", str(pushed.path), "status"], env=ENV).output
    assert "   push: subscribed until " in text
    page = pushed.get("/").text
    assert "subscribed</span> until" in page
    for answer in (runner.output, text, page, pushed.get("/api/status").text):
        assert sub.secret not in answer
        assert sub.callback_id not in answer


def test_a_signed_notification_polls_the_feed_now(pushed: Served, hub: FakeHub) -> None:
    _subscribe(pushed, hub)
    pushed.blog.add_entry("Pushed within seconds")
    (delivered,) = hub.publish(pushed.blog.self_url)
    assert delivered.status == 202
    assert delivered.headers["X-Hub-Signature"].startswith("sha1=")
    assert pushed.woken == ["blog"]
    # The daemon's poll job then fetches it as always (conditionally), and posts it.
    (result,) = pushed.app.poll_due_feeds(now_too={"blog"})
    assert result.queued == 1
    pushed.app.dispatch_due()
    assert [t["text"].split(" http")[0] for t in pushed.x.tweets] == ["Pushed within seconds"]


@pytest.mark.parametrize("how", ["forge", "unsigned"])
def test_a_notification_without_a_good_signature_triggers_nothing_and_is_counted(
    pushed: Served, hub: FakeHub, how: str
) -> None:
    _subscribe(pushed, hub)
    (delivered,) = hub.publish(pushed.blog.self_url, **{how: True})
    assert delivered.status == 202  # acknowledged (7.1.2), ignored
    assert pushed.woken == []
    metrics = pushed.get("/metrics").text
    assert 'feedrelay_websub_notifications_total{feed="blog",result="forged"} 1.0' in metrics


def test_the_callback_refuses_what_it_did_not_ask_for(pushed: Served, hub: FakeHub) -> None:
    _subscribe(pushed, hub)
    sub = pushed.app.store.push_subscription(feed="blog")
    assert sub is not None
    callback = f"/websub/{sub.callback_id}"
    other = {"hub.mode": "subscribe", "hub.challenge": "c1", "hub.lease_seconds": "60"}
    assert (
        pushed.get(callback, params={**other, "hub.topic": "http://elsewhere/feed"}).status_code
        == 404
    )
    assert (
        pushed.get("/websub/not-ours", params={**other, "hub.topic": sub.topic}).status_code == 404
    )
    unsubscribe = {**other, "hub.mode": "unsubscribe", "hub.topic": sub.topic}
    assert pushed.get(callback, params=unsubscribe).status_code == 404  # we never asked
    assert pushed.post("/websub/not-ours", data=b"<feed/>").status_code == 410


def test_renews_before_the_lease_ends_with_the_same_callback(pushed: Served, hub: FakeHub) -> None:
    hub.lease_seconds = 600
    _subscribe(pushed, hub)
    first = pushed.app.store.push_subscription(feed="blog")
    assert first is not None and first.lease_until is not None
    pushed.clock.advance(seconds=200)  # type: ignore[attr-defined]
    pushed.app.push.run_due()
    assert len(hub.requests_to("POST", "/")) == 1  # not due yet
    pushed.clock.advance(seconds=101)  # type: ignore[attr-defined]  # past half the lease
    _subscribe(pushed, hub)
    first_form, second_form = (r.form() for r in hub.requests_to("POST", "/"))
    assert second_form["hub.callback"] == first_form["hub.callback"]
    assert second_form["hub.secret"] == first_form["hub.secret"]
    renewed = pushed.app.store.push_subscription(feed="blog")
    assert renewed is not None and renewed.state == "subscribed"
    assert renewed.lease_until == pushed.app.clock() + timedelta(seconds=600)


def test_a_denied_subscription_is_shown_with_the_hubs_reason(pushed: Served, hub: FakeHub) -> None:
    hub.deny_next("topic not allowed")
    _subscribe(pushed, hub)
    sub = pushed.app.store.push_subscription(feed="blog")
    assert sub is not None and sub.state == "refused"
    assert sub.error == "the hub denied the subscription: topic not allowed"
    (feed,) = pushed.get("/api/status").json()["feeds"]
    assert feed["push"]["state"] == "refused"
    pushed.clock.advance(hours=2)  # type: ignore[attr-defined]
    pushed.app.push.run_due()
    assert len(hub.requests_to("POST", "/")) == 1  # not asked again the same day


def test_a_feed_without_a_hub_is_not_offered(pushed: Served, hub: FakeHub) -> None:
    pushed.blog.serve_next(
        b"<?xml version='1.0'?><rss version='2.0'><channel><title>t</title>"
        b"<item><title>a</title><link>http://127.0.0.1/a</link></item>"
        b"</channel></rss>"
    )
    pushed.app.push.run_due()
    sub = pushed.app.store.push_subscription(feed="blog")
    assert sub is not None and sub.state == "none"
    assert hub.requests == []
    assert pushed.get("/api/status").json()["feeds"][0]["push"] == {
        "state": "not offered",
        "hub": None,
        "topic": None,
    }


def test_a_hub_that_cannot_be_reached_is_tried_again_later(pushed: Served, hub: FakeHub) -> None:
    hub.stop()
    pushed.app.push.run_due()
    sub = pushed.app.store.push_subscription(feed="blog")
    assert sub is not None and sub.state == "failing"
    assert sub.next_attempt_at == pushed.app.clock() + timedelta(minutes=2)


# -- pure parts ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("advertised", "asked"),
    [
        ("http://pubsubhubbub.appspot.com/", "https://pubsubhubbub.appspot.com/"),
        ("https://websub.example/hub", "https://websub.example/hub"),
        ("http://127.0.0.1:9/hub", "http://127.0.0.1:9/hub"),
        ("http://localhost/hub", "http://localhost/hub"),
        ("ftp://hub.example/", None),
    ],
)
def test_a_hub_is_asked_over_https_unless_it_is_on_this_machine(
    advertised: str, asked: str | None
) -> None:
    assert policy.push_hub(advertised) == asked


def test_the_secret_goes_only_over_https_or_loopback() -> None:
    assert policy.push_may_sign("https://pubsubhubbub.appspot.com/")
    assert policy.push_may_sign("http://127.0.0.1:8080/")
    assert not policy.push_may_sign("http://hub.example/")


@pytest.mark.parametrize("method", ["sha1", "sha256", "sha384", "sha512"])
def test_every_recognized_signature_checks_out(method: str) -> None:
    import hashlib
    import hmac

    body = b"<feed/>"
    digest = hmac.new(b"s3cret", body, getattr(hashlib, method)).hexdigest()
    assert signature_ok("s3cret", body, f"{method}={digest}")
    assert signature_ok("s3cret", body, f"{method.upper()}={digest.upper()}")
    assert not signature_ok("s3cret", body + b" ", f"{method}={digest}")
    assert not signature_ok("other", body, f"{method}={digest}")


@pytest.mark.parametrize("header", [None, "", "sha1", "md5=abc", "sha256=", "=abc"])
def test_a_malformed_signature_never_checks_out(header: str | None) -> None:
    assert not signature_ok("s3cret", b"<feed/>", header)


def test_blogger_feeds_name_their_hub_and_topic() -> None:
    from bot import feeds
    from bot.push import advertised
    from tests.conftest import DATA

    body = (DATA / "golden" / "blogger-1.xml").read_bytes()
    fetched = feeds.Fetched(
        body=body, url="https://rignotes-northsea.blogspot.com/feeds/posts/default"
    )
    found = advertised(fetched, feeds.parse("rig", fetched))
    assert found is not None
    assert found.hubs == ("http://pubsubhubbub.appspot.com/",)
    assert found.topic == "https://www.blogger.com/feeds/4419023875512260981/posts/default"


def test_link_headers_come_first() -> None:
    from bot import feeds
    from bot.push import advertised

    fetched = feeds.Fetched(
        body=b"",
        url="https://blog.example/feed",
        headers={
            "link": '<https://hub.example/>; rel="hub", <https://blog.example/self>; rel="self"'
        },
    )
    found = advertised(fetched, None)
    assert found is not None and found.hubs == ("https://hub.example/",)
    assert found.topic == "https://blog.example/self"


def test_when_a_subscription_is_due() -> None:
    from datetime import UTC, datetime

    from bot.model import PushSubscription

    now = datetime(2026, 12, 1, 12, tzinfo=UTC)
    base = "https://relay.example.org"

    def sub(state: str, **fields: object) -> PushSubscription:
        return PushSubscription(feed="blog", state=state, callback_base=base, **fields)  # type: ignore[arg-type]

    assert policy.push_due(None, now, callback_base=base)
    assert policy.push_due(sub("subscribed"), now, callback_base="https://moved.example")
    day = timedelta(days=1)
    assert not policy.push_due(sub("none", discovered_at=now - day / 2), now, callback_base=base)
    assert policy.push_due(sub("none", discovered_at=now - day), now, callback_base=base)
    assert not policy.push_due(sub("refused", discovered_at=now - day / 2), now, callback_base=base)
    hour = timedelta(hours=1)
    assert not policy.push_due(
        sub("requested", requested_at=now - hour / 2), now, callback_base=base
    )
    assert policy.push_due(sub("requested", requested_at=now - hour), now, callback_base=base)
    later = now + timedelta(minutes=1)
    assert not policy.push_due(sub("failing", next_attempt_at=later), now, callback_base=base)
    assert policy.push_due(sub("failing", next_attempt_at=now), now, callback_base=base)
    leased = {"verified_at": now - timedelta(days=9), "lease_until": now + timedelta(days=1)}
    assert policy.push_due(sub("subscribed", **leased), now, callback_base=base)
    leased["lease_until"] = now + timedelta(days=1, seconds=1)
    assert not policy.push_due(sub("subscribed", **leased), now, callback_base=base)


def test_a_hub_that_cannot_be_asked_waits_longer_each_time() -> None:
    from datetime import UTC, datetime

    now = datetime(2026, 12, 1, tzinfo=UTC)
    waits = [policy.push_retry_at(n, now) - now for n in (1, 2, 3, 10, 100)]
    assert waits == [
        timedelta(minutes=2),
        timedelta(minutes=4),
        timedelta(minutes=8),
        timedelta(hours=6),
        timedelta(hours=6),
    ]
