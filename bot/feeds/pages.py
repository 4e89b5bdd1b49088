"""Describe a web page from its own metadata, for ``post URL`` when no feed lists the page.

Blogger and WordPress feeds list only their newest entries; an older post is still a page
with OpenGraph and HTML metadata (``og:title``, ``og:description``, ``og:image``,
``article:tag``, ``<link rel="canonical">``), which is all a post needs.
"""

from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import requests
from bs4 import BeautifulSoup

from bot.errors import EntryNotFoundError
from bot.http import in_words
from bot.model import Entry, Image

MAX_PAGE_BYTES = 2_000_000
TIMEOUT = (10.0, 30.0)


def fetch_page(session: requests.Session, url: str) -> tuple[str, bytes]:
    """``(final url, first MAX_PAGE_BYTES of the body)`` of an HTML page."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise EntryNotFoundError(f"{url!r} is in no configured feed and is not a web address")
    try:
        with session.get(url, timeout=TIMEOUT, stream=True) as response:
            if response.status_code != 200:
                raise EntryNotFoundError(f"{url} answered HTTP {response.status_code}")
            kind = response.headers.get("Content-Type", "text/html")
            if "html" not in kind:
                raise EntryNotFoundError(f"{url} is not a web page ({kind})")
            body = bytearray()
            for chunk in response.iter_content(65536):
                body += chunk
                if len(body) >= MAX_PAGE_BYTES:
                    break  # the metadata is in the head; the rest is not needed
            return response.url, bytes(body[:MAX_PAGE_BYTES])
    except requests.RequestException as error:
        raise EntryNotFoundError(f"cannot fetch {url}: {in_words(error)}") from error


def describe_page(feed: str, url: str, body: bytes) -> Entry:
    """An entry made from a page's metadata; its key is the page's canonical link."""
    soup = BeautifulSoup(body, "html.parser")

    def meta(*names: str) -> str:
        for name in names:
            tag = soup.find("meta", attrs={"property": name}) or soup.find(
                "meta", attrs={"name": name}
            )
            content = tag.get("content") if tag is not None else None
            if isinstance(content, str) and content.strip():
                return " ".join(content.split())
        return ""

    canonical = soup.find("link", rel="canonical")
    href = canonical.get("href") if canonical is not None else None
    if not isinstance(href, str) or not href.strip():
        href = meta("og:url")
    link = urljoin(url, href.strip()) if href else url
    title = meta("og:title", "twitter:title")
    if not title and soup.title is not None and soup.title.string:
        title = " ".join(soup.title.string.split())
    description = meta("og:description", "twitter:description", "description")
    image = meta("og:image", "og:image:url", "twitter:image")
    labels = tuple(
        dict.fromkeys(
            " ".join(str(tag.get("content", "")).split())
            for tag in soup.find_all("meta", attrs={"property": "article:tag"})
            if str(tag.get("content", "")).strip()
        )
    )
    return Entry(
        feed=feed,
        key=link,
        title=title,
        link=link,
        summary_html=description,
        content_html=description,
        labels=labels,
        author=meta("author", "article:author"),
        feed_title=meta("og:site_name"),
        images=(Image(url=urljoin(url, image), alt=meta("og:image:alt")),) if image else (),
    )
