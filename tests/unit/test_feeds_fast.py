"""Feeds are parsed with feedparser's sanitizer and relative-URI resolution off (they were
half of a Blogger page's parse): nothing hostile reaches a post all the same, and relative
links and pictures still come out absolute."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import feedparser
import pytest

from adapters.reddit.render import RedditOptions, render_reddit
from adapters.reddit.spec import LIMITS as REDDIT_LIMITS
from adapters.tumblr.render import TumblrOptions, render_tumblr
from adapters.tumblr.spec import LIMITS as TUMBLR_LIMITS
from adapters.twitter.render import TwitterOptions, render_twitter
from adapters.twitter.spec import LIMITS as X_LIMITS
from bot import feeds
from bot.feeds.parse import _absolute_links
from bot.model import Entry, Post
from bot.text.render import Rendered, render

X = TwitterOptions(template="{title} {summary} {url}")
REDDIT_SELF = RedditOptions(
    template="{title}",
    body_template="{summary}\n\n{url}",
    kind="self",
)
TUMBLR = TumblrOptions(template="{summary}")


def _x(entry: Entry) -> Rendered:
    return render(entry, render_twitter, X, X_LIMITS)


def _reddit_self(entry: Entry) -> Rendered:
    return render(entry, render_reddit, REDDIT_SELF, REDDIT_LIMITS)


def _tumblr(entry: Entry) -> Rendered:
    return render(entry, render_tumblr, TUMBLR, TUMBLR_LIMITS)


HOSTILE = (
    '<div onclick="steal()" onmouseover="steal()" style="background:url(javascript:steal())">'
    "<p>Before it all.</p>"
    "<script>steal('script body')</script>"
    "<style>p { color: red } .secret { display: none }</style>"
    '<p><a href="javascript:steal()">one link</a> and '
    '<a href=" JaVaScRiPt:steal()">another</a> and '
    '<a href="java&#x09;script:steal()">an encoded one</a> and '
    "<a href='vbscript:steal()'>a last one</a>.</p>"
    '<p><img src="javascript:steal()" onerror="steal()" alt="bad picture"></p>'
    '<iframe src="https://evil.example/frame">iframe text</iframe>'
    "<noscript>noscript text</noscript><template>template text</template>"
    "<svg><script>steal('svg')</script></svg>"
    "<p>After it all.</p></div>"
)
NEVER = ("steal", "script", "onclick", "onerror", "onmouseover", "color: red", "iframe text")


def _atom(content: str, *, feed_base: str = "", entry_base: str = "", site: str = "") -> bytes:
    feed_attrs = f" xml:base='{feed_base}'" if feed_base else ""
    entry_attrs = f" xml:base='{entry_base}'" if entry_base else ""
    alternate = f"<link rel='alternate' type='text/html' href='{site}'/>" if site else ""
    return (
        "<?xml version='1.0' encoding='UTF-8'?>"
        f"<feed xmlns='http://www.w3.org/2005/Atom'{feed_attrs}><title>Blog</title>{alternate}"
        f"<entry{entry_attrs}><id>tag:blog,1:post-1</id>"
        "<published>2026-11-20T10:00:00Z</published><title type='text'>A post</title>"
        f"<content type='html'>{escape(content)}</content>"
        "<link rel='alternate' type='text/html' href='https://blog.example/2026/11/post.html'/>"
        "</entry></feed>"
    ).encode()


def _entry(body: bytes, url: str = "https://blog.example/feeds/posts/default") -> Entry:
    parsed = feeds.parse("blog", feeds.Fetched(body=body, url=url))
    assert len(parsed.entries) == 1
    return parsed.entries[0]


def _posts(entry: Entry) -> list[Post]:
    return [shape(entry).post for shape in (_x, _reddit_self, _tumblr)]


def _everything(post: Post) -> str:
    image = f"{post.image.url} {post.image.alt}" if post.image else ""
    return " ".join([post.text, post.title, post.body, post.link, *post.tags, image]).lower()


def test_feedparser_is_asked_not_to_sanitize_or_resolve(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[dict[str, Any]] = []
    real = feedparser.parse

    def spy(*args: Any, **kwargs: Any) -> Any:
        calls.append(kwargs)
        return real(*args, **kwargs)

    monkeypatch.setattr(feedparser, "parse", spy)
    _entry(_atom("<p>Hello.</p>"))
    assert calls and calls[0]["sanitize_html"] is False
    assert calls[0]["resolve_relative_uris"] is False
    assert "response_headers" in calls[0]


def test_scripts_styles_handlers_and_javascript_links_never_reach_a_post() -> None:
    entry = _entry(_atom(HOSTILE))
    assert "<script" in entry.content_html  # kept in the record, as the feed had it
    for post in _posts(entry):
        text = _everything(post)
        for word in NEVER:
            assert word not in text, (word, post)
        assert "javascript:" not in text and "vbscript:" not in text
        assert "before it all" in text and "after it all" in text
    markdown = _reddit_self(entry).post.body
    assert "one link and another and an encoded one and a last one." in markdown
    assert "](" not in markdown.split("https://blog.example/2026/11/post.html")[0]
    assert entry.images == ()  # a javascript: picture is no picture


def test_an_html_title_loses_its_tags_and_its_script() -> None:
    body = _atom("<p>x</p>").replace(
        b"<title type='text'>A post</title>",
        b"<title type='html'>Tom &lt;script&gt;steal()&lt;/script&gt;&amp;amp; "
        b"&lt;i onclick='steal()'&gt;Jerry&lt;/i&gt;</title>",
    )
    body = body.replace(
        b"<title>Blog</title>",
        b"<title type='html'>The &lt;b&gt;Blog&lt;/b&gt;&lt;style&gt;b{}&lt;/style&gt;</title>",
    )
    parsed = feeds.parse("blog", feeds.Fetched(body=body, url="https://blog.example/feed"))
    assert parsed.title == "The Blog"
    assert parsed.entries[0].title == "Tom & Jerry"


def test_a_plain_text_title_keeps_its_angle_brackets() -> None:
    body = _atom("<p>x</p>").replace(b"A post", b"I &lt;3 &lt;b&gt; tags")
    assert _entry(body).title == "I <3 <b> tags"


def test_relative_links_and_pictures_resolve_against_the_feed_address() -> None:
    html = (
        "<p><a href=\"/2026/10/older.html\">older</a> <a href='notes/x.html?a=1&amp;b=2'>x</a>"
        ' <a href="#top">top</a> <a href="//cdn.example/f.pdf">pdf</a></p>'
        '<p><img src="/img/photo.jpg" alt="a photo"></p>'
    )
    entry = _entry(_atom(html), url="https://blog.example/feeds/posts/default")
    assert 'href="https://blog.example/2026/10/older.html"' in entry.content_html
    assert 'href="https://blog.example/feeds/posts/notes/x.html?a=1&amp;b=2"' in entry.content_html
    assert 'href="https://blog.example/feeds/posts/default#top"' in entry.content_html
    assert 'href="https://cdn.example/f.pdf"' in entry.content_html
    assert entry.images[0].url == "https://blog.example/img/photo.jpg"
    markdown = _reddit_self(entry).post.body
    assert "[older](https://blog.example/2026/10/older.html)" in markdown
    assert "[x](https://blog.example/feeds/posts/notes/x.html?a=1&b=2)" in markdown
    assert "[a photo](https://blog.example/img/photo.jpg)" in markdown
    tumblr = _tumblr(entry).post
    assert tumblr.image is not None and tumblr.image.url == "https://blog.example/img/photo.jpg"


def test_relative_links_resolve_against_xml_base_as_feedparser_did() -> None:
    html = '<p><a href="../x.html">x</a> <img src="img/a.png" data-src="img/lazy.png"></p>'
    body = _atom(html, feed_base="https://site.example/blog/", entry_base="posts/")
    ours = _entry(body)
    theirs = feedparser.parse(body, response_headers={"content-location": "https://f.example/"})
    assert 'href="https://site.example/blog/x.html"' in ours.content_html
    assert 'src="https://site.example/blog/posts/img/a.png"' in ours.content_html
    assert 'data-src="https://site.example/blog/posts/img/lazy.png"' in ours.content_html
    for url in ("https://site.example/blog/x.html", "https://site.example/blog/posts/img/a.png"):
        assert url in theirs.entries[0].content[0].value  # the same as feedparser's own
    assert ours.images[0].url == "https://site.example/blog/posts/img/a.png"


def test_a_feed_on_disk_resolves_against_its_own_web_page(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(
        _atom(
            '<p><a href="/about/">about</a><img src="images/a.png"></p>', site="https://me.example/"
        )
    )
    fetched = feeds.fetch(None, feed="blog", url=path.as_uri())  # type: ignore[arg-type]
    entry = feeds.parse("blog", fetched).entries[0]
    assert 'href="https://me.example/about/"' in entry.content_html
    assert entry.images[0].url == "https://me.example/images/a.png"
    assert "file:" not in entry.content_html


def test_absolute_and_other_scheme_urls_are_left_exactly_as_they_were() -> None:
    html = (
        '<a href="https://x.example/a?b=1&amp;c=2">a</a><a href="mailto:me@x.example">m</a>'
        '<a href="javascript:steal()">j</a><img src="data:image/png;base64,AAAA">'
        '<a title="href=/not-a-link" href="/yes">y</a>'
        '<code>&lt;a href="/in-text"&gt;</code>'
    )
    out = _absolute_links(html, "https://blog.example/feed")
    assert out == html.replace('href="/yes"', 'href="https://blog.example/yes"')


def test_html_without_relative_urls_is_returned_as_it_is() -> None:
    html = '<a href="https://x.example/">x</a><img src="https://x.example/i.png">'
    assert _absolute_links(html, "https://blog.example/") is html


@pytest.mark.parametrize(
    "junk",
    [
        "<a" * 200_000,
        "<a b" * 200_000,
        '<a href="' * 100_000,
        "<a href='x' " * 100_000,
        '<img src=x title="' + "a" * 500_000,
        "<a href=" + "a" * 500_000,
    ],
)
def test_resolving_is_linear_on_hostile_markup(junk: str) -> None:
    html = '<a href="/relative">r</a>' + junk
    start = time.perf_counter()
    _absolute_links(html, "https://blog.example/")
    assert time.perf_counter() - start < 2.0
