"""Fetch feeds over HTTP (or from disk), parse them with feedparser, normalise entries.

The only module that imports feedparser. Bodies are fetched with a size cap and given to
feedparser as bytes, never as a URL or string; bodies that declare entities are refused.
"""

from __future__ import annotations

import calendar
import hashlib
import html
import io
import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import feedparser
import requests

from bot import __version__
from bot.errors import FeedError
from bot.htmltext import first_image
from bot.model import Entry, Image

log = logging.getLogger(__name__)

USER_AGENT = f"feedrelay/{__version__} (feed reader; +https://pypi.org/project/feedrelay/)"
TIMEOUT = (10.0, 30.0)
_ENTITY_DECLARATION = re.compile(rb"<!ENTITY", re.IGNORECASE)
# Blogger's size segment before the file name: /s72-c/, /s72-w640-c-h480/, /w640-h480/.
_BLOGGER_SIZE = re.compile(r"/[swh]\d+(?:-[a-z]+\d*)*/(?=[^/]+$)")
_BLOGGER_SIZE_PARAM = re.compile(r"=[swh]\d+(?:-[a-z]+\d*)*$")


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

    @property
    def body_hash(self) -> str | None:
        return hashlib.sha256(self.body).hexdigest() if self.body is not None else None


@dataclass(frozen=True, kw_only=True)
class ParsedFeed:
    title: str
    entries: tuple[Entry, ...]
    problem: str | None = None


def make_session() -> requests.Session:
    session = requests.Session()
    session.headers["User-Agent"] = USER_AGENT
    session.headers["Accept"] = (
        "application/atom+xml, application/rss+xml, application/xml;q=0.9, */*;q=0.5"
    )
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
    if scheme == "file":
        return _read_file(feed, url, max_bytes)
    if scheme not in ("http", "https"):
        raise FeedError(f"unsupported URL scheme {scheme!r} in {url}", feed=feed)
    headers = {}
    if etag:
        headers["If-None-Match"] = etag
    if last_modified:
        headers["If-Modified-Since"] = last_modified
    try:
        with session.get(url, headers=headers, timeout=TIMEOUT, stream=True) as response:
            if response.status_code == 304:
                return Fetched(body=None, etag=etag, last_modified=last_modified, url=response.url)
            if response.status_code in (429, 503):
                retry_at = _retry_after(response.headers.get("Retry-After"), now)
                raise FeedError(
                    f"HTTP {response.status_code} from {url}", feed=feed, retry_at=retry_at
                )
            if response.status_code == 410:
                raise FeedError(f"HTTP 410 Gone: {url} has been removed", feed=feed, gone=True)
            if response.status_code >= 400:
                raise FeedError(f"HTTP {response.status_code} from {url}", feed=feed)
            body = _read_capped(response.iter_content(65536), feed, max_bytes)
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
            )
    except requests.RequestException as error:
        raise FeedError(f"cannot fetch {url}: {_reason(error)}", feed=feed) from error


def _read_file(feed: str, url: str, max_bytes: int) -> Fetched:
    path = Path(unquote(urlsplit(url).path))
    try:
        with path.open("rb") as handle:
            body = handle.read(max_bytes + 1)
    except OSError as error:
        raise FeedError(f"cannot read {path}: {error.strerror or error}", feed=feed) from None
    if len(body) > max_bytes:
        raise FeedError(f"{path} is larger than {max_bytes} bytes", feed=feed)
    headers = {"content-location": url, "content-type": "application/xml"}
    return Fetched(body=body, url=url, headers=headers)


def _read_capped(chunks: Iterable[bytes], feed: str, max_bytes: int) -> bytes:
    buffer = bytearray()
    for chunk in chunks:
        buffer += chunk
        if len(buffer) > max_bytes:
            raise FeedError(f"feed body is larger than {max_bytes} bytes", feed=feed)
    return bytes(buffer)


def _retry_after(value: str | None, now: datetime | None) -> datetime | None:
    if not value:
        return None
    now = now or datetime.now(UTC)
    if value.strip().isdigit():
        return now + timedelta(seconds=int(value.strip()))
    try:
        return parsedate_to_datetime(value).astimezone(UTC)
    except (TypeError, ValueError):
        return None


def _reason(error: requests.RequestException) -> str:
    if isinstance(error, requests.Timeout):
        return "timed out"
    if isinstance(error, requests.ConnectionError):
        return "connection failed"
    return type(error).__name__


def parse(feed: str, fetched: Fetched) -> ParsedFeed:
    """Parse a fetched body into normalised entries, in document order."""
    assert fetched.body is not None
    if _ENTITY_DECLARATION.search(fetched.body[:65536]):
        raise FeedError("refusing a feed that declares XML entities (<!ENTITY)", feed=feed)
    headers = dict(fetched.headers)
    headers.setdefault("content-location", fetched.url)
    parsed = feedparser.parse(io.BytesIO(fetched.body), response_headers=headers)
    problem = None
    if parsed.get("bozo"):
        problem = str(parsed.get("bozo_exception") or "malformed feed")
        if not parsed.entries:
            raise FeedError(f"not a feed: {problem}", feed=feed)
    feed_title = _text(parsed.feed.get("title", ""))
    base = fetched.url
    entries = tuple(_entry(feed, feed_title, raw, base) for raw in parsed.entries)
    return ParsedFeed(title=feed_title, entries=entries, problem=problem)


def content_hash(entry: Entry) -> str:
    digest = hashlib.sha256()
    for part in (entry.title, entry.link, entry.content_html or entry.summary_html):
        digest.update(part.encode("utf-8", "replace"))
        digest.update(b"\0")
    return digest.hexdigest()


def normalise_link(link: str) -> str:
    """Lower-case scheme and host, no fragment, no default port: the same page, one spelling."""
    parts = urlsplit(link.strip())
    if not parts.scheme or not parts.netloc:
        return link.strip()
    host = parts.hostname or ""
    port = parts.port
    netloc = host if port in (None, 80, 443) else f"{host}:{port}"
    return urlunsplit((parts.scheme.lower(), netloc, parts.path or "/", parts.query, ""))


def _entry(feed: str, feed_title: str, raw: Any, base: str) -> Entry:
    link = raw.get("link", "")
    link = normalise_link(urljoin(base, link)) if link else ""
    content_html = ""
    if raw.get("content"):
        content_html = "".join(part.get("value", "") for part in raw["content"])
    summary_html = raw.get("summary", "") or ""
    entry = Entry(
        feed=feed,
        key="",
        title=_text(raw.get("title", "")),
        link=link,
        content_html=content_html or summary_html,
        summary_html=summary_html if content_html else "",
        labels=_labels(raw),
        author=_text((raw.get("author_detail") or {}).get("name") or raw.get("author", "")),
        feed_title=feed_title,
        published_at=_date(raw, "published_parsed") or _date(raw, "updated_parsed"),
        updated_at=_date(raw, "updated_parsed"),
        images=tuple(_images(raw, content_html or summary_html, link or base)),
    )
    key = raw.get("id") or link or "sha256:" + content_hash(entry)
    return Entry(**{**entry.__dict__, "key": str(key)})


def _text(value: str) -> str:
    """One line of plain text. Entities left over from double-escaping feeds (Blogger's
    ``&amp;amp;``) are decoded: a title never shows ``&amp;``."""
    return re.sub(r"\s+", " ", html.unescape(value or "")).strip()


def _labels(raw: Any) -> tuple[str, ...]:
    labels: list[str] = []
    for tag in raw.get("tags", []) or []:
        term = _text(tag.get("term") or tag.get("label") or "")
        if term and term not in labels:
            labels.append(term)
    return tuple(labels)


def _date(raw: Any, key: str) -> datetime | None:
    # dict.get, not raw.get: feedparser's own get() falls back from updated_parsed to
    # published_parsed (with a DeprecationWarning), which would invent an update time.
    value = dict.get(raw, key)
    # Hugo writes year 1 ("Mon, 01 Jan 0001") for pages without a date: no date at all.
    if value is None or value.tm_year < 1900:
        return None
    return datetime.fromtimestamp(calendar.timegm(value), UTC)


def _images(raw: Any, html: str, base: str) -> Iterable[Image]:
    seen: set[str] = set()

    def add(url: str, alt: str = "") -> Iterable[Image]:
        url = urljoin(base, url.strip()) if url else ""
        if url and url not in seen and not url.startswith("data:"):
            seen.add(url)
            yield Image(url=url, alt=alt)

    for thumb in raw.get("media_thumbnail", []) or []:
        yield from add(full_size_blogger_image(thumb.get("url", "")))
    for media in raw.get("media_content", []) or []:
        kind = media.get("type", "") or ""
        if kind.startswith("image/") or media.get("medium") == "image":
            yield from add(media.get("url", ""))
    for link in raw.get("links", []) or []:
        if link.get("rel") == "enclosure" and (link.get("type") or "").startswith("image/"):
            yield from add(link.get("href", ""))
    found = first_image(html, base) if html else None
    if found:
        yield from add(found[0], found[1])


def full_size_blogger_image(url: str) -> str:
    """Blogger's ``media:thumbnail`` is a 72 px crop (``/s72-c/``); ask for the full image."""
    host = urlsplit(url).hostname or ""
    if host.endswith(("blogspot.com", "googleusercontent.com", "bp.blogspot.com")):
        url = _BLOGGER_SIZE.sub("/s1600/", url, count=1)
        url = _BLOGGER_SIZE_PARAM.sub("=s1600", url)
    return url
