"""Tumblr's post: a text block (the opening paragraphs), a link block with the title, native
tags, the entry's image and a stable slug."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from adapters.api import (
    Description,
    Entry,
    Limits,
    Line,
    Post,
    Rendered,
    cut_to,
    fill,
    image_for,
    image_line,
    measure,
    nothing_to_post,
    plain_tags,
    required_limit,
    slug_for,
    template_values,
    truncate_chars,
)

DESCRIPTION_CHARS = 300
SUMMARY_CHARS = 1000


@dataclass(frozen=True, kw_only=True)
class TumblrOptions:
    """How one Tumblr target wants its posts, from its settings (``SPEC.options``)."""

    template: str
    tags_from_labels: bool = True
    extra_tags: Sequence[str] = ()  # the target's own tags, after the labels
    image: bool = True


def render_tumblr(entry: Entry, options: TumblrOptions, limits: Limits) -> Rendered:
    values, paragraphs = template_values(entry)
    max_text = required_limit(limits, "max_text")
    # A Tumblr text block shows paragraphs and list lines as the blog had them; a
    # full-text feed gives its opening paragraphs, not the whole article.
    opening = _opening(paragraphs)
    template = options.template
    title = values["title"] if entry.title else ""
    if not entry.link and "{title}" not in template and title and not opening.startswith(title):
        # No link block to carry the title: the text opens with it (unless it does already).
        template = "{title}\n\n" + template
    text = truncate_chars(fill(template, {**values, "summary": opening}), max_text)
    # The link card repeats the summary only when the text block does not show it already.
    description = "" if "{summary}" in options.template or not entry.link else values["summary"]
    tags = plain_tags(
        entry.labels if options.tags_from_labels else (),
        options.extra_tags,
        max_count=limits.max_tags,
        max_length=limits.max_tag_length,
    )
    post = Post(
        text=text,
        link=entry.link,
        title=cut_to(values["title"], limits.max_title),
        description=truncate_chars(description, DESCRIPTION_CHARS),
        tags=tuple(tags),
        image=image_for(entry, limits, wanted=options.image),
        slug=slug_for(entry, values["title"]),
    )
    return Rendered(
        post=post,
        length=len(text),
        limit=max_text,
        budget=f"text {len(text)}/{max_text}, {len(tags)} {'tag' if len(tags) == 1 else 'tags'}",
        skip_reason=None if text.strip() or entry.link else nothing_to_post("text"),
    )


def _opening(text: str, limit: int = SUMMARY_CHARS) -> str:
    """Whole paragraphs up to ``limit`` characters (the first one cut if it is longer)."""
    if len(text) <= limit:
        return text
    kept: list[str] = []
    for paragraph in text.split("\n\n"):
        if len("\n\n".join([*kept, paragraph])) > limit:
            break
        kept.append(paragraph)
    if not kept:
        return truncate_chars(text.split("\n\n")[0], limit)
    return "\n\n".join(kept).rstrip(" ,;:-–—") + "…"


def describe_tumblr(post: Post, limits: Limits) -> Description:
    """A Tumblr post as people read it: its text block, its link block (or that it has
    none), its tags and image, and the text's length (``text 120/4096``)."""
    length = measure(post, limits)
    lines = [Line(label="text", value=post.text, kind="block")]
    if post.link:
        lines.append(Line(label="link block", value=f"{post.link} ({post.title})"))
    else:
        lines.append(Line(label="note", value="(text only: the entry has no link)", kind="note"))
    if post.tags:
        lines.append(Line(label="tags", value=", ".join(post.tags)))
    if post.image:
        lines.append(image_line(post.image))
    text = length["text"]
    budget = f"text {text['used']}/{text['limit']}"
    return Description(lines=tuple(lines), length=length, budget=budget)
