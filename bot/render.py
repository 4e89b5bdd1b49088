"""Turn an entry into the post each platform expects, within that platform's limits.

Templates are filled with plain ``str.format`` over known fields only (validated at config
load), so feed text is never itself treated as a template. Limits come from the adapter as
data (``bot.model.Limits``) and are enforced here, once: an adapter receives a post that fits.

On X the budget goes to the title first, then the summary, then hashtags (added one by one
while they fit); the template's own text and the link are never cut.

A post that should not go out at all carries a ``skip_reason`` (``Rendered.skip_reason``):
an empty entry (no title, no text, no link), a post the template leaves empty, an entry
without a link on a Reddit target with ``no_link = "skip"``. The planner records such a
delivery as ``skipped`` with that reason.

Feed text is not trusted. :func:`render` cleans an entry's text once, on its way in, of bidi
controls and invisible characters (``bot.unicodetext``): title, labels, author, feed title,
image alt text, and the text and Markdown made from its HTML. Then, where the target has
``neutralize_mentions`` (the default), mentions are neutralised (``bot.mentions``): X's
``@name``/``＠name`` in every field of the text, Reddit's ``u/name`` in a self post's body.
Cleaning happens here, at render time, not when a feed is parsed: an entry is stored as the
feed wrote it, so its key (a content hash for entries without id or link) and its edit hash
stay what they were, entries stored before this cleaning existed are cleaned too when they
are rendered, and the cleaning of HTML can only be done on the text made from it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace

from bot.hashtags import plain_tags, select_hashtags
from bot.htmltext import excerpt, html_to_markdown, html_to_text
from bot.mentions import neutralize_reddit_mentions, neutralize_x_mentions
from bot.model import Entry, Image, Limits, Post
from bot.textcut import truncate_chars
from bot.unicodetext import clean_text

UNTITLED_EXCERPT_CHARS = 80
SLUG_WORDS_CHARS = 60
_SENTENCE_ENDS = ".!?…。！？\"'”’)"
TUMBLR_DESCRIPTION_CHARS = 300
TUMBLR_SUMMARY_CHARS = 1000
# The fields of feed text that may hold a mention (the others are the link and hashtags).
_TEXT_FIELDS = ("title", "summary", "feed_title", "author")


Shape = Callable[["Entry", "Style", Limits], "Rendered"]


@dataclass(frozen=True, kw_only=True)
class Style:
    """How one target wants its posts: templates and options, taken from its config by its
    platform's spec, which also picks the ``shape`` (``render_twitter``, ``render_reddit``,
    ``render_tumblr``, or a new platform's own)."""

    platform: str
    shape: Shape
    template: str
    body_template: str = ""
    kind: str = "link"
    max_hashtags: int = 3
    hashtags_allow: Sequence[str] | None = None
    hashtags_deny: Sequence[str] = ()
    hashtags_rename: Mapping[str, str] = field(default_factory=dict)
    # Mentions from the feed cannot notify anybody (X: @name, ＠name; Reddit: u/name in a self
    # post's body). Bidi and invisible characters are removed whatever this says.
    neutralize_mentions: bool = True
    tags_from_labels: bool = True
    extra_tags: Sequence[str] = ()
    image: bool = True
    # Reddit link targets, for an entry without a link: "self" posts it as a self post,
    # "skip" records the delivery as skipped.
    no_link: str = "self"


@dataclass(frozen=True, kw_only=True)
class Rendered:
    """A post and how its length was spent, for ``preview`` and dry runs."""

    post: Post
    length: int
    limit: int | None
    budget: str
    # Why this post must not go out (it is recorded as a skipped delivery); None if it may.
    skip_reason: str | None = None


EMPTY_ENTRY = "empty entry: no title, no text and no link"


def render(entry: Entry, style: Style, limits: Limits) -> Rendered:
    """``entry`` as a post in ``style``'s shape, within ``limits``; an empty entry's post
    has a ``skip_reason`` whatever the shape made of it.

    The shape gets the entry with its text cleaned (:func:`clean_entry`).
    """
    entry = clean_entry(entry)
    rendered = style.shape(entry, style, limits)
    if not entry.title.strip() and not entry.link and not summary_paragraphs(entry).strip():
        return replace(rendered, skip_reason=EMPTY_ENTRY)
    return rendered


def clean_entry(entry: Entry) -> Entry:
    """``entry`` with its plain-text fields cleaned of bidi controls and invisible characters
    (``bot.unicodetext.clean_text``); its HTML is cleaned once made text
    (:func:`summary_paragraphs`, and a Reddit self post's Markdown). The link and the image
    URLs are left as they are."""
    images = tuple(replace(image, alt=clean_text(image.alt)) for image in entry.images)
    return replace(
        entry,
        title=clean_text(entry.title),
        labels=tuple(clean_text(label) for label in entry.labels),
        author=clean_text(entry.author),
        feed_title=clean_text(entry.feed_title),
        images=images,
    )


def _empty_post(what: str) -> str:
    return f"nothing to post: the {what} came out empty"


def measure(post: Post, limits: Limits) -> dict[str, dict[str, int | str]]:
    """How much of each limited part of ``post`` is used: ``{"text": {"used": 51, "limit":
    280, "counting": "weighted"}, ...}``. The text is counted with ``limits.count`` (named
    ``limits.counting``), titles and bodies in code points (``"chars"``)."""
    parts: dict[str, dict[str, int | str]] = {}
    for name, limit in (
        ("text", limits.max_text),
        ("title", limits.max_title),
        ("body", limits.max_body),
    ):
        if limit is None:
            continue
        value: str = getattr(post, name)
        text = name == "text"
        parts[name] = {
            "used": limits.count(value) if text else len(value),
            "limit": limit,
            "counting": limits.counting if text else "chars",
        }
    return parts


def entry_title(entry: Entry) -> str:
    """The entry's title, or a short excerpt of its text when it has none."""
    return entry.title or _stand_in_title(_one_line(summary_paragraphs(entry)))


def _stand_in_title(summary: str) -> str:
    return excerpt(summary, UNTITLED_EXCERPT_CHARS)


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def summary_paragraphs(entry: Entry) -> str:
    """The entry's summary (or content) as plain text with its paragraphs and list lines.

    Feeds often cut the summary off mid-sentence (Ghost: 50 words, WordPress: 55); when the
    summary is such a cut of the content, it gets the ellipsis the feed left out. The text is
    cleaned of bidi controls and invisible characters (``bot.unicodetext``).
    """
    text = clean_text(html_to_text(entry.summary_html or entry.content_html))
    if entry.summary_html and entry.content_html and text and text[-1] not in _SENTENCE_ENDS:
        flat = re.sub(r"\s+", " ", text).strip()
        content = re.sub(r"\s+", " ", clean_text(html_to_text(entry.content_html))).strip()
        if len(content) > len(flat) and content.startswith(flat):
            text = text.rstrip(" ,;:-–—") + "…"
    return text


def slug_for(entry: Entry, title: str | None = None) -> str:
    """A stable slug: the title's first words plus a hash of the entry's identity.

    ``title`` is the entry's title as rendered, when the caller has it already.
    """
    title = re.sub(r"(?<=\d),(?=\d)|['’]", "", entry_title(entry) if title is None else title)
    ascii_title = unicodedata.normalize("NFKD", title).encode("ascii", "ignore").decode()
    words = re.sub(r"[^a-z0-9]+", "-", ascii_title.lower()).strip("-")
    if len(words) > SLUG_WORDS_CHARS:
        words = words[: SLUG_WORDS_CHARS + 1].rsplit("-", 1)[0]
    digest = hashlib.sha256(f"{entry.feed}\0{entry.key}".encode()).hexdigest()[:10]
    return f"{words}-{digest}" if words else digest


def fill(template: str, values: Mapping[str, str]) -> str:
    """Fill a validated template and tidy the gaps that empty fields leave."""
    text = template.format_map(values)
    text = re.sub(r"[ \t]+", " ", text)
    text = re.sub(r" *\n *", "\n", text)
    text = re.sub(r"\n{3,}", "\n\n", text)
    return unicodedata.normalize("NFC", text.strip())


def _base_values(entry: Entry) -> tuple[dict[str, str], str]:
    """The template's fields, and the summary with its paragraphs kept (Tumblr shows them).

    The entry's HTML is turned into text once here: that is the costly part of rendering.
    """
    paragraphs = unicodedata.normalize("NFC", summary_paragraphs(entry))
    summary = _one_line(paragraphs)
    values = {
        "title": entry.title or _stand_in_title(summary),
        "url": entry.link,
        "summary": summary,
        "hashtags": "",
        "feed_title": entry.feed_title,
        "author": entry.author,
    }
    return {k: unicodedata.normalize("NFC", v) for k, v in values.items()}, paragraphs


def _image(entry: Entry, style: Style, limits: Limits) -> Image | None:
    if style.image and limits.max_media and entry.images:
        return entry.images[0]
    return None


def render_twitter(entry: Entry, style: Style, limits: Limits) -> Rendered:
    limit = _required(limits.max_text, "max_text")
    count = limits.count
    values, _ = _base_values(entry)
    if style.neutralize_mentions:  # X notifies every @name and ＠name in a post
        for name in _TEXT_FIELDS:
            values[name] = neutralize_x_mentions(values[name])
    fitted = dict(values, title="", summary="")

    def length(candidate: Mapping[str, str]) -> int:
        return count(fill(style.template, candidate))

    for name in ("title", "summary"):

        def measure(value: str, name: str = name) -> int:
            return length({**fitted, name: value})

        fitted[name] = fit(values[name], measure, limit, truncator(limits))
    tags: list[str] = []
    for tag in select_hashtags(
        entry.labels,
        max_count=style.max_hashtags,
        allow=style.hashtags_allow,
        deny=style.hashtags_deny,
        rename=style.hashtags_rename,
    ):
        if length({**fitted, "hashtags": " ".join([*tags, tag])}) <= limit:
            tags.append(tag)
    fitted["hashtags"] = " ".join(tags)
    text = fill(style.template, fitted)
    total = count(text)
    parts = {
        "title": _weight_in(style.template, "title", fitted["title"], count),
        "summary": _weight_in(style.template, "summary", fitted["summary"], count),
        "link": 23 if "{url}" in style.template and entry.link else 0,
        "tags": _weight_in(style.template, "hashtags", fitted["hashtags"], count),
    }
    return Rendered(
        post=Post(
            text=text,
            link=entry.link,
            title=fitted["title"],
            tags=tuple(tags),
            image=_image(entry, style, limits),
        ),
        length=total,
        limit=limit,
        budget=_explain(parts, total, limit),
        skip_reason=None if text.strip() else _empty_post("text"),
    )


def fit(
    value: str,
    measure: Callable[[str], int],
    limit: int,
    truncate: Callable[[str, int], str] = truncate_chars,
) -> str:
    """The longest cut of ``value`` (whole if it fits) for which ``measure`` stays in limit.

    ``measure`` weighs a candidate in place (the whole post with ``value`` in it); each cut
    is made by ``truncate`` to a budget, which shrinks by what the cut still weighs too much
    until it fits, so any count and any cut work together.
    """
    if not value or measure(value) <= limit:
        return value
    budget = limit - measure("")
    while budget > 0:
        cut = truncate(value, budget)
        if not cut:
            return ""
        overshoot = measure(cut) - limit
        if overshoot <= 0:
            return cut
        budget -= overshoot  # the field weighs differently in place (a URL formed, say)
    return ""


def truncator(limits: Limits) -> Callable[[str, int], str]:
    """How to cut a text to a budget under ``limits.count`` (by code points if not said)."""
    return limits.truncate or truncate_chars


def cut_to(text: str, limit: int | None) -> str:
    """``text`` cut to ``limit`` code points (a title, a body); as it is for ``None``."""
    return text if limit is None else truncate_chars(text, limit)


def _required(limit: int | None, name: str) -> int:
    if limit is None:
        raise ValueError(f"this shape needs Limits.{name}")
    return limit


def _weight_in(template: str, name: str, value: str, count: Callable[[str], int]) -> int:
    if "{" + name + "}" not in template or not value:
        return 0
    return count(value)


def _explain(parts: Mapping[str, int], total: int, limit: int) -> str:
    shown = [f"{name} {weight}" for name, weight in parts.items() if weight]
    other = total - sum(parts.values())
    if other > 0:
        shown.append(f"other {other}")
    return " + ".join(shown or ["0"]) + f" = {total}/{limit}"


def render_reddit(entry: Entry, style: Style, limits: Limits) -> Rendered:
    """A link post, or a self post (``kind = "self"``, or an entry without a link when
    ``no_link = "self"``); the title falls back to the link when the template gives none.

    With ``neutralize_mentions``, ``u/name`` in a self post's body cannot notify anybody.
    The title is left as written: Reddit shows a title as plain text and links nothing in it
    (its Markdown, where ``u/name`` links and notifies, is the body's), and a self post is
    found again after an unknown outcome by its exact title, which an invisible character
    could make differ from what Reddit keeps.
    """
    values, _ = _base_values(entry)
    max_title = _required(limits.max_title, "max_title")
    title = fill(style.template, values).replace("\n", " ")
    title = truncate_chars(title, max_title) or truncate_chars(entry.link, max_title)
    kind = style.kind
    skip_reason = None if title.strip() else _empty_post("title")
    if kind == "link" and not entry.link:
        kind = "self"  # Reddit refuses a link post without a URL
        if style.no_link == "skip" and skip_reason is None:
            skip_reason = 'the entry has no link, and this target has no_link = "skip"'
    body = ""
    if kind == "self":
        markdown = html_to_markdown(entry.content_html or entry.summary_html, entry.link)
        body_values = {**values, "summary": clean_text(markdown)}
        if style.neutralize_mentions:
            for name in _TEXT_FIELDS:
                body_values[name] = neutralize_reddit_mentions(body_values[name])
        body = fill(style.body_template, body_values)
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


def render_tumblr(entry: Entry, style: Style, limits: Limits) -> Rendered:
    values, paragraphs = _base_values(entry)
    max_text = _required(limits.max_text, "max_text")
    # A Tumblr text block shows paragraphs and list lines as the blog had them; a
    # full-text feed gives its opening paragraphs, not the whole article.
    opening = _opening(paragraphs)
    template = style.template
    title = values["title"] if entry.title else ""
    if not entry.link and "{title}" not in template and title and not opening.startswith(title):
        # No link block to carry the title: the text opens with it (unless it does already).
        template = "{title}\n\n" + template
    text = truncate_chars(fill(template, {**values, "summary": opening}), max_text)
    # The link card repeats the summary only when the text block does not show it already.
    description = "" if "{summary}" in style.template or not entry.link else values["summary"]
    tags = plain_tags(
        entry.labels if style.tags_from_labels else (),
        style.extra_tags,
        max_count=limits.max_tags,
        max_length=limits.max_tag_length,
    )
    post = Post(
        text=text,
        link=entry.link,
        title=cut_to(values["title"], limits.max_title),
        description=truncate_chars(description, TUMBLR_DESCRIPTION_CHARS),
        tags=tuple(tags),
        image=_image(entry, style, limits),
        slug=slug_for(entry, values["title"]),
    )
    return Rendered(
        post=post,
        length=len(text),
        limit=max_text,
        budget=f"text {len(text)}/{max_text}, {len(tags)} tags",
        skip_reason=None if text.strip() or entry.link else _empty_post("text"),
    )


def _opening(text: str, limit: int = TUMBLR_SUMMARY_CHARS) -> str:
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
