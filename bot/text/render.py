"""The render toolkit: what a platform's shape uses to make its post from an entry.

Each platform's shape (``adapters/<platform>/render.py``) turns an entry into the post that
platform expects, from the target's options and the platform's ``Limits``; :func:`render` is
the one entry point the core calls, through the platform's spec. Limits are data
(``bot.model.Limits``, with the platform's own counting) and every shape keeps them with the
tools here (:func:`fit`, :func:`cut_to`, :func:`measure`): an adapter receives a post that
fits.

Templates are filled with plain ``str.format`` over known fields only (validated at config
load: :func:`template_values`, :func:`fill`), so feed text is never itself treated as a
template.

What a post is, as ``preview`` and dry runs show it, is the platform's to say too
(``PlatformSpec.describe``): a :class:`Description`, its parts as labelled lines
(:class:`Line`) and its length against the limits (:func:`measure`); :func:`describe_post`
describes any post by its parts.

A post that should not go out at all carries a ``skip_reason`` (``Rendered.skip_reason``): an
empty entry (no title, no text, no link: :func:`render` decides it for every platform), or
what the shape says (a post the template leaves empty: :func:`nothing_to_post`; an entry the
target cannot take). The planner records such a delivery as ``skipped`` with that reason.

Feed text is not trusted. :func:`render` cleans an entry's text once, on its way in, of bidi
controls and invisible characters (``bot.text.clean``): title, labels, author, feed title,
image alt text, and the text made from its HTML (:func:`summary_paragraphs`; a shape that
makes Markdown cleans it with ``clean_text``). A shape then neutralises the mentions its
platform would notify (``FEED_TEXT_FIELDS``), where the target asks for it. Cleaning happens
here, at render time, not when a feed is parsed: an entry is stored as the feed wrote it, so
its key (a content hash for entries without id or link) and its edit hash stay what they
were, entries stored before this cleaning existed are cleaned too when they are rendered, and
the cleaning of HTML can only be done on the text made from it.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal, TypeVar

from bot.model import Entry, Image, Limits, Post
from bot.text.clean import clean_text
from bot.text.cut import truncate_chars

__all__ = [
    "EMPTY_ENTRY",
    "FEED_TEXT_FIELDS",
    "Description",
    "Line",
    "Rendered",
    "Shape",
    "budget_of",
    "clean_entry",
    "cut_to",
    "describe_post",
    "entry_title",
    "explain_budget",
    "fill",
    "fit",
    "fit_template",
    "image_for",
    "image_line",
    "measure",
    "nothing_to_post",
    "render",
    "required_limit",
    "slug_for",
    "summary_paragraphs",
    "template_values",
    "truncator",
]

UNTITLED_EXCERPT_CHARS = 80
SLUG_WORDS_CHARS = 60
_SENTENCE_ENDS = ".!?…。！？\"'”’)"
# The template fields that hold feed text, where a mention may hide (the others are the link
# and the hashtags).
FEED_TEXT_FIELDS = ("title", "summary", "feed_title", "author")
EMPTY_ENTRY = "empty entry: no title, no text and no link"

Options = TypeVar("Options")


@dataclass(frozen=True, kw_only=True)
class Rendered:
    """A post and how its length was spent, for ``preview`` and dry runs."""

    post: Post
    length: int
    limit: int | None
    budget: str
    # Why this post must not go out (it is recorded as a skipped delivery); None if it may.
    skip_reason: str | None = None


# A platform's shape: an entry (cleaned), the target's options, the platform's limits.
Shape = Callable[[Entry, Any, Limits], Rendered]


def render(
    entry: Entry,
    shape: Callable[[Entry, Options, Limits], Rendered],
    options: Options,
    limits: Limits,
) -> Rendered:
    """``entry`` as a post in ``shape`` with ``options``, within ``limits``; an empty entry's
    post has a ``skip_reason`` whatever the shape made of it.

    The shape gets the entry with its text cleaned (:func:`clean_entry`).
    """
    entry = clean_entry(entry)
    rendered = shape(entry, options, limits)
    if not entry.title.strip() and not entry.link and not summary_paragraphs(entry).strip():
        return replace(rendered, skip_reason=EMPTY_ENTRY)
    return rendered


def clean_entry(entry: Entry) -> Entry:
    """``entry`` with its plain-text fields cleaned of bidi controls and invisible characters
    (``bot.text.clean.clean_text``); its HTML is cleaned once made text
    (:func:`summary_paragraphs`; Markdown by the shape that makes it). The link and the image
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


def nothing_to_post(what: str) -> str:
    """The skip reason of a post whose ``what`` (``"text"``, ``"title"``) came out empty."""
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
    from bot.text.html import excerpt

    return excerpt(summary, UNTITLED_EXCERPT_CHARS)


def _one_line(text: str) -> str:
    return re.sub(r"\s+", " ", text).strip()


def summary_paragraphs(entry: Entry) -> str:
    """The entry's summary (or content) as plain text with its paragraphs and list lines.

    Feeds often cut the summary off mid-sentence (Ghost: 50 words, WordPress: 55); when the
    summary is such a cut of the content, it gets the ellipsis the feed left out. The text is
    cleaned of bidi controls and invisible characters (``bot.text.clean``).
    """
    from bot.text.html import html_to_text  # bs4: on the first rendering, not with a spec

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


def template_values(entry: Entry, *, only_for: str | None = None) -> tuple[dict[str, str], str]:
    """The template's fields (``title``, ``url``, ``summary`` on one line, ``hashtags``
    empty, ``feed_title``, ``author``), and the summary with its paragraphs kept.

    The entry's HTML is turned into text once here: that is the costly part of rendering.
    ``only_for``: the only template the values fill; where it names no ``{summary}`` and
    the entry has a title (else the summary stands in for it), the summary and paragraphs
    are left empty, and the HTML is not read at all.
    """
    shown = only_for is None or "{summary}" in only_for or not entry.title
    paragraphs = unicodedata.normalize("NFC", summary_paragraphs(entry)) if shown else ""
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


def image_for(entry: Entry, limits: Limits, *, wanted: bool = True) -> Image | None:
    """The entry's image for its post: the first, where the target wants images and the
    platform takes media."""
    if wanted and limits.max_media and entry.images:
        return entry.images[0]
    return None


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


def fit_template(
    template: str,
    values: Mapping[str, str],
    *,
    count: Callable[[str], int],
    limit: int,
    truncate: Callable[[str, int], str] = truncate_chars,
    hashtags: Sequence[str] = (),
) -> dict[str, str]:
    """The template's fields cut so that the filled template stays within ``limit`` under
    ``count``: the title first, then the summary, then ``hashtags`` one by one while they
    fit (the ``hashtags`` field, as kept). The template's own text and the link are never
    cut: the usual shape of a text post."""
    fitted = dict(values, title="", summary="", hashtags="")

    def length(candidate: Mapping[str, str]) -> int:
        return count(fill(template, candidate))

    for name in ("title", "summary"):

        def measure_in(value: str, name: str = name) -> int:
            return length({**fitted, name: value})

        fitted[name] = fit(values[name], measure_in, limit, truncate)
    kept: list[str] = []
    for tag in hashtags:
        if length({**fitted, "hashtags": " ".join([*kept, tag])}) <= limit:
            kept.append(tag)
    fitted["hashtags"] = " ".join(kept)
    return fitted


def required_limit(limits: Limits, name: str) -> int:
    """``limits.<name>`` (``"max_text"``), which a shape cannot do without: ``ValueError``
    when the platform declares none."""
    limit: int | None = getattr(limits, name)
    if limit is None:
        raise ValueError(f"this shape needs Limits.{name}")
    return limit


def explain_budget(parts: Mapping[str, int], total: int, limit: int) -> str:
    """How a post's length was spent: ``title 8 + link 23 + tags 18 + other 2 = 51/280``
    (the parts that weigh something, then what the template's own text weighs)."""
    shown = [f"{name} {weight}" for name, weight in parts.items() if weight]
    other = total - sum(parts.values())
    if other > 0:
        shown.append(f"other {other}")
    return " + ".join(shown or ["0"]) + f" = {total}/{limit}"


# -- what a post is, for people ------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Line:
    """One labelled part of a post, as people read it: ``text``, ``title``, ``link``,
    ``link block``, ``body``, ``tags``, ``image`` (with its alt text), ``note``."""

    label: str
    value: str
    # "field": the label, then the value; "block": the value's own lines, indented (a text,
    # a body); "note": the value alone, a remark about the post.
    kind: Literal["field", "block", "note"] = "field"


@dataclass(frozen=True, kw_only=True)
class Description:
    """What a post is, as ``preview``, ``run --dry-run`` and ``post --dry-run`` show it (in
    text, and ``length`` in their JSON): its parts, and its length against the limits."""

    lines: tuple[Line, ...]
    # measure(post, limits): each limited part's use of its limit, and how it is counted.
    length: dict[str, dict[str, int | str]]
    # The length in one line, as people read it ("text 300/500").
    budget: str
    # True: the values of the fields line up (labels padded to the longest).
    align: bool = False


def describe_post(post: Post, limits: Limits) -> Description:
    """``post`` by its parts (those it has: text, title, link, body, tags, image) and every
    limited part's use of its limit: what a platform shows when its spec says nothing more."""
    lines: list[Line] = []
    if post.text:
        lines.append(Line(label="text", value=post.text, kind="block"))
    if post.title:
        lines.append(Line(label="title", value=post.title))
    if post.link:
        lines.append(Line(label="link", value=post.link))
    if post.body:
        lines.append(Line(label="body", value=post.body, kind="block"))
    if post.tags:
        lines.append(Line(label="tags", value=", ".join(post.tags)))
    if post.image:
        lines.append(image_line(post.image))
    length = measure(post, limits)
    return Description(lines=tuple(lines), length=length, budget=budget_of(length))


def image_line(image: Image) -> Line:
    """The line of a post's image: its URL, and its alt text where it has one."""
    alt = f" (alt: {image.alt})" if image.alt else ""
    return Line(label="image", value=f"{image.url}{alt}")


def budget_of(length: Mapping[str, Mapping[str, int | str]]) -> str:
    """:func:`measure`'s result in one line: ``text 300/500, title 12/250``."""
    parts = [f"{name} {part['used']}/{part['limit']}" for name, part in length.items()]
    return ", ".join(parts) or "no limits"
