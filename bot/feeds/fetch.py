"""Fetch a feed: one pooled session, conditional GET, a size cap and a total deadline;
``file://`` URLs and paths are read from disk."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from pathlib import Path
from urllib.parse import unquote, urlsplit

import requests

from bot.errors import FeedError
from bot.http import (
    DEADLINE_S,
    USER_AGENT,
    BodyTooLargeError,
    header_time,
    in_words,
    read_body,
)
from bot.http import make_session as deadline_session
from bot.netguard import AddressRefusedError

TIMEOUT = (10.0, 30.0)


FETCH_WORKERS = 16


@dataclass(frozen=True, kw_only=True)
class Fetched:
    """What a fetch brought back. ``body`` is ``None`` when the feed is unchanged (304)."""

    body: bytes | None
    etag: str | None = None
    last_modified: str | None = None
    url: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    # Where the feed now lives when every redirect on the way was permanent (301/308).
    moved_to: str | None = None
    # When it was fetched (UTC); ``parse`` uses it to notice entries dated in the future.
    fetched_at: datetime | None = None

    @property
    def body_hash(self) -> str | None:
        return hashlib.sha256(self.body).hexdigest() if self.body is not None else None


def make_session(*, deadline: float = DEADLINE_S, workers: int = FETCH_WORKERS) -> requests.Session:
    """One pooled session for every feed, sized for ``workers`` fetches at once, each with
    a total ``deadline`` in seconds (connect and the whole body)."""
    session = deadline_session(
        user_agent=USER_AGENT,
        connect_timeout=TIMEOUT[0],
        read_timeout=TIMEOUT[1],
        deadline=deadline,
    )
    session.headers["Accept"] = (
        "application/atom+xml, application/rss+xml, application/xml;q=0.9, */*;q=0.5"
    )
    pooled = requests.adapters.HTTPAdapter(pool_connections=workers, pool_maxsize=workers)
    session.mount("http://", pooled)
    session.mount("https://", pooled)
    return session


def fetch(
    session: requests.Session,
    *,
    feed: str,
    url: str,
    etag: str | None = None,
    last_modified: str | None = None,
    max_bytes: int = 10_000_000,
    now: datetime | None = None,
) -> Fetched:
    """Fetch ``url`` (http(s) or file), conditionally; raise ``FeedError`` on any failure."""
    scheme = urlsplit(url).scheme
    fetched_at = now or datetime.now(UTC)
    if scheme == "file":
        return _read_file(feed, url, max_bytes, fetched_at)
    if scheme not in ("http", "https"):
        raise FeedError(f"unsupported URL scheme {scheme!r} in {url}", feed=feed)
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with session.get(url, headers=headers, stream=True) as response:
            if response.status_code == 304:
                return Fetched(
                    body=None,
                    etag=etag,
                    last_modified=last_modified,
                    url=response.url,
                    fetched_at=fetched_at,
                )
            if response.status_code in (429, 503):
                retry_at = header_time(
                    response.headers, "Retry-After", now=now or datetime.now(UTC)
                )
                raise FeedError(
                    f"HTTP {response.status_code} from {url}", feed=feed, retry_at=retry_at
                )
            if response.status_code == 410:
                raise FeedError(f"HTTP 410 Gone: {url} has been removed", feed=feed, gone=True)
            if response.status_code >= 400:
                raise FeedError(f"HTTP {_status(response.status_code)} from {url}", feed=feed)
            body = _read_capped(response, feed, max_bytes)
            permanent = bool(response.history) and all(
                hop.status_code in (301, 308) for hop in response.history
            )
            return Fetched(
                body=body,
                etag=response.headers.get("ETag"),
                last_modified=response.headers.get("Last-Modified"),
                url=response.url,
                headers={k.lower(): v for k, v in response.headers.items()},
                moved_to=response.url if permanent else None,
                fetched_at=fetched_at,
            )
    except requests.RequestException as error:
        raise FeedError(f"cannot fetch {url}: {_reason(error)}", feed=feed) from error


def _read_file(feed: str, url: str, max_bytes: int, fetched_at: datetime) -> Fetched:
    path = Path(unquote(urlsplit(url).path))
    try:
        with path.open("rb") as handle:
            body = handle.read(max_bytes + 1)
    except OSError as error:
        raise FeedError(f"cannot read {path}: {error.strerror or error}", feed=feed) from None
    if len(body) > max_bytes:
        raise FeedError(f"{path} is larger than {max_bytes} bytes", feed=feed)
    # No content-location: a relative link in the file is relative to the blog, not to the
    # file's place on this disk (``parse`` resolves it against the feed's own <link>).
    headers = {"content-type": "application/xml"}
    return Fetched(body=body, url=url, headers=headers, fetched_at=fetched_at)


def _read_capped(response: requests.Response, feed: str, max_bytes: int) -> bytes:
    """The decoded body, by the session's total deadline and within ``max_bytes``."""
    deadline_at = getattr(response, "deadline_at", None)
    if deadline_at is None:  # a plain session (tests may pass one): no deadline of ours
        deadline_at = time.monotonic() + DEADLINE_S
    try:
        return read_body(
            response, max_bytes=max_bytes, deadline_at=deadline_at, read_timeout=TIMEOUT[1]
        )
    except BodyTooLargeError:
        raise FeedError(f"feed body is larger than {max_bytes} bytes", feed=feed) from None


def _status(code: int) -> str:
    """``404 Not Found``: the number and what it means."""
    try:
        return f"{code} {HTTPStatus(code).phrase}"
    except ValueError:
        return str(code)


def _reason(error: requests.RequestException) -> str:
    if isinstance(error, AddressRefusedError):  # a next page only the content names
        return f"refused: {error}"
    return in_words(error)
