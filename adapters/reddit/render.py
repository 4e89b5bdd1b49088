"""Reddit's post: a link post (a title and the link), or a self post (a title and a body in
Markdown)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from adapters.api import (
    FEED_TEXT_FIELDS,
    Description,
    Entry,
    Limits,
    Line,
    Post,
    Rendered,
    clean_text,
    cut_to,
    fill,
    html_to_markdown,
    image_line,
    measure,
    nothing_to_post,
    required_limit,
    template_values,
    truncate_chars,
)
from adapters.reddit.mentions import neutralize_reddit_mentions


@dataclass(frozen=True, kw_only=True)
class RedditOptions:
    """How one Reddit target wants its posts, from its settings (``SPEC.options``)."""

    template: str  # the title's
    body_template: str = ""  # a self post's body
    kind: Literal["link", "self"] = "link"
    # For an entry without a link, on a link target: "self" posts it as a self post, "skip"
    # records the delivery as skipped.
    no_link: Literal["self", "skip"] = "self"
    # "u/name" and "/u/name" from the feed, in a self post's body, cannot notify anybody.
    neutralize_mentions: bool = True


def render_reddit(entry: Entry, options: RedditOptions, limits: Limits) -> Rendered:
    """A link post, or a self post (``kind = "self"``, or an entry without a link when
    ``no_link = "self"``); the title falls back to the link when the template gives none.

    With ``neutralize_mentions``, ``u/name`` in a self post's body cannot notify anybody.
    The title is left as written: Reddit shows a title as plain text and links nothing in it
    (its Markdown, where ``u/name`` links and notifies, is the body's), and a self post is
    found again after an unknown outcome by its exact title, which an invisible character
    could make differ from what Reddit keeps.
    """
    values, _ = template_values(entry, only_for=options.template)
    max_title = required_limit(limits, "max_title")
    title = fill(options.template, values).replace("\n", " ")
    title = truncate_chars(title, max_title) or truncate_chars(entry.link, max_title)
    kind = options.kind
    skip_reason = None if title.strip() else nothing_to_post("title")
    if kind == "link" and not entry.link:
        kind = "self"  # Reddit refuses a link post without a URL
        if options.no_link == "skip" and skip_reason is None:
            skip_reason = 'the entry has no link, and this target has no_link = "skip"'
    body = ""
    if kind == "self":
        markdown = html_to_markdown(entry.content_html or entry.summary_html, entry.link)
        body_values = {**values, "summary": clean_text(markdown)}
        if options.neutralize_mentions:
            for name in FEED_TEXT_FIELDS:
                body_values[name] = neutralize_reddit_mentions(body_values[name])
        body = fill(options.body_template, body_values)
        body = cut_to(body, limits.max_body)
    post = Post(title=title, link=entry.link if kind == "link" else "", body=body)
    return Rendered(
        post=post,
        length=len(title),
        limit=max_title,
        budget=f"title {len(title)}/{max_title}"
        + (f", body {len(body)}/{limits.max_body}" if body else ""),
        skip_reason=skip_reason,
    )


def describe_reddit(post: Post, limits: Limits) -> Description:
    """A Reddit post as people read it: its title, then its link (a link post) or its body
    (a self post), and the title's length (``title 42/300``)."""
    length = measure(post, limits)
    lines = [Line(label="title", value=post.title)]
    if post.link:
        lines.append(Line(label="link", value=post.link))
    else:
        lines.append(Line(label="body", value=post.body, kind="block"))
    if post.image:
        lines.append(image_line(post.image))
    title = length["title"]
    budget = f"title {title['used']}/{title['limit']}"
    return Description(lines=tuple(lines), length=length, budget=budget, align=True)
