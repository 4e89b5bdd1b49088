"""X's post: one text with the title, the summary, the link and hashtags, within X's count.

The budget goes to the title first, then the summary, then hashtags (added one by one while
they fit); the template's own text and the link are never cut. With ``neutralize_mentions``
(the default), ``@name`` and ``＠name`` from the feed cannot notify anybody, in every field of
the text. The count and the cut are the ones ``Limits`` declares (X's weighted length).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

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
    find_urls,
    fit_template,
    image_for,
    image_line,
    measure,
    nothing_to_post,
    required_limit,
    select_hashtags,
    template_values,
    truncator,
)
from adapters.twitter.mentions import neutralize_x_mentions


@dataclass(frozen=True, kw_only=True)
class TwitterOptions:
    """How one X target wants its posts, from its settings (``SPEC.options``)."""

    template: str
    max_hashtags: int = 3
    hashtags_allow: Sequence[str] | None = None
    hashtags_deny: Sequence[str] = ()
    hashtags_rename: Mapping[str, str] = field(default_factory=dict)
    # Mentions from the feed cannot notify anybody (@name, ＠name).
    neutralize_mentions: bool = True
    image: bool = True


def render_twitter(entry: Entry, options: TwitterOptions, limits: Limits) -> Rendered:
    limit = required_limit(limits, "max_text")
    count = limits.count
    values, _ = template_values(entry, only_for=options.template)
    if options.neutralize_mentions:  # X notifies every @name and ＠name in a post
        for name in FEED_TEXT_FIELDS:
            values[name] = neutralize_x_mentions(values[name])
    fitted = fit_template(
        options.template,
        values,
        count=count,
        limit=limit,
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
    total = count(text)
    link = _weight_in(options.template, "url", entry.link, count)
    # X links a URL on a domain (23, whatever its length), never one on an IP address or a
    # bare host name: that one is plain text and weighs its characters.
    linked = bool(find_urls(entry.link))
    parts = {
        "title": _weight_in(options.template, "title", fitted["title"], count),
        "summary": _weight_in(options.template, "summary", fitted["summary"], count),
        "link" if linked else "unlinked url": link,
        "tags": _weight_in(options.template, "hashtags", fitted["hashtags"], count),
    }
    return Rendered(
        post=Post(
            text=text,
            link=entry.link,
            title=fitted["title"],
            tags=tuple(tags),
            image=image_for(entry, limits, wanted=options.image),
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


def describe_twitter(post: Post, limits: Limits) -> Description:
    """An X post as people read it: its text and image, and its weighted length
    (``51/280 weighted characters``)."""
    length = measure(post, limits)
    lines = [Line(label="text", value=post.text, kind="block")]
    if post.image:
        lines.append(image_line(post.image))
    text = length["text"]
    budget = f"{text['used']}/{text['limit']} {text['counting']} characters"
    return Description(lines=tuple(lines), length=length, budget=budget)
