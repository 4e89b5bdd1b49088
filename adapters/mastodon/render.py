"""Mastodon's post: a status (the title, the link, hashtags: the template's), an optional
content warning, and the entry's image with its alt text.

The status and its content warning share one limit (``StatusLengthValidator``): the budget
is the target's ``max_characters`` (the instance's limit, 500 unless the target says more),
less the content warning. The title goes first, then the summary, then hashtags while they
fit; the template's own text and the link are never cut.

``Post`` fields used: ``text`` (the status), ``title`` (the content warning, ``spoiler_text``),
``link`` (the entry's link, for reconciliation), ``tags``, ``image``, and ``slug``: the
status's ``Idempotency-Key`` (see ``idempotency_key``).
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from adapters.api import (
    FEED_TEXT_FIELDS,
    Description,
    Entry,
    Limits,
    Line,
    Post,
    Rendered,
    explain_budget,
    fill,
    fit_template,
    graphemes,
    image_for,
    image_line,
    nothing_to_post,
    required_limit,
    select_hashtags,
    template_values,
    truncator,
)
from adapters.mastodon.text import URL_WEIGHT, neutralize_mastodon_mentions

KEY_TIME_FORMAT = "%Y%m%dT%H%M%SZ"


@dataclass(frozen=True, kw_only=True)
class MastodonOptions:
    """How one Mastodon target wants its posts, from its settings (``SPEC.options``)."""

    template: str = "{title} {url} {hashtags}"
    spoiler_text: str = ""
    max_characters: int | None = None  # None: the spec's limit (500, Mastodon's default)
    max_hashtags: int = 3
    hashtags_allow: Sequence[str] | None = None
    hashtags_deny: Sequence[str] = ()
    hashtags_rename: Mapping[str, str] = field(default_factory=dict)
    neutralize_mentions: bool = True
    image: bool = True


def idempotency_key(entry: Entry, now: datetime | None = None) -> str:
    """The ``Idempotency-Key`` of one delivery: the render time (UTC, to the second, which
    ``find_existing`` reads back: a status older than the delivery is not it) and a hash of
    the feed, the entry's key and the render time in nanoseconds.

    The post is rendered once, when its delivery is queued, and stored on the row (an edit
    renders it again only before any attempt): every attempt of one delivery sends the
    same key, so the instance answers a re-send within its window (an hour) with the status
    it made; a repost of the entry, rendered later, has its own key.
    """
    moment = now or datetime.now(UTC)
    seed = f"{entry.feed}\0{entry.key}\0{time.time_ns()}"
    digest = hashlib.sha256(seed.encode()).hexdigest()[:24]
    return f"{moment.astimezone(UTC):{KEY_TIME_FORMAT}}-{digest}"


def rendered_at(key: str) -> datetime | None:
    """When a post with this ``idempotency_key`` was rendered (``None``: not such a key)."""
    try:
        return datetime.strptime(key.split("-", 1)[0], KEY_TIME_FORMAT).replace(tzinfo=UTC)
    except ValueError:
        return None


def render_mastodon(entry: Entry, options: MastodonOptions, limits: Limits) -> Rendered:
    limit = options.max_characters or required_limit(limits, "max_text")
    count = limits.count
    warning = options.spoiler_text.strip()
    warning_length = len(graphemes(warning))
    budget = max(limit - warning_length, 0)
    values, _ = template_values(entry, only_for=options.template)
    if options.neutralize_mentions:  # Mastodon notifies every @name and @name@domain
        for name in FEED_TEXT_FIELDS:
            values[name] = neutralize_mastodon_mentions(values[name])
    fitted = fit_template(
        options.template,
        values,
        count=count,
        limit=budget,
        truncate=truncator(limits),
        hashtags=select_hashtags(
            entry.labels,
            max_count=options.max_hashtags,
            allow=options.hashtags_allow,
            deny=options.hashtags_deny,
            rename=options.hashtags_rename,
        ),
    )
    tags = fitted["hashtags"].split()
    text = fill(options.template, fitted)
    total = count(text) + warning_length
    parts = {
        "warning": warning_length,
        "title": _weight_in(options.template, "title", fitted["title"], count),
        "summary": _weight_in(options.template, "summary", fitted["summary"], count),
        "link": URL_WEIGHT if "{url}" in options.template and entry.link else 0,
        "tags": _weight_in(options.template, "hashtags", fitted["hashtags"], count),
    }
    return Rendered(
        post=Post(
            text=text,
            title=warning,
            link=entry.link,
            tags=tuple(tags),
            image=image_for(entry, limits, wanted=options.image),
            slug=idempotency_key(entry),
        ),
        length=total,
        limit=limit,
        budget=explain_budget(parts, total, limit),
        skip_reason=None if text.strip() else nothing_to_post("text"),
    )


def _weight_in(template: str, name: str, value: str, count: Callable[[str], int]) -> int:
    if "{" + name + "}" not in template or not value:
        return 0
    return count(value)


def describe_mastodon(post: Post, limits: Limits) -> Description:
    """A status as people read it: its content warning, text and image, and its length as
    Mastodon counts it, the content warning included (``51/500 characters, URLs as 23``)."""
    lines = []
    if post.title:
        lines.append(Line(label="content warning", value=post.title))
    lines.append(Line(label="text", value=post.text, kind="block"))
    if post.image:
        lines.append(image_line(post.image))
    used = limits.count(post.text) + len(graphemes(post.title))
    limit = required_limit(limits, "max_text")
    length: dict[str, dict[str, int | str]] = {
        "text": {"used": used, "limit": limit, "counting": limits.counting}
    }
    budget = f"{used}/{limit} characters, URLs as {URL_WEIGHT}"
    return Description(lines=tuple(lines), length=length, budget=budget)
