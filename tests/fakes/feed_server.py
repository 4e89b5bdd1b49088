"""A loopback blog: serves an Atom feed (Blogger's shape) with ETag/Last-Modified support.

``blog.add_entry(...)`` publishes, ``blog.edit_entry(...)`` edits (Blogger keeps the id and
changes ``updated``), and ``blog.requests`` records what the fetcher sent.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape, quoteattr

from tests.fakes.server import FakeServer, Request, Response

BLOG_ID = "7741592316467340211"


@dataclass
class BlogEntry:
    post_id: str
    title: str
    html: str
    published_at: datetime
    updated_at: datetime
    labels: list[str] = field(default_factory=list)
    slug: str = ""
    thumbnail: str = ""


class FakeBlog(FakeServer):
    """A Blogger-shaped Atom feed at ``/feeds/posts/default``, and the blog's home page at
    ``/`` advertising it with ``<link rel="alternate">`` (``advertise = False``: a home page
    that names no feed, as some themes have)."""

    def __init__(self, title: str = "Field Notes") -> None:
        super().__init__()
        self.title = title
        self.entries: list[BlogEntry] = []
        self.next_responses: list[Response] = []
        # Recent, as new posts are: older ones would be past the feeds' max_age.
        self._clock = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
        self.advertise = True
        # The WebSub hub the feed names (Blogger's, as it advertises it: http).
        self.hub_url = "http://pubsubhubbub.appspot.com/"
        self.route("GET", r"/", self._home)
        self.route("GET", r"/feeds/posts/default", self._feed)
        # Blogger's feeds name themselves at www.blogger.com/feeds/BLOG_ID/posts/default
        # (rel="self", the WebSub topic), not at the blogspot address users configure.
        self.route("GET", rf"/feeds/{BLOG_ID}/posts/default", self._feed)
        self.route("GET", r"/img/.*", self._image)
        self.route("GET", r"/old-feed", self._moved)
        self.route("GET", r"/\d{4}/\d{2}/[^/]+\.html", self._page)
        self.page_size: int | None = None  # entries per page, as Blogger's 25
        self.next_base: str | None = None  # where rel="next" points (default: this feed)
        self.pages: dict[str, str] = {}
        self.images: dict[str, tuple[bytes, str]] = {}

    @property
    def feed_url(self) -> str:
        return self.url + "/feeds/posts/default"

    @property
    def self_url(self) -> str:
        """The URL the feed calls itself (``rel="self"``): the WebSub topic."""
        return f"{self.url}/feeds/{BLOG_ID}/posts/default"

    def entry_url(self, entry: BlogEntry) -> str:
        return f"{self.url}/2026/11/{entry.slug}.html"

    def add_entry(
        self,
        title: str,
        html: str = "<p>Hello.</p>",
        *,
        labels: list[str] | None = None,
        published_at: datetime | None = None,
        thumbnail: str = "",
    ) -> BlogEntry:
        self._clock += timedelta(hours=1)
        when = published_at or self._clock
        post_id = str(5_000_000_000_000_000_000 + len(self.entries))
        slug = "-".join(title.lower().split())[:40] or f"post-{post_id}"
        entry = BlogEntry(post_id, title, html, when, when, list(labels or []), slug, thumbnail)
        self.entries.append(entry)
        return entry

    def edit_entry(
        self, entry: BlogEntry, *, title: str | None = None, html: str | None = None
    ) -> None:
        self._clock += timedelta(hours=1)
        entry.title = title if title is not None else entry.title
        entry.html = html if html is not None else entry.html
        entry.updated_at = self._clock

    def add_image(self, name: str, data: bytes, content_type: str = "image/png") -> str:
        self.images[name] = (data, content_type)
        return f"{self.url}/img/{name}"

    def fail_next(self, status: int, headers: dict[str, str] | None = None, body: str = "") -> None:
        self.next_responses.append(Response(status, body or f"error {status}", headers or {}))

    def serve_next(
        self,
        body: bytes,
        content_type: str = "application/rss+xml",
        headers: dict[str, str] | None = None,
    ) -> None:
        """The next feed fetch gets ``body`` as it is (a hostile feed, a web page)."""
        self.next_responses.append(
            Response(200, body, {"Content-Type": content_type, **(headers or {})})
        )

    def add_redirect(self, path: str, to: str, status: int = 302) -> str:
        """``path`` redirects to ``to`` (a path on this blog); two of them make a loop."""
        self.route("GET", re.escape(path), lambda request: Response(status, b"", {"Location": to}))
        return self.url + path

    def body(self, start: int = 1) -> bytes:
        """The feed, newest first; with ``page_size`` set, one page of it from ``start``
        (1-based) with a ``rel="next"`` link to the next page, as Blogger pages."""
        updated = max((e.updated_at for e in self.entries), default=self._clock)
        newest_first = sorted(self.entries, key=lambda e: e.published_at, reverse=True)
        page = newest_first[start - 1 :]
        if self.page_size is not None:
            page = page[: self.page_size]
        parts = [
            "<?xml version='1.0' encoding='UTF-8'?>",
            "<feed xmlns='http://www.w3.org/2005/Atom' "
            "xmlns:openSearch='http://a9.com/-/spec/opensearchrss/1.0/' "
            "xmlns:media='http://search.yahoo.com/mrss/'>",
            f"<id>tag:blogger.com,1999:blog-{BLOG_ID}</id>",
            f"<updated>{updated.isoformat()}</updated>",
            f"<title type='text'>{escape(self.title)}</title>",
            f"<link rel='alternate' type='text/html' href='{self.url}/'/>",
            f"<link rel='self' type='application/atom+xml' href='{self.self_url}'/>",
            f"<link rel='hub' href='{self.hub_url}'/>",
            "<generator version='7.00' uri='http://www.blogger.com'>Blogger</generator>",
        ]
        if self.page_size is not None and start - 1 + self.page_size < len(newest_first):
            after = start + self.page_size
            base = self.next_base or self.feed_url
            parts.append(
                f"<link rel='next' type='application/atom+xml' href='{base}"
                f"?start-index={after}&amp;max-results={self.page_size}'/>"
            )
        for entry in page:
            parts.append("<entry>")
            parts.append(f"<id>tag:blogger.com,1999:blog-{BLOG_ID}.post-{entry.post_id}</id>")
            parts.append(f"<published>{entry.published_at.isoformat()}</published>")
            parts.append(f"<updated>{entry.updated_at.isoformat()}</updated>")
            for label in entry.labels:
                parts.append(
                    f"<category scheme='http://www.blogger.com/atom/ns#' term={quoteattr(label)}/>"
                )
            parts.append(f"<title type='text'>{escape(entry.title)}</title>")
            parts.append(f"<content type='html'>{escape(entry.html)}</content>")
            parts.append(
                f"<link rel='alternate' type='text/html' href={quoteattr(self.entry_url(entry))} "
                f"title={quoteattr(entry.title)}/>"
            )
            parts.append("<author><name>Maren Holt</name></author>")
            if entry.thumbnail:
                parts.append(
                    f"<media:thumbnail url={quoteattr(entry.thumbnail)} height='72' width='72'/>"
                )
            parts.append("</entry>")
        parts.append("</feed>")
        return "".join(parts).encode("utf-8")

    def _feed(self, request: Request) -> Response:
        if self.next_responses:
            return self.next_responses.pop(0)
        body = self.body(int(request.query.get("start-index", ["1"])[0]))
        etag = '"' + hashlib.sha256(body).hexdigest()[:16] + '"'
        updated = max((e.updated_at for e in self.entries), default=self._clock)
        last_modified = format_datetime(updated.astimezone(UTC), usegmt=True)
        if request.header("if-none-match") == etag:
            return Response(304, b"", {"ETag": etag, "Last-Modified": last_modified})
        return Response(
            200,
            body,
            {
                "Content-Type": "application/atom+xml; charset=UTF-8",
                "ETag": etag,
                "Last-Modified": last_modified,
            },
        )

    def _home(self, request: Request) -> Response:
        links = (
            f'<link rel="alternate" type="application/atom+xml" title="{escape(self.title)}'
            f' - Atom" href="{self.url}/feeds/posts/default">'
            f'<link rel="alternate" type="application/rss+xml" title="{escape(self.title)}'
            f' - RSS" href="{self.url}/feeds/posts/default?alt=rss">'
            if self.advertise
            else ""
        )
        page = (
            f"<!DOCTYPE html><html><head><title>{escape(self.title)}</title>{links}</head>"
            f"<body><h1>{escape(self.title)}</h1></body></html>"
        )
        return Response(200, page, {"Content-Type": "text/html; charset=UTF-8"})

    def add_page(self, path: str, html: str) -> str:
        """An HTML page on the blog (an old post no longer in the feed, say)."""
        self.pages[path] = html
        return self.url + path

    def _page(self, request: Request) -> Response:
        if request.path not in self.pages:
            return Response(404, "<html><body>Not found</body></html>")
        return Response(200, self.pages[request.path], {"Content-Type": "text/html; charset=UTF-8"})

    def _moved(self, request: Request) -> Response:
        return Response(301, b"", {"Location": self.feed_url})

    def _image(self, request: Request) -> Response:
        name = request.path.rsplit("/", 1)[-1]
        if name not in self.images:
            return Response(404, "no such image")
        data, content_type = self.images[name]
        return Response(200, data, {"Content-Type": content_type})

    def feed_fetches(self) -> list[Request]:
        return self.requests_to("GET", r"/feeds/posts/default")
