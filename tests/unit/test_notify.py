"""Failure notifications through the real Apprise, to a loopback server that records them."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.http import scrub
from tests.conftest import X_SECRETS, feed_table, write_config, x_target
from tests.fakes.feed_server import FakeBlog
from tests.fakes.server import FakeServer, Request, Response
from tests.fakes.x_api import FakeX

FEED_TOKEN = "feed-token-7d3c1a9e"
NOTIFY_TOKEN = "ntfy-token-b81f02aa"


class Inbox(FakeServer):
    """Takes Apprise's json:// posts; ``fail_next()`` answers one with a 500."""

    def __init__(self) -> None:
        super().__init__()
        self.failing = 0
        self.route("POST", "/notify", self._take)

    def _take(self, _request: Request) -> Response:
        if self.failing:
            self.failing -= 1
            return Response(500, {"error": "down"})
        return Response(200, {"ok": True})

    @property
    def received(self) -> list[dict[str, Any]]:
        return [r.json() for r in self.requests_to("POST", "/notify") if r.json()]

    @property
    def titles(self) -> list[str]:
        return [m["title"] for m in self.received]


@pytest.fixture
def inbox() -> Iterator[Inbox]:
    with Inbox() as server:
        yield server


def _config(tmp_path: Path, blog: FakeBlog, x_api: FakeX, feed_url: str) -> Path:
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["x"]),
        feed_table("private", feed_url, ["x"]),
        x_target(x_api.url),
    )
    path.write_text(path.read_text() + '\n[notify]\nurls = ["${NOTIFY_URL}"]\n')
    return path


def _env(inbox: Inbox) -> dict[str, str]:
    port = inbox.url.rsplit(":", 1)[1]
    return {
        **X_SECRETS,
        "FEED_TOKEN": FEED_TOKEN,
        "NOTIFY_URL": f"json://127.0.0.1:{port}/notify?+X-Token={NOTIFY_TOKEN}",
    }


def test_failing_and_recovery_are_each_said_once_without_a_secret(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, inbox: Inbox
) -> None:
    blog.add_entry("Seen at the baseline")
    private = blog.url + "/private.xml?token=${FEED_TOKEN}"
    path = _config(tmp_path, blog, x_api, private)
    env = _env(inbox)

    def run() -> None:
        CliRunner().invoke(main, ["--config", str(path), "run", "--once"], env=env)

    run()  # the private feed answers 404: failing
    assert inbox.titles == ["feedrelay: feed private is failing"]
    (message,) = inbox.received
    assert "HTTP 404" in message["message"] and "token=****" in message["message"]
    run()  # still failing: nothing new to say
    assert len(inbox.received) == 1

    blog.add_entry("Refused")
    x_api.fail_next(403)  # credentials refused: the target pauses
    run()
    assert inbox.titles[1:] == ["feedrelay: target x is failing"]
    assert "paused" in inbox.received[1]["message"]
    said = json.loads((tmp_path / "state.sqlite.notified.json").read_text())
    assert set(said) == {"feed:private", "target:x"}

    blog.add_redirect("/private.xml", "/feeds/posts/default")  # the feed answers again
    assert CliRunner().invoke(main, ["--config", str(path), "resume", "x"], env=env).exit_code == 0
    retried = json.loads(
        CliRunner().invoke(main, ["--config", str(path), "history", "--json"], env=env).stdout
    )
    CliRunner().invoke(main, ["--config", str(path), "retry", str(retried[0]["id"])], env=env)
    run()
    assert sorted(inbox.titles[2:]) == [
        "feedrelay: feed private recovered",
        "feedrelay: target x recovered",
    ]
    run()
    assert len(inbox.received) == 4
    assert json.loads((tmp_path / "state.sqlite.notified.json").read_text()) == {}

    assert {r.header("x-token") for r in inbox.requests} == {NOTIFY_TOKEN}  # the URL is used
    received = json.dumps(inbox.received)
    for secret in (FEED_TOKEN, NOTIFY_TOKEN, *X_SECRETS.values()):
        assert secret not in received, secret


def test_a_message_no_service_took_is_tried_again(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, inbox: Inbox
) -> None:
    path = _config(tmp_path, blog, x_api, blog.url + "/gone.xml")
    env = _env(inbox)
    inbox.failing = 1
    CliRunner().invoke(main, ["--config", str(path), "run", "--once"], env=env)
    assert not (tmp_path / "state.sqlite.notified.json").exists()
    CliRunner().invoke(main, ["--config", str(path), "run", "--once"], env=env)
    # The first attempt was refused (500) and not remembered; the second went through.
    assert inbox.titles == ["feedrelay: feed private is failing"] * 2
    assert "feed:private" in json.loads((tmp_path / "state.sqlite.notified.json").read_text())


def test_scrub_replaces_plain_and_quoted_secrets() -> None:
    text = "GET https://h/feed?key=a%2Fb%3Dc failed; token a/b=c; short ab"
    assert (
        scrub(text, ["a/b=c", "ab"]) == "GET https://h/feed?key=**** failed; token ****; short ab"
    )


def test_dry_run_and_no_urls_send_nothing(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, inbox: Inbox
) -> None:
    path = _config(tmp_path, blog, x_api, blog.url + "/missing.xml")
    CliRunner().invoke(main, ["--config", str(path), "run", "--once", "--dry-run"], env=_env(inbox))
    assert inbox.received == []
    assert not (tmp_path / "state.sqlite.notified.json").exists()


def test_running_out_of_x_credits_is_said_once_and_so_is_the_recovery(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, inbox: Inbox
) -> None:
    path = _config(tmp_path, blog, x_api, blog.feed_url)
    env = _env(inbox)

    def run() -> None:
        CliRunner().invoke(main, ["--config", str(path), "run", "--once"], env=env)

    run()  # the baseline
    blog.add_entry("Out of credits")
    x_api.credits = 0
    run()
    assert inbox.titles == ["feedrelay: target x is failing"]
    assert "out of X credits" in inbox.received[0]["message"]
    run()  # still paused: nothing new to say
    assert len(inbox.received) == 1
    x_api.top_up()
    assert CliRunner().invoke(main, ["--config", str(path), "resume", "x"], env=env).exit_code == 0
    run()
    assert inbox.titles[1:] == ["feedrelay: target x recovered"]
