"""Routes end to end: a feed split across targets by its filters, spoken differently on
one route, its links tagged per network; what the record, preview, dry runs, ``post`` and
``retry`` say about it; and link parameters on every registered platform's post shape."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from html import escape
from pathlib import Path
from types import ModuleType
from typing import Any

import click
import pytest
from click.testing import CliRunner

from adapters.twitter.text import weighted_length
from bot.app import describe_for
from bot.cli import main
from bot.config import load_config
from bot.model import Entry
from bot.targets import render_for
from tests.conftest import X_SECRETS, Clock, feed_table, open_app, write_config, x_target
from tests.fakes.feed_server import FakeBlog
from tests.fakes.x_api import FakeX
from tests.platforms import hooks, registered

SPONSORED = 'filtered: label "Sponsored" excluded by feeds.blog'
X_PARAMS = 'link_params = { utm_source = "x", utm_medium = "social", utm_campaign = "{feed}" }'


def _invoke(path: Path, *args: str) -> click.testing.Result:
    return CliRunner().invoke(main, ["--config", str(path), *args], env=X_SECRETS)


def _json(path: Path, *args: str) -> Any:
    result = _invoke(path, *args)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def _config(tmp_path: Path, blog: FakeBlog, x_api: FakeX, *, route: str = "") -> Path:
    feed = feed_table("blog", blog.feed_url, ["x"]) + 'exclude_labels = ["Sponsored"]\n'
    return write_config(
        tmp_path,
        feed + route,
        x_target(x_api.url) + 'exclude_words = ["giveaway"]\n' + X_PARAMS + "\n",
    )


def _tagged(link: str, feed: str = "blog") -> str:
    return f"{link}?utm_source=x&utm_medium=social&utm_campaign={feed}"


def test_a_filtered_entry_is_skipped_and_history_says_why(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    blog.add_entry("Seen at the baseline")
    path = _config(tmp_path, blog, x_api)
    assert _invoke(path, "run", "--once").exit_code == 0
    sponsored = blog.add_entry("A new bike shop", labels=["Sponsored", "Local"])
    giveaway = blog.add_entry("Our GIVEAWAY: a bike")
    kept = blog.add_entry("Tomatoes in November", labels=["Gardening"])

    assert _invoke(path, "run", "--once").exit_code == 0

    assert [t["text"] for t in x_api.tweets] == [
        f"Tomatoes in November {_tagged(blog.entry_url(kept))} #Gardening"
    ]
    rows = {row["link"]: row for row in _json(path, "history", "--json")}
    assert rows[blog.entry_url(sponsored)]["status"] == "skipped"
    assert rows[blog.entry_url(sponsored)]["error"] == SPONSORED
    assert rows[blog.entry_url(giveaway)]["status"] == "skipped"
    assert rows[blog.entry_url(giveaway)]["error"] == (
        'filtered: word "giveaway" excluded by targets.x'
    )
    assert rows[blog.entry_url(kept)]["status"] == "posted"
    table = _invoke(path, "history").output
    assert SPONSORED in table


def test_retry_of_a_filtered_delivery_overrides_the_filter_and_says_so(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    blog.add_entry("Seen at the baseline")
    path = _config(tmp_path, blog, x_api)
    assert _invoke(path, "run", "--once").exit_code == 0
    entry = blog.add_entry("A new bike shop", labels=["Sponsored"])
    assert _invoke(path, "run", "--once").exit_code == 0
    (row,) = _json(path, "history", "--json")

    result = _invoke(path, "retry", str(row["id"]))

    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0] == (
        f"{row['id']}: this overrides the filter ({SPONSORED})"
    )
    assert _invoke(path, "run", "--once").exit_code == 0
    assert [t["text"] for t in x_api.tweets] == [
        f"A new bike shop {_tagged(blog.entry_url(entry))} #Sponsored"
    ]
    assert _invoke(path, "run", "--once").exit_code == 0
    assert len(x_api.tweets) == 1


def test_post_by_hand_ignores_the_filters_and_says_that_it_did(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    blog.add_entry("Seen at the baseline")
    path = _config(tmp_path, blog, x_api)
    assert _invoke(path, "run", "--once").exit_code == 0
    entry = blog.add_entry("A new bike shop", labels=["Sponsored"])
    assert _invoke(path, "run", "--once").exit_code == 0  # skipped by the feed's filter
    other = blog.add_entry("Giveaway results", labels=["Local"])  # not polled yet

    posted = _invoke(path, "post", blog.entry_url(entry))
    assert posted.exit_code == 0, posted.output
    assert posted.output.splitlines()[0] == (
        f"x: note: a post by hand overrides the filter ({SPONSORED})"
    )
    as_json = _json(path, "post", blog.entry_url(other), "--json")
    assert as_json[0]["result"] == "posted"
    assert as_json[0]["note"] == (
        'a post by hand overrides the filter (filtered: word "giveaway" excluded by targets.x)'
    )
    assert [t["text"].split(" ")[-2] for t in x_api.tweets] == [
        _tagged(blog.entry_url(entry)),
        _tagged(blog.entry_url(other)),
    ]


def test_changing_a_route_never_posts_again(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    """Loosening a filter does not post what it kept out; new wording and new link
    parameters do not post what went out already."""
    blog.add_entry("Seen at the baseline")
    path = _config(tmp_path, blog, x_api)
    with open_app(path, clock) as app:
        app.poll_due_feeds(everything=True)
    blog.add_entry("A new bike shop", labels=["Sponsored"])
    blog.add_entry("Tomatoes in November")
    clock.advance(minutes=11)
    with open_app(path, clock) as app:
        app.poll_due_feeds()
        app.dispatch_due()
    assert len(x_api.tweets) == 1

    write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["x"])
        + '[feeds.blog.to.x]\ntemplate = "New: {title} {url}"\n'
        + 'link_params = { utm_source = "x-blog" }\n',
        x_target(x_api.url) + X_PARAMS + "\n",
    )
    for _ in range(3):
        clock.advance(minutes=11)
        with open_app(path, clock) as app:
            app.poll_due_feeds(everything=True)
            app.dispatch_due()
    assert len(x_api.tweets) == 1
    with open_app(path, clock) as app:
        states = sorted((d.title, d.state.value, d.error) for d in app.history())
    assert states == [
        ("A new bike shop", "skipped", SPONSORED),
        ("Tomatoes in November", "posted", None),
    ]
    # Only entries planned from now on take the route's words.
    added = blog.add_entry("Leeks in December")
    clock.advance(minutes=11)
    with open_app(path, clock) as app:
        app.poll_due_feeds()
        app.dispatch_due()
    assert x_api.tweets[-1]["text"] == (
        f"New: Leeks in December {blog.entry_url(added)}"
        "?utm_source=x-blog&utm_medium=social&utm_campaign=blog"
    )


def test_an_edit_that_a_filter_keeps_out_is_not_sent(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX, clock: Clock
) -> None:
    """A label "Sponsored" added while the post waits for the target's delay: the delivery
    is skipped with the reason, never sent; an edit that a filter lets in posts nothing."""
    blog.add_entry("Seen at the baseline")
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["x"]) + 'exclude_labels = ["Sponsored"]\n',
        x_target(x_api.url, delay='"30m"'),
    )
    with open_app(path, clock) as app:
        app.poll_due_feeds(everything=True)
    shop = blog.add_entry("A new bike shop")
    offer = blog.add_entry("Spring offers", labels=["Sponsored"])
    clock.advance(minutes=11)
    with open_app(path, clock) as app:
        app.poll_due_feeds()
    shop.labels.append("Sponsored")
    blog.edit_entry(shop, title="A new bike shop (sponsored)")
    offer.labels.clear()
    blog.edit_entry(offer, title="Spring offers, unsponsored")
    for _ in range(4):
        clock.advance(minutes=11)
        with open_app(path, clock) as app:
            app.poll_due_feeds()
            app.dispatch_due()

    assert x_api.tweets == []
    with open_app(path, clock) as app:
        rows = sorted((d.link, d.state.value, d.error) for d in app.history())
    assert rows == [
        (blog.entry_url(shop), "skipped", SPONSORED),
        (blog.entry_url(offer), "skipped", SPONSORED),
    ]


ROUTE = """[feeds.blog.to.x]
include_labels = ["Local", "Алматы"]
template = "[{feed_title}] {title} {url}"
"""


def test_preview_shows_every_pair_in_its_routes_words_and_why_one_is_skipped(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    local = blog.add_entry("Council meets", labels=["АЛМАТЫ"])
    sport = blog.add_entry("Cup final", labels=["Sport"])
    path = _config(tmp_path, blog, x_api, route=ROUTE)

    result = _invoke(path, "preview", "--limit", "2")

    assert result.exit_code == 0, result.output
    route_line = "   route feeds.blog.to.x: include_labels, template"
    link = _tagged(blog.entry_url(local))
    text = f"[Field Notes] Council meets {link}"
    assert result.output.split("\n\n")[:2] == [
        "── x (twitter) · Cup final\n"
        + route_line
        + '\n   skipped: filtered: not labelled "Local" or "Алматы"'
        " (include_labels of feeds.blog.to.x)",
        "── x (twitter) · Council meets\n"
        + route_line
        + f"\n   {text}"
        # X does not link an IP address: the tagged link weighs its characters.
        + f"\n   [title 13 + unlinked url {len(link)} + other"
        + f" {weighted_length(text) - 13 - len(link)} = {weighted_length(text)}/280]",
    ]
    previewed = _json(path, "preview", "--json", "--limit", "2")
    assert [(p["link"], p["status"], p["reason"]) for p in previewed] == [
        (
            blog.entry_url(sport),
            "skipped",
            'filtered: not labelled "Local" or "Алматы" (include_labels of feeds.blog.to.x)',
        ),
        (blog.entry_url(local), "would_post", None),
    ]
    assert previewed[1]["post"]["link"] == _tagged(blog.entry_url(local))


def test_dry_run_json_has_one_object_per_entry_and_target_filtered_ones_included(
    tmp_path: Path, blog: FakeBlog, x_api: FakeX
) -> None:
    blog.add_entry("Seen at the baseline")
    path = write_config(
        tmp_path,
        feed_table("blog", blog.feed_url, ["x", "y"]) + 'exclude_labels = ["Sponsored"]\n',
        x_target(x_api.url) + X_PARAMS + "\n",
        x_target(x_api.url, name="y") + 'include_words = ["bike"]\n',
    )
    assert _invoke(path, "run", "--once").exit_code == 0
    bike = blog.add_entry("A new bike shop")
    sponsored = blog.add_entry("Garden centre opens", labels=["Sponsored"])

    rows = _json(path, "run", "--once", "--dry-run", "--json")

    found = sorted((r["link"], r["target"], r["status"], r["reason"]) for r in rows)
    assert found == sorted(
        [
            (blog.entry_url(bike), "x", "would_post", None),
            (blog.entry_url(bike), "y", "would_post", None),
            (blog.entry_url(sponsored), "x", "skipped", SPONSORED),
            (blog.entry_url(sponsored), "y", "skipped", SPONSORED),
        ]
    )
    posts = {(r["link"], r["target"]): r["post"]["link"] for r in rows}
    assert posts[blog.entry_url(bike), "x"] == _tagged(blog.entry_url(bike))
    assert posts[blog.entry_url(bike), "y"] == blog.entry_url(bike)  # y sets no parameters
    assert x_api.tweets == []


# -- link parameters on every platform's post shape ----------------------------------------

PARAMS = (
    'link_params = { utm_source = "{platform}", utm_medium = "social", utm_campaign = "{feed}" }'
)
OWN_LINK = "https://blog.example/2026/11/tomatoes.html?id=7&utm_source=newsletter#comments"
TAGGED = (
    "https://blog.example/2026/11/tomatoes.html?id=7&utm_source=newsletter"
    "&utm_medium=social&utm_campaign=blog#comments"
)
UNTAGGED = OWN_LINK.partition("#")[0]


@pytest.fixture(params=registered())
def platform(request: pytest.FixtureRequest) -> ModuleType:
    return hooks(request.param)


def _platform_config(tmp_path: Path, platform: ModuleType, api_base: str, *more: str) -> Path:
    return write_config(
        tmp_path,
        feed_table("blog", "feed.xml", ["t"], backfill=1),
        platform.target_table(api_base, "t") + "\n".join([PARAMS, *more]) + "\n",
    )


def _strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for item in value.values() for s in _strings(item)]
    if isinstance(value, list | tuple):
        return [s for item in value for s in _strings(item)]
    return []


def test_link_params_are_on_the_link_wherever_a_platforms_post_shows_it(
    tmp_path: Path, platform: ModuleType
) -> None:
    """Text, link card, link post, link block, webhook body: the link as posted carries the
    parameters after its own (the link's own utm_source wins) and keeps its fragment."""
    path = _platform_config(tmp_path, platform, "http://127.0.0.1:9")
    config = load_config(path, environ=platform.ENV)
    entry = Entry(
        feed="blog",
        key="tag:blog,2026:1",
        title="Tomatoes in November",
        link=OWN_LINK,
        summary_html="<p>Planted late, picked later.</p>",
        feed_title="Field Notes",
        published_at=datetime(2026, 11, 20, 9, 0, tzinfo=UTC),
    )

    post = render_for(config, entry, "t").post

    shown = [s for s in _strings(post.to_dict()) if UNTAGGED in s]
    assert shown, f"{platform.PLATFORM}'s post shows no link: {post}"
    for value in shown:
        assert TAGGED in value, value
        assert UNTAGGED not in value.replace(TAGGED, ""), value
    for field in ("text", "body", "description"):  # a body may be JSON: the link is as is
        if getattr(post, field):
            assert OWN_LINK not in getattr(post, field).replace(TAGGED, "")


def test_a_posts_length_is_counted_on_the_link_as_posted(
    tmp_path: Path, platform: ModuleType
) -> None:
    """A long parameter makes a long link: where the platform counts the link's characters
    the title gives way, and the post still fits; X (and Mastodon) count it as 23."""
    campaign = "c" * 120
    path = _platform_config(tmp_path, platform, "http://127.0.0.1:9")
    text = path.read_text().replace('utm_campaign = "{feed}"', f'utm_campaign = "{campaign}"')
    path.write_text(text)
    config = load_config(path, environ=platform.ENV)
    entry = Entry(
        feed="blog",
        key="tag:blog,2026:2",
        title="A long title " * 20,
        link="https://fieldnotes.blogspot.com/2026/11/long.html",
        summary_html="<p>" + "Words of the summary. " * 30 + "</p>",
    )

    post = render_for(config, entry, "t").post

    described = describe_for(platform.PLATFORM, post)
    for part, used in described.length.items():
        assert int(used["used"]) <= int(used["limit"]), (part, used)
    assert any(campaign in value for value in _strings(post.to_dict()))
    if platform.PLATFORM == "twitter":
        untagged = post.text.replace(post.link, entry.link)
        assert weighted_length(post.text) == weighted_length(untagged)


def _atom(link: str) -> bytes:
    """A feed of one entry whose link carries its own parameters and a fragment."""
    when = (datetime.now(UTC) - timedelta(hours=1)).isoformat(timespec="seconds")
    return f"""<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns='http://www.w3.org/2005/Atom'><id>tag:blog.example,2026:feed</id>
<title>Field Notes</title><updated>{when}</updated>
<entry><id>tag:blog.example,2026:post-1</id><published>{when}</published>
<updated>{when}</updated><title>Tomatoes in November</title>
<content type='html'>&lt;p&gt;Planted late.&lt;/p&gt;</content>
<link rel='alternate' type='text/html' href='{escape(link)}'/></entry></feed>""".encode()


def test_every_platform_posts_the_link_with_its_parameters(
    tmp_path: Path, blog: FakeBlog, clock: Clock, platform: ModuleType
) -> None:
    """Through each platform's client and its loopback fake: what the platform received
    is the entry's link (its own parameters kept) with the target's parameters."""
    link = f"{blog.url}/2026/11/tomatoes.html?id=7&utm_source=newsletter"
    blog.serve_next(_atom(link + "#comments"), content_type="application/atom+xml")
    fake = platform.start_fake()
    try:
        path = _platform_config(tmp_path, platform, fake.url)
        path.write_text(path.read_text().replace('"feed.xml"', f'"{blog.feed_url}"'))
        with open_app(path, clock, platform.ENV) as app:
            app.poll_due_feeds(everything=True)
            app.dispatch_due()
        assert platform.posted_links(fake) == [f"{link}&utm_medium=social&utm_campaign=blog"]
    finally:
        fake.stop()
