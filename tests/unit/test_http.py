"""bot.http: every request ends by its deadline, however slowly the server sends."""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import requests

from bot.http import (
    BodyTooLargeError,
    DeadlineExceededError,
    DeadlineSession,
    make_session,
    read_body,
)
from tests.fakes.server import FakeServer, Response

BODY = bytes(range(50))  # dripped 1 byte every 0.2 s: 10 s in all
DRIP = 0.2


@pytest.fixture
def server() -> Iterator[FakeServer]:
    with FakeServer() as fake:
        fake.route("GET", "/drip", lambda _request: Response(200, BODY, drip=DRIP))
        fake.route("GET", "/quick", lambda _request: Response(200, BODY))
        yield fake


def _session(deadline: float) -> DeadlineSession:
    return make_session(user_agent="test", connect_timeout=1.0, read_timeout=5.0, deadline=deadline)


def test_a_dripping_body_stops_at_the_deadline(server: FakeServer) -> None:
    session = _session(deadline=1.0)
    started = time.monotonic()
    with pytest.raises(requests.exceptions.ReadTimeout, match="deadline of 1 s exceeded"):
        session.get(server.url + "/drip")
    elapsed = time.monotonic() - started
    session.close()
    # Every read returned well inside the 5 s read timeout: only the deadline could stop it.
    assert 0 < server.dripped < len(BODY)
    assert elapsed < 5


def test_a_prompt_answer_is_read_whole_as_if_not_streamed(server: FakeServer) -> None:
    session = _session(deadline=5.0)
    response = session.get(server.url + "/quick")
    assert response.content == BODY
    assert response.raw.closed or response.raw.isclosed()
    # The connection went back to the pool: the next request reuses it.
    assert session.get(server.url + "/quick").content == BODY
    session.close()


def test_a_caller_that_streams_reads_with_read_body(server: FakeServer) -> None:
    session = _session(deadline=5.0)
    with session.get(server.url + "/quick", stream=True) as response:
        assert not response._content_consumed  # type: ignore[attr-defined]
        body = read_body(response, max_bytes=100, deadline_at=time.monotonic() + 5)
    assert body == BODY
    with (
        session.get(server.url + "/quick", stream=True) as response,
        pytest.raises(BodyTooLargeError),
    ):
        read_body(response, max_bytes=10, deadline_at=time.monotonic() + 5)
    session.close()


def test_read_body_keeps_the_callers_deadline(server: FakeServer) -> None:
    session = _session(deadline=30.0)
    with (
        session.get(server.url + "/drip", stream=True) as response,
        pytest.raises(requests.exceptions.ReadTimeout, match="deadline"),
    ):
        read_body(response, max_bytes=None, deadline_at=time.monotonic() + 0.6)
    session.close()
    assert server.dripped < len(BODY)


def test_a_silent_server_trips_the_read_timeout_first(server: FakeServer) -> None:
    server.route("GET", "/silent", lambda _request: Response(200, b"late", delay=2.0))
    session = make_session(user_agent="t", connect_timeout=1.0, read_timeout=0.3, deadline=10.0)
    with pytest.raises(requests.exceptions.ReadTimeout):
        session.get(server.url + "/silent")
    session.close()


def test_the_session_sends_its_user_agent(server: FakeServer) -> None:
    session = make_session(user_agent="feedrelay-test/1")
    session.get(server.url + "/quick")
    session.close()
    assert server.requests[-1].header("User-Agent") == "feedrelay-test/1"


def test_a_redirect_that_drips_its_body_stops_at_the_deadline(server: FakeServer) -> None:
    # requests reads a redirect's body before following it, bounded only by the per-read
    # timeout: the deadline must cover it, and the hop after it.
    server.route(
        "GET",
        "/moved-slowly",
        lambda _request: Response(302, BODY, {"Location": "/quick"}, drip=DRIP),
    )
    session = _session(deadline=1.0)
    with pytest.raises(DeadlineExceededError, match="deadline of 1 s exceeded"):
        session.get(server.url + "/moved-slowly")
    session.close()
    assert 0 < server.dripped < len(BODY)
    assert server.requests_to("GET", "/quick") == []


def test_the_proxy_variables_decide_as_requests_decides_at_every_request(
    monkeypatch: pytest.MonkeyPatch, server: FakeServer
) -> None:
    """The session reads the proxy variables once per host (requests would read the whole
    environment at each request); which requests go through the proxy does not change."""
    with FakeServer() as proxy:
        proxy.route("GET", "/via", lambda _request: Response(200, b"proxied"))
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        session = _session(deadline=5.0)
        for _ in range(2):  # the second time from what the session remembers
            assert session.get("http://blog.example/via").content == b"proxied"
            assert session.get(server.url + "/quick").content == BODY
        assert [r.header("host") for r in proxy.requests] == ["blog.example"] * 2
        assert [r.path for r in server.requests] == ["/quick"] * 2
