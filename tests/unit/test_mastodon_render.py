"""Mastodon's shape and count: every post fits the instance's limit with every URL as 23
(the content warning included), keeps its link whole, and mentions nobody; the real-feed
corpus rendered for Mastodon keeps the same promises (its expected files are the other
platforms', and stay untouched)."""

from __future__ import annotations

import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest
import regex
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from adapters.mastodon.render import (
    MastodonOptions,
    describe_mastodon,
    idempotency_key,
    render_mastodon,
    rendered_at,
)
from adapters.mastodon.spec import LIMITS, SPEC
from adapters.mastodon.text import neutralize_mastodon_mentions, status_length, truncate_status
from bot import feeds
from bot.model import Entry, Image, Post
from bot.text.cut import find_urls, graphemes
from bot.text.render import render
from tests.conftest import DATA
from tests.fakes import mastodon_api
from tests.unit.test_render import labels, links, texts

LINK = "https://fieldnotes.blogspot.com/2026/11/a-post.html"
DEFAULT = MastodonOptions()
FULL = MastodonOptions(
    template="{title}\n\n{summary}\n\n{url} {hashtags}", spoiler_text="Gardening, long"
)
# Mastodon's mention: Account::MENTION_RE, with the username part (USERNAME_RE).
MENTION = regex.compile(r"(?<![=/\w])@([a-z0-9_]+(?:[a-z0-9_.-]+[a-z0-9_]+)?)", regex.IGNORECASE)
CORPUS = sorted((DATA / "real").glob("*.xml"))


def _entry(title: str = "A post", html: str = "<p>Body.</p>", **kw: object) -> Entry:
    values: dict[str, object] = {"feed": "blog", "key": "k", "title": title, "link": LINK}
    values.update(content_html=html, **kw)
    return Entry(**values)  # type: ignore[arg-type]


def _mentions(text: str) -> list[str]:
    spans = find_urls(text)
    return [
        m.group()
        for m in MENTION.finditer(text)
        if not any(start <= m.start() < end for start, end in spans)
    ]


def _check(post: Post, entry: Entry, options: MastodonOptions, limit: int = 500) -> None:
    used = status_length(post.text) + len(graphemes(post.title))
    assert used <= limit, (used, post.text)
    # The fake's own count (a plain reading of StatusLengthValidator) agrees it fits.
    assert mastodon_api.status_length(post.text, post.title) <= limit
    assert unicodedata.is_normalized("NFC", post.text)
    if entry.link and "{url}" in options.template:
        assert entry.link in post.text
        if find_urls(entry.link):  # a real TLD: Mastodon links it where it starts
            assert post.text.index(entry.link) in [start for start, _ in find_urls(post.text)]
    assert _mentions(post.text) == [], post.text
    assert rendered_at(post.slug) is not None


def test_a_status_and_its_budget() -> None:
    entry = _entry("Tomatoes", labels=("Gardening", "Oil & Gas"))
    rendered = render(entry, render_mastodon, DEFAULT, LIMITS)
    assert rendered.post.text == f"Tomatoes {LINK} #Gardening #OilGas"
    assert rendered.length == 8 + 1 + 23 + 1 + 18
    assert rendered.budget == "title 8 + link 23 + tags 18 + other 2 = 51/500"
    assert rendered.post.link == LINK and rendered.post.tags == ("#Gardening", "#OilGas")


def test_the_content_warning_counts_towards_the_limit() -> None:
    options = MastodonOptions(spoiler_text="x" * 100)
    rendered = render(_entry("word " * 200), render_mastodon, options, LIMITS)
    assert rendered.post.title == "x" * 100
    assert status_length(rendered.post.text) <= 400 < status_length(rendered.post.text) + 100
    assert rendered.length <= 500 and rendered.budget.startswith("warning 100 + ")


def test_a_bigger_instance_gets_longer_statuses() -> None:
    entry = _entry("word " * 400)
    short = render(entry, render_mastodon, DEFAULT, LIMITS)
    long = render(entry, render_mastodon, MastodonOptions(max_characters=5000), LIMITS)
    assert short.length <= 500 < long.length <= 5000 and long.limit == 5000


def test_urls_count_23_with_their_protocol_and_their_length_without() -> None:
    url = "https://example.com/" + "a" * 100
    assert status_length(f"see {url}") == 4 + 23
    assert status_length("see example.com/" + "a" * 100) == 4 + 12 + 100
    assert status_length("see https://x.co") == 4 + 23  # a short URL still counts 23
    assert status_length("👨‍👩‍👧‍👦 é") == 3  # graphemes
    assert status_length(f"see {url}", url_weight=30) == 4 + 30


def test_truncate_never_cuts_a_url() -> None:
    url = "https://example.com/" + "a" * 100
    text = "word " * 50 + url + " tail " * 20
    cut = truncate_status(text, 270)
    assert status_length(cut) <= 270
    assert url in cut or "https" not in cut  # whole, or not at all


def test_feed_mentions_mention_nobody_but_links_stay_whole() -> None:
    text = (
        "Thanks @alice and @bob@example.social, mail me@example.com, see https://example.com/@carol"
    )
    neutral = neutralize_mastodon_mentions(text)
    assert _mentions(neutral) == []
    assert "me@example.com" in neutral and "https://example.com/@carol" in neutral
    rendered = render(_entry("Ask @bob@example.social"), render_mastodon, DEFAULT, LIMITS)
    assert _mentions(rendered.post.text) == []


def test_the_idempotency_key_is_the_render_time_and_differs_per_render() -> None:
    entry = _entry()
    moment = datetime(2026, 12, 7, 18, 0, 5, tzinfo=UTC)
    key = idempotency_key(entry, moment)
    assert key.startswith("20261207T180005Z-") and rendered_at(key) == moment
    assert idempotency_key(entry, moment) != key  # a repost, rendered later, has its own
    assert rendered_at("some-slug") is None


def test_describe_shows_the_warning_the_text_and_the_image() -> None:
    post = Post(
        text=f"Beans {LINK}", title="food", image=Image(url="https://img.example/a.jpg", alt="B")
    )
    described = describe_mastodon(post, LIMITS)
    assert [line.label for line in described.lines] == ["content warning", "text", "image"]
    assert described.length["text"]["used"] == 6 + 23 + 4
    assert described.budget == "33/500 characters, URLs as 23"


def test_an_empty_entry_is_skipped() -> None:
    rendered = render(_entry("", "", link=""), SPEC.render, DEFAULT, LIMITS)
    assert rendered.skip_reason


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(title=texts, summary=texts, tags=labels, link=links, warning=st.text(max_size=80))
def test_any_entry_fits_mastodon(
    title: str, summary: str, tags: list[str], link: str, warning: str
) -> None:
    entry = _entry(title, f"<p>{summary}</p>", labels=tuple(tags), link=link)
    for options in (DEFAULT, FULL, MastodonOptions(spoiler_text=warning)):
        post = render(entry, render_mastodon, options, LIMITS).post
        _check(post, entry, options)


@pytest.mark.parametrize("feed_file", CORPUS, ids=[path.stem for path in CORPUS])
def test_the_real_corpus_fits_mastodon(feed_file: Path) -> None:
    entries = feeds.parse(
        "corpus", feeds.fetch(feeds.make_session(), feed="corpus", url=feed_file.as_uri())
    ).entries
    assert entries
    for entry in entries:
        for options in (DEFAULT, FULL):
            rendered = render(entry, render_mastodon, options, LIMITS)
            if rendered.skip_reason:
                continue
            assert rendered.post.text.strip()
            assert "<p>" not in rendered.post.text and "&amp;" not in rendered.post.text
            _check(rendered.post, entry, options)


def test_reading_the_spec_or_the_cli_imports_no_mastodon_library() -> None:
    from tests.conftest import modules_loaded_by

    modules = ("mastodon", "adapters.mastodon.client", "adapters.mastodon.auth")
    code = "import bot.cli\nimport adapters\n[adapters.spec(p) for p in adapters.platforms()]"
    assert modules_loaded_by(code, modules) == []
