"""Hostile and broken feeds: each is refused with a reason that names the problem, or read
with a warning, and parsing it never takes much memory.

Small cases live in ``tests/data/hostile/``; large ones are generated here at run time.
"""

from __future__ import annotations

import gzip
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from bot import feeds
from bot.errors import FeedError
from tests.conftest import DATA
from tests.fakes.feed_server import FakeBlog

HOSTILE = DATA / "hostile"
MEMORY_CAP = 64_000_000
NOW = datetime(2026, 11, 3, tzinfo=UTC)


@contextmanager
def memory_peak() -> Iterator[list[int]]:
    """Yields a list that holds the peak of traced allocations once the block is done."""
    peak: list[int] = []
    tracemalloc.start()
    try:
        yield peak
    finally:
        peak.append(tracemalloc.get_traced_memory()[1])
        tracemalloc.stop()


def parse_capped(
    body: bytes, headers: dict[str, str] | None = None, **fields: Any
) -> feeds.ParsedFeed:
    """``feeds.parse``, asserting that what it allocates stays under the cap, raising or not."""
    fetched = feeds.Fetched(
        body=body,
        url="https://b.example/feeds/posts/default",
        headers={"content-type": "application/rss+xml"} if headers is None else headers,
        **fields,
    )
    with memory_peak() as peak:
        try:
            return feeds.parse("f", fetched)
        finally:
            assert peak == [] or peak[0] < MEMORY_CAP
    raise AssertionError("unreachable")  # pragma: no cover


def refused(body: bytes, headers: dict[str, str] | None = None) -> str:
    with memory_peak() as peak, pytest.raises(FeedError) as raised:
        parse_capped(body, headers)
    assert peak[0] < MEMORY_CAP
    return str(raised.value)


def rss(items: str, *, head: str = "", declaration: str = "") -> str:
    return f"{declaration}{head}<rss version='2.0'><channel><title>T</title>{items}</channel></rss>"


LAUGHS = (
    "<!DOCTYPE lolz [<!ENTITY lol 'lol'>"
    + "".join(f"<!ENTITY lol{n} '" + f"&lol{n - 1 or ''};" * 10 + "'>" for n in range(1, 10))
    + "]>"
)
QUADRATIC = "<!DOCTYPE r [<!ENTITY big '" + "x" * 50_000 + "'>]>"
PADDING = "<!-- " + "padding " * 12_800 + "-->"  # 100 KB before the declaration


# -- entities and DTDs -------------------------------------------------------------------


def test_billion_laughs_at_the_start_isrefused() -> None:
    message = refused((HOSTILE / "billion-laughs.xml").read_bytes())
    assert "declares a DTD or XML entities (<!ENTITY at byte 40)" in message
    assert "entity expansion is a known attack" in message


@pytest.mark.parametrize("declarations", [LAUGHS, QUADRATIC], ids=["laughs", "quadratic"])
def test_entities_declared_after_100_kb_are_refused(declarations: str) -> None:
    """The old check read only the first 64 KB: this expanded to 632 MB, or was posted as
    ``Laughs &lol9;``."""
    body = rss("<item><title>Laughs &lol9;&big;</title></item>", head=PADDING + declarations)
    assert body.index("<!ENTITY") > 100_000
    message = refused(body.encode())
    assert f"(<!ENTITY at byte {body.index('<!ENTITY')})" in message


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
@pytest.mark.parametrize("padding", ["", PADDING], ids=["at the start", "after 100 KB"])
def test_entities_hidden_by_a_wide_encoding_are_refused(encoding: str, padding: str) -> None:
    declaration = f"<?xml version='1.0' encoding='{encoding[:6]}'?>"
    body = rss(
        "<item><title>Laughs &lol9;</title></item>", head=padding + LAUGHS, declaration=declaration
    )
    raw = body.encode(encoding)
    assert b"<!ENTITY" not in raw
    message = refused(raw)
    assert "(<!ENTITY at character" in message
    assert "hidden by a non-ASCII encoding" in message


def test_an_internal_subset_without_entities_isrefused() -> None:
    message = refused(rss("<item><title>x</title></item>", head="<!DOCTYPE rss [ ]>").encode())
    assert "(<!DOCTYPE ... [ at byte 0)" in message


def test_a_public_doctype_without_internal_subset_still_parses() -> None:
    parsed = parse_capped((HOSTILE / "netscape-rss-091.xml").read_bytes(), {})
    assert parsed.title == "Old Weblog"
    assert [entry.title for entry in parsed.entries] == ["Still here"]
    assert parsed.warning is None


# -- size and memory -------------------------------------------------------------------


def test_a_body_over_the_cap_is_refused_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "big.xml"
    path.write_bytes(rss("<item><title>x</title></item>" * 5000).encode())
    with pytest.raises(FeedError, match="larger than 100000 bytes"):
        feeds.fetch(feeds.make_session(), feed="f", url=path.as_uri(), max_bytes=100_000)


def test_a_gzip_bomb_is_cut_off_while_it_inflates(blog: FakeBlog) -> None:
    """200 MB of feed in 200 KB of gzip: reading stops at the cap; memory stays small."""
    bomb = gzip.compress(rss("").encode()[:-10] + b" " * 200_000_000 + b"</rss>", 9)
    assert len(bomb) < 300_000
    blog.serve_next(bomb, headers={"Content-Encoding": "gzip"})
    with memory_peak() as peak, pytest.raises(FeedError, match="larger than 1000000 bytes"):
        feeds.fetch(feeds.make_session(), feed="f", url=blog.feed_url, max_bytes=1_000_000)
    assert peak[0] < 16_000_000


@pytest.mark.slow
def test_twenty_thousand_entries_are_all_kept_in_bounded_memory() -> None:
    items = "".join(
        f"<item><title>E{n}</title><guid>tag:b,1:{n}</guid></item>" for n in range(20_000)
    )
    parsed = parse_capped(rss(items).encode())
    assert len(parsed.entries) == 20_000
    assert [parsed.entries[0].key, parsed.entries[-1].key] == ["tag:b,1:0", "tag:b,1:19999"]
    assert parsed.warning is None


def test_relative_links_under_a_huge_xml_base_are_refused_before_parsing() -> None:
    """94 KB of feed became a 30 MB entry text (94 MB of memory) as feedparser made every
    ``href=""`` absolute against a 10 KB ``xml:base``."""
    base = "https://b.example/" + "a" * 10_000
    links = "&lt;a href=''&gt;x&lt;/a&gt;" * 3000
    body = (
        f"<feed xmlns='http://www.w3.org/2005/Atom' xml:base='{base}'><title>T</title>"
        f"<entry><id>1</id><title>x</title><content type='html'>{links}</content></entry></feed>"
    )
    message = refused(body.encode())
    assert "relative links could grow it by" in message
    assert "xml:base" in message


# -- web pages -------------------------------------------------------------------------


def test_a_web_page_names_the_feeds_it_advertises(blog: FakeBlog) -> None:
    blog.serve_next((HOSTILE / "blog-page.html").read_bytes(), "text/html; charset=UTF-8")
    fetched = feeds.fetch(feeds.make_session(), feed="f", url=blog.feed_url)
    with pytest.raises(FeedError) as raised:
        feeds.parse("f", fetched)
    assert str(raised.value) == (
        "feed f: this is a web page, not a feed; it advertises: "
        f"{blog.url}/feeds/posts/default (Field Notes - Atom), "
        "https://b.example/feeds/posts/default?alt=rss (Field Notes - RSS), "
        f"{blog.url}/feeds/comments/default (Atom)"
    )


@pytest.mark.parametrize("content_type", ["text/html", "application/xml"])
def test_a_web_page_without_feeds_says_so(content_type: str) -> None:
    message = refused((HOSTILE / "plain-page.html").read_bytes(), {"content-type": content_type})
    assert message.endswith("this is a web page, not a feed, and it advertises no feed")


def test_advertised_feeds_resolves_against_the_page_and_its_base() -> None:
    page = (
        b"<html><head><base href='https://cdn.example/blog/'>"
        b"<link rel='Alternate feed' type='application/rss+xml; charset=utf-8' href='rss.xml'>"
        b"<link rel='alternate' type='application/rss+xml' href='rss.xml'>"
        b"<link rel='alternate' type='application/json' href='feed.json'></head></html>"
    )
    assert feeds.advertised_feeds(page, "https://b.example/") == [
        ("https://cdn.example/blog/rss.xml", "RSS")
    ]
    assert feeds.advertised_feeds(b"<p>no head at all", "https://b.example/") == []


def test_a_feed_served_as_text_html_is_still_a_feed() -> None:
    parsed = parse_capped(
        rss("<item><title>Hi</title></item>").encode(), {"content-type": "text/html"}
    )
    assert [entry.title for entry in parsed.entries] == ["Hi"]


# -- encodings -------------------------------------------------------------------------


def _utf8_feed_with_bad_bytes() -> tuple[bytes, int]:
    items = []
    for n in range(25):
        title = f"Café {n} — crème brûlée".encode()
        if n in (4, 11, 20):
            title = f"Caf\xe9 {n}".encode("latin-1")  # one Latin-1 byte in a UTF-8 feed
        items.append(b"<item><title>" + title + f"</title><guid>g{n}</guid></item>".encode())
    body = rss("ITEMS").encode().replace(b"ITEMS", b"".join(items))
    return body, body.index(b"\xe9")


def test_invalid_utf8_drops_only_the_unreadable_entries() -> None:
    """The whole feed was read as Windows-1252 (``CafÃ©``) and posted as mojibake."""
    body, bad = _utf8_feed_with_bad_bytes()
    parsed = parse_capped(body, {"content-type": "application/rss+xml; charset=utf-8"})
    assert len(parsed.entries) == 22
    assert parsed.entries[0].title == "Café 0 — crème brûlée"
    assert {entry.key for entry in parsed.entries}.isdisjoint({"g4", "g11", "g20"})
    assert parsed.warning == f"invalid UTF-8 at byte {bad}; 3 of 25 entries dropped as unreadable"


@pytest.mark.parametrize(
    ("name", "title", "first"),
    [
        ("euc-jp", "庭の日記", "今日はトマトを植えました"),
        ("big5", "園藝筆記", "今天種了番茄"),
        ("koi8-r", "Заметки с огорода", "Сегодня посадили помидоры"),
    ],
)
def test_an_undeclared_encoding_is_detected(name: str, title: str, first: str) -> None:
    """No XML declaration, no charset: feedparser asks chardet; without it, mojibake."""
    path = HOSTILE / f"undeclared-{name}.xml"
    assert b"encoding" not in path.read_bytes()
    fetched = feeds.fetch(feeds.make_session(), feed="f", url=path.as_uri())
    parsed = feeds.parse("f", fetched)
    assert parsed.title == title
    assert parsed.entries[0].title == first
    assert parsed.warning is None


def test_no_content_type_means_utf8_not_latin1() -> None:
    """Without a Content-Type feedparser read UTF-8 as ISO-8859-1: ``Ã©`` and C1 controls."""
    parsed = parse_capped(rss("<item><title>Crème — brûlée</title></item>").encode(), {})
    assert parsed.entries[0].title == "Crème — brûlée"


def test_a_malformed_feed_drops_entries_with_undeclared_entities() -> None:
    items = "<item><title>Laughs &lol9;</title><guid>a</guid></item>"
    items += "<item><title>Fish &amp; chips &eacute;t&eacute;</title><guid>b</guid></item>"
    parsed = parse_capped(rss(items).encode())
    assert [entry.title for entry in parsed.entries] == ["Fish & chips été"]
    assert parsed.warning is not None
    assert parsed.warning.startswith("not well-formed XML at line 1, column ")
    assert parsed.warning.endswith("undefined entity; 1 of 2 entries dropped as unreadable")


def test_a_feed_whose_every_entry_is_unreadable_is_an_error() -> None:
    message = refused(rss("<item><title>&lol9;</title></item>").encode())
    assert "every entry is unreadable: not well-formed XML" in message


# -- ids and dates -----------------------------------------------------------------------


def test_duplicate_and_missing_ids() -> None:
    parsed = parse_capped((HOSTILE / "ids.xml").read_bytes())
    assert [(entry.key, entry.title) for entry in parsed.entries] == [
        ("tag:b.example,2026:post-1", "First, edited"),
        ("tag:b.example,2026:post-2", "Second"),
        ("https://b.example/3", "No guid"),
        (parsed.entries[3].key, "Neither guid nor link"),
    ]
    assert parsed.entries[3].key.startswith("sha256:")
    assert parsed.warning == "2 of 6 entries dropped as repeating an earlier id"


def test_future_and_unreadable_dates_are_kept_with_a_warning() -> None:
    parsed = parse_capped((HOSTILE / "dates.xml").read_bytes(), fetched_at=NOW)
    dates = {entry.title: entry.published_at for entry in parsed.entries}
    assert dates == {
        "From the future": datetime(2100, 1, 1, tzinfo=UTC),
        "Unreadable date": None,
        "A good date": datetime(2026, 11, 2, 12, tzinfo=UTC),
        "No date": None,
    }
    assert parsed.warning == (
        "unreadable dates in 1 entry (e.g. 'sometime last week'); "
        "dated in the future: 1 entry (e.g. 2100-01-01)"
    )


# -- HTTP ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "reason"), [(404, "HTTP 404 Not Found from"), (410, "HTTP 410 Gone: ")]
)
def test_missing_feeds(blog: FakeBlog, status: int, reason: str) -> None:
    blog.fail_next(status)
    with pytest.raises(FeedError, match=reason) as raised:
        feeds.fetch(feeds.make_session(), feed="f", url=blog.feed_url)
    assert raised.value.gone is (status == 410)


def test_a_redirect_loop_is_named(blog: FakeBlog) -> None:
    blog.add_redirect("/a", "/b")
    url = blog.add_redirect("/b", "/a")
    with pytest.raises(FeedError, match=r"too many redirects \(the server redirects in a loop\)"):
        feeds.fetch(feeds.make_session(), feed="f", url=url)
    assert 10 <= len(blog.requests_to("GET", "/[ab]")) <= 31
