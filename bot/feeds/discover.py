"""Find a blog's feed from its address (the home page or the feed itself), as ``init``
and ``check --online`` do."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urljoin

import requests

from bot import feeds
from bot.errors import FeedError, SetupError

BLOGGER_FEED_PATH = "/feeds/posts/default"
_PROBE = "init"  # the feed name FeedErrors carry while discovering


# -- the feed ----------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class FoundFeed:
    """A feed that was fetched and read: where it is, what it is called, its newest entry."""

    url: str
    title: str
    entries: int
    last_title: str = ""
    last_link: str = ""
    last_published_at: datetime | None = None
    # How it was found: "the address is a feed", "the page advertises it", "Blogger's feed".
    how: str = ""


def discover_feed(
    address: str, *, session: requests.Session | None = None, max_bytes: int = 10_000_000
) -> FoundFeed:
    """The feed at ``address``, or the one the page at ``address`` leads to.

    A web page is searched for ``<link rel="alternate" type="application/atom+xml"
    (or rss+xml)>`` feeds, in page order; then Blogger's ``/feeds/posts/default`` on the same
    site is tried. Raises ``SetupError`` naming what was tried and what to do.
    """
    url = blog_address(address)
    own = session is None
    session = session or feeds.make_session(deadline=30.0, workers=1)
    try:
        try:
            fetched = feeds.fetch(session, feed=_PROBE, url=url, max_bytes=max_bytes)
        except FeedError as error:
            raise SetupError(
                f"cannot read {url}: {_said(error)}; check the address (and that the blog"
                " is up), then try again"
            ) from None
        try:
            return _read(url, fetched, "the address is a feed")
        except FeedError as error:
            first = _said(error)
        page = fetched.url or url
        candidates = [(u, "the page advertises it") for u, _ in feeds.advertised_feeds(
            fetched.body or b"", page
        )]  # fmt: skip
        blogger = urljoin(page, BLOGGER_FEED_PATH)
        if blogger not in (u for u, _ in candidates):
            candidates.append((blogger, "Blogger's feed"))
        tried = []
        for candidate, how in candidates:
            try:
                found = feeds.fetch(session, feed=_PROBE, url=candidate, max_bytes=max_bytes)
                return _read(candidate, found, how)
            except FeedError as error:
                tried.append(f"{candidate} ({_said(error)})")
        raise SetupError(
            f"found no feed at {url}: {first}; tried {'; '.join(tried)}. Give the feed's own"
            " address (often /feed, /rss.xml, /atom.xml or /index.xml on the blog)"
        )
    finally:
        if own:
            session.close()


def blog_address(address: str) -> str:
    """``address`` with ``https://`` in front when it names no scheme (``example.com/blog``)."""
    address = address.strip()
    if not address:
        raise SetupError("no blog address given: type the address of the blog's home page")
    if re.match(r"^[A-Za-z][A-Za-z0-9+.-]*://", address):
        return address
    if address.startswith("/") or address.startswith("."):
        return Path(address).resolve().as_uri()
    return "https://" + address


def _read(url: str, fetched: feeds.Fetched, how: str) -> FoundFeed:
    parsed = feeds.parse(_PROBE, fetched)
    newest = max(
        parsed.entries,
        key=lambda e: e.published_at or e.updated_at or datetime.min.replace(tzinfo=UTC),
        default=None,
    )
    return FoundFeed(
        url=fetched.moved_to or url,
        title=parsed.title,
        entries=len(parsed.entries),
        last_title=newest.title if newest else "",
        last_link=newest.link if newest else "",
        last_published_at=(newest.published_at or newest.updated_at) if newest else None,
        how=how,
    )


def _said(error: FeedError) -> str:
    return error.reason
