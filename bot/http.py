"""HTTP sessions that never wait for ever: a connect timeout, a read timeout, and a deadline.

``requests`` only bounds each socket operation: a server that sends one byte every few
seconds keeps a request alive indefinitely. A ``DeadlineSession`` bounds the whole request,
connect to last body byte. It always streams the answer and reads the body itself, a little
at a time, checking ``time.monotonic()`` before every read and giving each read at most the
time that is left. When the deadline passes it raises ``DeadlineExceededError``, a
``requests.exceptions.ReadTimeout`` ("deadline of N s exceeded"); otherwise the response
holds its content as if it had not been streamed. A caller that passes ``stream=True`` gets
the open stream and reads it with ``read_body``, which keeps the same deadline and a size
cap. The deadline covers redirects too: each hop gets only the time that is left, and a
redirect's body is read by the deadline (``requests`` itself would read it with no bound
but the per-read timeout).

``make_content_session`` makes the session for URLs found in feed content (images): the
same deadline, and every connection through the address guard (``bot.netguard``).
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable
from typing import Any, cast
from urllib.parse import urlsplit

import requests
from requests.exceptions import ChunkedEncodingError, ContentDecodingError, ReadTimeout
from requests.sessions import merge_setting as _untyped_merge_setting
from requests.utils import get_environ_proxies
from urllib3.exceptions import DecodeError, ProtocolError, ReadTimeoutError

from bot.http_shared import (
    CONNECT_TIMEOUT_S,
    DEADLINE_S,
    MIN_SECRET_LENGTH,
    READ_TIMEOUT_S,
    SCRUBBED,
    USER_AGENT,
    header_time,
    retry_at,
    scrub,
)
from bot.netguard import AddressGuard, GuardedAdapter

__all__ = [
    "CONNECT_TIMEOUT_S",
    "DEADLINE_S",
    "MIN_SECRET_LENGTH",
    "READ_TIMEOUT_S",
    "SCRUBBED",
    "USER_AGENT",
    "BodyTooLargeError",
    "DeadlineExceededError",
    "DeadlineSession",
    "header_time",
    "make_content_session",
    "make_session",
    "read_body",
    "retry_at",
    "scrub",
]

CHUNK_BYTES = 65_536
# A redirect's body is read (to reuse the connection) and dropped; more than this is not a
# redirect page but a server wasting our time.
REDIRECT_BODY_BYTES = 1_000_000
# Content URLs: redirects followed at most (requests' own default is 30).
CONTENT_MAX_REDIRECTS = 5
# requests' merge of a request's setting with its session's (untyped in its stubs).
_merge_setting = cast(Callable[[Any, Any], Any], _untyped_merge_setting)
# Hosts whose proxy settings a session remembers (``DeadlineSession._environment_for``).
ENVIRONMENT_HOSTS = 256


class BodyTooLargeError(requests.RequestException):
    """An answer's body is larger than the caller accepts."""


class DeadlineExceededError(ReadTimeout):
    """A request did not end (connect, redirects, the whole body) within its deadline."""


class DeadlineSession(requests.Session):
    """A ``requests.Session`` whose every request ends within ``deadline`` seconds."""

    def __init__(self, *, connect_timeout: float, read_timeout: float, deadline: float) -> None:
        super().__init__()
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        self.deadline = deadline
        # (connect, read): what code that hands the session to a library reads as its timeout.
        self.timeout = (connect_timeout, read_timeout)
        # The deadline of the request this thread is making, for ``send``: requests sends
        # each redirect hop through ``send``, and the session serves several threads.
        self._current = threading.local()
        self.hooks["response"].append(self._read_redirect_body)
        self._environment: dict[tuple[str, str, str | None], tuple[dict[str, str], str | None]] = {}

    def request(
        self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any
    ) -> requests.Response:
        deadline_at = time.monotonic() + self.deadline
        stream = bool(kwargs.pop("stream", False))
        connect, read = _timeouts(kwargs.pop("timeout", None), self.timeout)
        kwargs["timeout"] = (min(connect, self.deadline), min(read, self.deadline))
        kwargs["stream"] = True
        outer = getattr(self._current, "deadline_at", None)
        self._current.deadline_at = deadline_at
        try:
            response = super().request(method, url, *args, **kwargs)
        finally:
            self._current.deadline_at = outer
        if stream:
            # For read_body: the same deadline covers the caller's reading of the stream.
            response.deadline_at = deadline_at  # type: ignore[attr-defined]
            return response
        try:
            content = read_body(
                response,
                max_bytes=None,
                deadline_at=deadline_at,
                read_timeout=read,
                deadline=self.deadline,
            )
        except BaseException:
            response.close()
            raise
        # As requests itself stores a body it has read (Response.content).
        response._content = content
        response._content_consumed = True  # type: ignore[attr-defined]
        return response

    def merge_environment_settings(
        self, url: Any, proxies: Any, stream: Any, verify: Any, cert: Any
    ) -> Any:
        """As ``requests.Session``'s own, but what it takes from the environment (the proxy
        variables for the URL's scheme and host, and the CA bundle) is read once per scheme
        and host: requests reads every variable of the environment at each request, which
        cost 0.2 to 0.5 ms of CPU a post, and a process's environment does not change while
        it runs."""
        if not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        no_proxy = proxies.get("no_proxy") if proxies is not None else None
        env_proxies, ca_bundle = self._environment_for(url, no_proxy)
        if proxies is not None:
            for key, value in env_proxies.items():
                proxies.setdefault(key, value)
        if verify is True or verify is None:
            verify = ca_bundle or verify
        return {
            "proxies": _merge_setting(proxies, self.proxies),
            "stream": _merge_setting(stream, self.stream),
            "verify": _merge_setting(verify, self.verify),
            "cert": _merge_setting(cert, self.cert),
        }

    def _environment_for(self, url: str, no_proxy: str | None) -> tuple[dict[str, str], str | None]:
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, no_proxy)
        found = self._environment.get(key)
        if found is None:
            if len(self._environment) >= ENVIRONMENT_HOSTS:
                self._environment.clear()  # redirects to ever new hosts: start again
            found = (
                get_environ_proxies(url, no_proxy=no_proxy),
                os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE"),
            )
            self._environment[key] = found
        return found

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:
        """Send one request or redirect hop, waiting at most for the time that is left."""
        deadline_at = getattr(self._current, "deadline_at", None)
        if deadline_at is not None:
            left = deadline_at - time.monotonic()
            if left <= 0:
                raise DeadlineExceededError(
                    f"deadline of {self.deadline:g} s exceeded before {request.url}",
                    request=request,
                )
            connect, read = _timeouts(kwargs.get("timeout"), self.timeout)
            kwargs["timeout"] = (min(connect, left), min(read, left))
        return super().send(request, **kwargs)

    def _read_redirect_body(self, response: requests.Response, **kwargs: Any) -> None:
        """A response hook: read a redirect's body by the deadline, before ``requests``
        reads it (to follow the redirect) with no bound but the per-read timeout."""
        if not response.is_redirect or response._content_consumed:  # type: ignore[attr-defined]
            return
        deadline_at = getattr(self._current, "deadline_at", None)
        try:
            response._content = read_body(
                response,
                max_bytes=REDIRECT_BODY_BYTES,
                deadline_at=deadline_at or time.monotonic() + self.deadline,
                read_timeout=self.read_timeout,
                deadline=self.deadline,
            )
        except BaseException:
            response.close()
            raise
        response._content_consumed = True  # type: ignore[attr-defined]


def make_session(
    *,
    user_agent: str,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    read_timeout: float = READ_TIMEOUT_S,
    deadline: float = DEADLINE_S,
) -> DeadlineSession:
    """A pooled session with connect and read timeouts, a total deadline per request, and
    ``user_agent`` on every request."""
    session = DeadlineSession(
        connect_timeout=connect_timeout, read_timeout=read_timeout, deadline=deadline
    )
    session.headers["User-Agent"] = user_agent
    return session


def make_content_session(
    *,
    user_agent: str,
    guard: AddressGuard,
    deadline: float,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    read_timeout: float = READ_TIMEOUT_S,
    pool_size: int = 4,
) -> DeadlineSession:
    """The session for URLs found in feed content (an entry's images), which nobody vouches
    for: every connection, first request and redirect hop alike, is opened through
    ``guard`` (``bot.netguard``); at most ``CONTENT_MAX_REDIRECTS`` redirects; each request
    ends within ``deadline`` seconds, connect to last byte.

    Nothing comes from the environment (``trust_env = False``): no proxy, since a proxy
    would connect to any address on our behalf, and no ``.netrc`` credentials, which are
    not for hosts that feed content names. (Nor ``REQUESTS_CA_BUNDLE``: certificates are
    checked against certifi's roots.)
    """
    session = make_session(
        user_agent=user_agent,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        deadline=deadline,
    )
    session.trust_env = False
    session.max_redirects = CONTENT_MAX_REDIRECTS
    adapter = GuardedAdapter(guard, pool_connections=pool_size, pool_maxsize=pool_size)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def read_body(
    response: requests.Response,
    *,
    max_bytes: int | None,
    deadline_at: float,
    read_timeout: float = READ_TIMEOUT_S,
    deadline: float | None = None,
) -> bytes:
    """The decoded body of a streamed ``response``, read by ``deadline_at`` (a
    ``time.monotonic()`` value), each read waiting at most ``read_timeout`` seconds.

    Raises ``ReadTimeout`` when the deadline passes, ``BodyTooLargeError`` past ``max_bytes``
    decoded bytes, and ``ChunkedEncodingError`` or ``ContentDecodingError`` for a broken body,
    as ``requests`` does. ``deadline`` (seconds) only names the deadline in the error.
    """
    raw = response.raw
    chunks: list[bytes] = []
    size = 0
    try:
        while True:
            left = deadline_at - time.monotonic()
            if left <= 0:
                raise _deadline_exceeded(response, deadline)
            _set_read_timeout(raw, min(read_timeout, left))
            try:
                # read1: whatever has arrived (up to a chunk), so the clock is checked often.
                chunk = raw.read1(CHUNK_BYTES, decode_content=True)
            except (ReadTimeoutError, TimeoutError) as error:
                if deadline_at - time.monotonic() <= 0:
                    raise _deadline_exceeded(response, deadline) from error
                raise ReadTimeout(error, request=response.request, response=response) from error
            if not chunk:
                break
            size += len(chunk)
            if max_bytes is not None and size > max_bytes:
                raise BodyTooLargeError(
                    f"body is larger than {max_bytes} bytes",
                    request=response.request,
                    response=response,
                )
            chunks.append(chunk)
    except ProtocolError as error:
        raise ChunkedEncodingError(error, request=response.request) from error
    except DecodeError as error:
        raise ContentDecodingError(error, request=response.request) from error
    return b"".join(chunks)


def _deadline_exceeded(
    response: requests.Response, deadline: float | None
) -> DeadlineExceededError:
    said = f"deadline of {deadline:g} s exceeded" if deadline is not None else "deadline exceeded"
    return DeadlineExceededError(
        f"{said} reading {response.url}", request=response.request, response=response
    )


def _timeouts(given: object, default: tuple[float, float]) -> tuple[float, float]:
    """``(connect, read)`` from what a caller passed as ``timeout`` (a number, a pair, None)."""
    if given is None:
        return default
    if isinstance(given, int | float):
        return float(given), float(given)
    if isinstance(given, tuple) and len(given) == 2:
        connect, read = given
        return (
            default[0] if connect is None else float(connect),
            default[1] if read is None else float(read),
        )
    raise TypeError(f"timeout must be a number or a (connect, read) pair, not {given!r}")


def _set_read_timeout(raw: Any, seconds: float) -> None:
    """Make the next read on ``raw``'s socket wait at most ``seconds``.

    urllib3 set the socket's timeout when the request was sent; it is shortened here as the
    deadline nears. Without a reachable socket the reads keep the request's read timeout.
    """
    connection = getattr(raw, "connection", None)
    sock = getattr(connection, "sock", None)
    if isinstance(sock, socket.socket):
        with contextlib.suppress(OSError):
            sock.settimeout(max(seconds, 0.001))


# -- what every HTTP caller shares ---------------------------------------------------------
def in_words(error: requests.RequestException) -> str:
    """What went wrong with a request, in words for a person ("the host name was not
    found"), not the exception's name ("ConnectionError")."""
    from urllib3.exceptions import NameResolutionError

    chain = _causes(error)
    if any(isinstance(e, NameResolutionError | socket.gaierror) for e in chain):
        return "the host name was not found (check the address, and this machine's DNS)"
    if any(isinstance(e, ConnectionRefusedError) for e in chain):
        return "the connection was refused: nothing answers at that address and port"
    if isinstance(error, requests.exceptions.SSLError):
        return "the server's TLS certificate was not accepted (expired, or for another host)"
    if isinstance(error, requests.ConnectTimeout):
        return "timed out: the server did not accept the connection"
    if isinstance(error, DeadlineExceededError):
        return f"timed out: {error} (the whole answer must arrive within it)"
    if isinstance(error, requests.Timeout):
        return "timed out: the server stopped answering"
    if isinstance(error, requests.TooManyRedirects):
        return "too many redirects (the server redirects in a loop)"
    if isinstance(error, requests.exceptions.InvalidURL | requests.exceptions.MissingSchema):
        return "not an address that can be fetched"
    if isinstance(error, ChunkedEncodingError | ContentDecodingError):
        return "the answer broke off or could not be decoded"
    if any(isinstance(e, ConnectionResetError | ProtocolError) for e in chain):
        return "the server closed the connection before it answered"
    if isinstance(error, requests.ConnectionError):
        return "the connection failed"
    return f"the request failed ({type(error).__name__})"


def _causes(error: BaseException) -> list[BaseException]:
    """``error``, what it wraps (urllib3's ``reason``, ``__cause__``, ``__context__``)."""
    seen: list[BaseException] = []
    todo: list[object] = [error]
    while todo and len(seen) < 20:
        item = todo.pop()
        if not isinstance(item, BaseException) or any(item is e for e in seen):
            continue
        seen.append(item)
        todo += [getattr(item, "reason", None), item.__cause__, item.__context__]
        todo += [arg for arg in item.args if isinstance(arg, BaseException)]
    return seen
