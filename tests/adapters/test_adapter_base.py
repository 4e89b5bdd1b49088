"""The HTTP helpers every adapter shares: secret scrubber, retry times, error translation."""

from __future__ import annotations

import socket
from datetime import UTC, datetime, timedelta

import pytest
import requests

from adapters.base import header_time, make_session, nothing_sent, request_error, retry_at, scrub
from bot.errors import OutcomeUnknownError, TransientError
from tests.fakes.server import FakeServer, Response

NOW = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)


def test_scrub_masks_every_secret_longest_first() -> None:
    assert scrub("key=abcd123 and abcd", ["abcd", "abcd123", ""]) == "key=**** and ****"
    assert scrub("nothing here", []) == "nothing here"
    # Its URL-quoted form too; a value too short to be a credential is left alone.
    assert scrub("u=a%2Fb%3Dc&x=ab", ["a/b=c", "ab"]) == "u=****&x=ab"


@pytest.mark.parametrize(
    ("headers", "name", "epoch", "expected"),
    [
        ({"Retry-After": "30"}, "retry-after", False, NOW + timedelta(seconds=30)),
        ({"retry-after": "1.5"}, "Retry-After", False, NOW + timedelta(seconds=1.5)),
        (
            {"Retry-After": "Fri, 01 May 2026 12:05:00 GMT"},
            "Retry-After",
            False,
            NOW + timedelta(minutes=5),
        ),
        (
            {"x-rate-limit-reset": str(int(NOW.timestamp()) + 60)},
            "x-rate-limit-reset",
            True,
            NOW + timedelta(minutes=1),
        ),
        ({"Retry-After": "soon"}, "Retry-After", False, None),
        ({"x-rate-limit-reset": "Fri, 01 May 2026 12:05:00 GMT"}, "x-rate-limit-reset", True, None),
        ({}, "Retry-After", False, None),
    ],
)
def test_header_time(
    headers: dict[str, str], name: str, epoch: bool, expected: datetime | None
) -> None:
    found = header_time(headers, name, now=NOW, epoch=epoch)
    assert found == expected
    if found is not None:
        assert found.utcoffset() == timedelta(0)


def test_retry_at_takes_the_latest_never_the_past_else_the_default() -> None:
    headers = {
        "Retry-After": "60",
        "reset-a": str(int(NOW.timestamp()) + 600),
        "reset-b": str(int(NOW.timestamp()) - 600),
    }
    assert retry_at(
        headers, now=NOW, default=timedelta(hours=1), resets=["reset-a", "reset-b"]
    ) == (NOW + timedelta(minutes=10))
    assert (
        retry_at(headers, now=NOW, default=timedelta(hours=1), waits=(), resets=["reset-b"]) == NOW
    )
    assert retry_at({}, now=NOW, default=timedelta(hours=1)) == NOW + timedelta(hours=1)


def _refused_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


def _raised(url: str, **kwargs: float) -> requests.RequestException:
    session = make_session(connect_timeout=1.0, read_timeout=kwargs.get("read", 1.0))
    with pytest.raises(requests.RequestException) as raised:
        session.get(url)
    session.close()
    return raised.value


def test_a_refused_connection_sent_nothing_even_for_a_create() -> None:
    error = _raised(_refused_url())
    assert nothing_sent(error)
    translated = request_error(error, service="P", target="t", creates=True)
    assert type(translated) is TransientError
    assert "could not reach P" in str(translated)


@pytest.mark.parametrize(
    ("creates", "expected"), [(True, OutcomeUnknownError), (False, TransientError)]
)
def test_no_answer_after_sending_is_unknown_only_for_a_create(
    creates: bool, expected: type[TransientError | OutcomeUnknownError]
) -> None:
    with FakeServer() as server:
        server.route("GET", "/slow", lambda _request: Response(delay=1.5))
        server.route("GET", "/drop", lambda _request: Response(drop=True))
        for path in ("/slow", "/drop"):
            error = _raised(server.url + path, read=0.3)
            assert not nothing_sent(error)
            translated = request_error(
                error, service="P", target="t", creates=creates, secrets=["P"]
            )
            assert type(translated) is expected, path
            assert translated.target == "t"


def test_secrets_are_scrubbed_from_the_message() -> None:
    error = requests.ConnectionError("token s3cr3t-value leaked")
    translated = request_error(
        error, service="P", target="t", creates=False, secrets=["s3cr3t-value"]
    )
    assert "s3cr3t-value" not in str(translated)
    assert "****" in str(translated)
