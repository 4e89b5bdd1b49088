"""Fetching and normalising feeds."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot import feeds
from bot.errors import FeedError
from tests.conftest import REPO
from tests.fakes.feed_server import FakeBlog

EXAMPLE = REPO / "examples" / "blogger-feed.xml"


def _parse(body: bytes, url: str = "https://blog.example/feed") -> feeds.ParsedFeed:
    return feeds.parse("f", feeds.Fetched(body=body, url=url))


def test_blogger_example_normalises() -> None:
    parsed = _parse(
        EXAMPLE.read_bytes(), "https://fieldnotes-allotment.blogspot.com/feeds/posts/default"
    )
    assert parsed.title == "Field Notes from the Allotment"
    first = parsed.entries[0]
    assert first.key == "tag:blogger.com,1999:blog-7741592316467340211.post-5512098873460012245"
    assert first.title == "A Raspberry Pi that waters the tomatoes (and texts me when it can't)"
    assert first.link == (
        "https://fieldnotes-allotment.blogspot.com/2026/11/a-raspberry-pi-that-waters-tomatoes.html"
    )
    assert first.labels == ("Raspberry Pi", "Gardening")
    assert first.author == "Maren Holt"
    assert first.feed_title == "Field Notes from the Allotment"
    assert first.published_at == datetime(2026, 11, 20, 17, 2, tzinfo=UTC)
    assert first.updated_at == datetime(2026, 11, 20, 17, 14, 3, 11000, tzinfo=UTC).replace(
        microsecond=0
    )
    # The post's own <img>, with its alt text, comes first; media:thumbnail's 72 px crop
    # follows, asked for at full size with the crop as its fallback.
    assert first.images[0].url.endswith("/s320/pi-greenhouse.jpg")
    assert first.images[0].alt == "A Raspberry Pi in a lunch box next to tomato plants"
    assert first.images[-1].url.endswith("/s1600/pi-greenhouse.jpg")
    assert first.images[-1].fallback.endswith("/s72-c/pi-greenhouse.jpg")
    assert "Raspberry Pi" in first.content_html
    assert parsed.entries[3].labels == ("Oil & Gas",)


def test_entry_key_falls_back_to_link_then_content_hash() -> None:
    body = (
        b"<rss version='2.0'><channel><title>T</title>"
        b"<item><title>With link</title><link>HTTPS://Blog.Example:443/a#frag</link></item>"
        b"<item><title>No link</title><description>text</description></item>"
        b"</channel></rss>"
    )
    with_link, no_link = _parse(body).entries
    assert with_link.key == "https://blog.example/a"
    assert no_link.key.startswith("sha256:")
    assert with_link.published_at is None


def test_entities_are_refused() -> None:
    bomb = b"<?xml version='1.0'?><!DOCTYPE r [<!ENTITY a 'aaaaaaaaaa'>]><rss>&a;&a;</rss>"
    with pytest.raises(FeedError, match="ENTITY"):
        _parse(bomb)


def test_garbage_is_a_feed_error() -> None:
    with pytest.raises(FeedError, match="not a feed"):
        _parse(b"<html><body>Not found</body></html>\x00\x01")


def test_malformed_feed_keeps_its_entries() -> None:
    body = (
        b"<rss version='2.0'><channel><title>T</title>"
        b"<item><title>A &amp B</title><guid>1</guid></item></channel>"
    )
    parsed = _parse(body)
    assert parsed.problem
    assert len(parsed.entries) == 1
    assert parsed.entries[0].key.endswith("1")


def test_fetch_sends_validators_and_handles_304(blog: FakeBlog) -> None:
    blog.add_entry("Hello")
    session = feeds.make_session()
    first = feeds.fetch(session, feed="b", url=blog.feed_url)
    assert first.body and first.etag
    second = feeds.fetch(
        session, feed="b", url=blog.feed_url, etag=first.etag, last_modified=first.last_modified
    )
    assert second.body is None
    assert blog.feed_fetches()[1].header("if-none-match") == first.etag


def test_fetch_caps_the_body(blog: FakeBlog) -> None:
    for n in range(50):
        blog.add_entry(f"Entry {n}", "<p>" + "x" * 1000 + "</p>")
    with pytest.raises(FeedError, match="larger than 10000 bytes"):
        feeds.fetch(feeds.make_session(), feed="b", url=blog.feed_url, max_bytes=10_000)


def test_fetch_reports_http_errors_and_retry_after(blog: FakeBlog) -> None:
    blog.fail_next(503, {"Retry-After": "120"})
    now = datetime(2026, 1, 1, tzinfo=UTC)
    with pytest.raises(FeedError) as raised:
        feeds.fetch(feeds.make_session(), feed="b", url=blog.feed_url, now=now)
    assert raised.value.retry_at == datetime(2026, 1, 1, 0, 2, tzinfo=UTC)
    blog.fail_next(410)
    with pytest.raises(FeedError, match="410 Gone"):
        feeds.fetch(feeds.make_session(), feed="b", url=blog.feed_url)


def test_a_retry_after_beyond_the_calendar_is_ignored_not_a_crash(blog: FakeBlog) -> None:
    blog.fail_next(503, {"Retry-After": "9" * 30})
    with pytest.raises(FeedError, match="503") as raised:
        feeds.fetch(feeds.make_session(), feed="b", url=blog.feed_url)
    assert raised.value.retry_at is None  # the usual backoff applies


def test_fetch_from_disk(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(EXAMPLE.read_bytes())
    fetched = feeds.fetch(feeds.make_session(), feed="b", url=path.as_uri())
    assert fetched.body == EXAMPLE.read_bytes()
    with pytest.raises(FeedError, match="cannot read"):
        feeds.fetch(feeds.make_session(), feed="b", url=(tmp_path / "nope.xml").as_uri())


def test_unreachable_feed_is_a_clean_error_in_words() -> None:
    with pytest.raises(FeedError) as refused:
        feeds.fetch(feeds.make_session(), feed="b", url="http://127.0.0.1:9/feed")
    assert str(refused.value) == (
        "feed b: cannot fetch http://127.0.0.1:9/feed: the connection was refused: nothing"
        " answers at that address and port"
    )
    with pytest.raises(FeedError) as unknown:
        feeds.fetch(feeds.make_session(), feed="b", url="http://no-such-host.invalid/feed")
    assert str(unknown.value).endswith(
        "cannot fetch http://no-such-host.invalid/feed: the host name was not found (check"
        " the address, and this machine's DNS)"
    )


def test_a_permanent_redirect_is_reported(blog: FakeBlog) -> None:
    blog.add_entry("Hello")
    fetched = feeds.fetch(feeds.make_session(), feed="b", url=blog.url + "/old-feed")
    assert fetched.moved_to == blog.feed_url
    assert fetched.body
    direct = feeds.fetch(feeds.make_session(), feed="b", url=blog.feed_url)
    assert direct.moved_to is None


def test_the_cap_applies_to_the_decoded_body(blog: FakeBlog) -> None:
    """A 20 KB gzip body that inflates to 20 MB is refused once 1 MB has been read."""
    import gzip

    from tests.fakes.server import Response

    bomb = gzip.compress(b"<rss>" + b" " * 20_000_000 + b"</rss>")
    assert len(bomb) < 50_000
    blog.next_responses.append(
        Response(200, bomb, {"Content-Type": "application/rss+xml", "Content-Encoding": "gzip"})
    )
    with pytest.raises(FeedError, match="larger than 1000000 bytes"):
        feeds.fetch(feeds.make_session(), feed="b", url=blog.feed_url, max_bytes=1_000_000)


def test_titles_lose_their_markup_but_not_text_that_looks_like_a_tag() -> None:
    """Atom type="html" titles and RSS titles with escaped markup kept their tags (issue 9)."""
    atom = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title type="html">Tech &lt;i&gt;news'
        b'&lt;/i&gt;</title><link href="https://tech.example/"/>'
        b'<entry><id>1</id><title type="html">Teams is stomping &lt;b&gt;Slack&lt;/b&gt;</title>'
        b'<link href="https://tech.example/1"/></entry>'
        b'<entry><id>2</id><title type="html">ssh &amp;lt;IP-ADDRESS&amp;gt;</title>'
        b'<link href="https://tech.example/2"/></entry></feed>'
    )
    parsed = _parse(atom)
    assert parsed.title == "Tech news"
    assert [e.title for e in parsed.entries] == ["Teams is stomping Slack", "ssh <IP-ADDRESS>"]
    rss = (
        b"<rss version='2.0'><channel><title>T</title><link>https://news.example/</link>"
        b"<item><title>A GPS collar for &lt;i&gt;dogs&lt;/i&gt;</title><link>https://news.example/a"
        b'</link></item><item><title>Govt to raise &lt;span class="webrupee"&gt;&#8377;&lt;/span'
        b"&gt;4,000 crore</title><link>https://news.example/b</link></item>"
        b"<item><title>A 625ft&lt;sup&gt;2&lt;/sup&gt; flat</title><link>https://news.example/c"
        b"</link></item><item><title>Log in with ssh &lt;IP-ADDRESS&gt;</title>"
        b"<link>https://news.example/d</link></item></channel></rss>"
    )
    assert [e.title for e in _parse(rss).entries] == [
        "A GPS collar for dogs",
        "Govt to raise ₹4,000 crore",
        "A 625ft² flat",
        "Log in with ssh <IP-ADDRESS>",
    ]


def test_relative_links_in_a_feed_read_from_disk_resolve_against_its_own_link(
    tmp_path: Path,
) -> None:
    """They became file:///... URLs, joined to the file's place on the disk (issue 9)."""
    path = tmp_path / "hugo.xml"
    path.write_bytes(
        b"<rss version='2.0'><channel><title>T</title><link>https://notes.example/</link>"
        b"<item><title>Relative</title><link>/posts/relative/</link>"
        b'<description>&lt;img src="/images/a.png" alt="A"&gt;</description></item>'
        b"</channel></rss>"
    )
    parsed = feeds.parse("f", feeds.fetch(None, feed="f", url=path.as_uri()))  # type: ignore[arg-type]
    entry = parsed.entries[0]
    assert entry.link == "https://notes.example/posts/relative/"
    assert [image.url for image in entry.images] == ["https://notes.example/images/a.png"]
    atom = tmp_path / "jekyll.xml"
    atom.write_bytes(
        b'<feed xmlns="http://www.w3.org/2005/Atom" xml:base="https://noa.example/blog/">'
        b'<title>T</title><entry><id>1</id><title>x</title><link href="2024/x.html"/></entry>'
        b'<entry><id>2</id><title>y</title><link href="/y.html"/></entry></feed>'
    )
    entries = feeds.parse("f", feeds.fetch(None, feed="f", url=atom.as_uri())).entries  # type: ignore[arg-type]
    assert [e.link for e in entries] == [
        "https://noa.example/blog/2024/x.html",
        "https://noa.example/y.html",
    ]


def test_an_entry_link_is_its_web_page_or_nothing() -> None:
    """A PDF-only entry was posted with its tag: id as the link (issue 9)."""
    body = (
        b'<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
        b'<link href="https://papers.example/"/>'
        b"<entry><id>tag:papers.example,2024:1</id><title>Only a PDF</title>"
        b'<link rel="alternate" type="application/pdf" href="/papers/1.pdf"/></entry>'
        b"<entry><id>tag:papers.example,2024:2</id><title>PDF and page</title>"
        b'<link rel="alternate" type="application/pdf" href="/papers/2.pdf"/>'
        b'<link rel="alternate" type="text/html" href="/papers/2/"/></entry>'
        b"<entry><id>tag:papers.example,2024:3</id><title>No link</title></entry>"
        b'<entry><id>4</id><title>Replies only</title><link rel="replies" href="/c/4"/>'
        b"</entry></feed>"
    )
    links = [e.link for e in _parse(body, "https://papers.example/feed.atom").entries]
    assert links == [
        "https://papers.example/papers/1.pdf",
        "https://papers.example/papers/2/",
        "",
        "",
    ]
    rss = (
        b"<rss version='2.0'><channel><title>T</title><link>https://pod.example/</link>"
        b"<item><title>Guid, not a link</title><guid isPermaLink='false'>ep-1</guid>"
        b"<enclosure url='https://cdn.example/ep1.mp3' type='audio/mpeg' length='1'/></item>"
        b"<item><title>Permalink guid</title><guid>https://pod.example/ep-2</guid></item>"
        b"<item><title>Not a web link</title><link>mailto:host@pod.example</link></item>"
        b"<item><title>A guid that is a number</title><guid>12345</guid></item>"
        b"</channel></rss>"
    )
    assert [e.link for e in _parse(rss).entries] == ["", "https://pod.example/ep-2", "", ""]
