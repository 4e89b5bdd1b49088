"""Bluesky's post: a text of at most 300 graphemes and 3,000 UTF-8 bytes (the limits of
``app.bsky.feed.post#text`` in the lexicon), whose link and hashtags are made clickable with
facets, and a link card (``app.bsky.embed.external``) built from the entry.

The text is filled from the target's template; the title, then the summary, are cut on word
boundaries (never the link) until both counts fit, then hashtags are added while they fit.
Facets index the text in **UTF-8 bytes** (``app.bsky.richtext.facet#byteSlice``): ``facets``
finds them in the rendered text when the post is sent, so a stored post (``Post``) needs no
field of its own for them.

The record key (``rkey``) is chosen here, once: a TID (``tid_now``) carried in ``Post.slug``,
the field a platform uses for its own stable key. The rendered post is stored on the delivery
when it is queued, so every re-send of that delivery uses the same key, and the PDS cannot
create a second record under it (see ``adapters.bluesky.client``). ``post --force``
re-renders, and so gets a new key: a new post, as asked.
"""

from __future__ import annotations

import math
import random
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from adapters.api import (
    Description,
    Entry,
    Limits,
    Line,
    Post,
    Rendered,
    Scale,
    cut_to,
    explain_budget,
    fill,
    find_urls,
    fit_template,
    graphemes,
    image_for,
    image_line,
    measure,
    nothing_to_post,
    required_limit,
    select_hashtags,
    template_values,
    truncate,
    truncate_chars,
)

MAX_GRAPHEMES = 300  # app.bsky.feed.post#text maxGraphemes
MAX_BYTES = 3000  # app.bsky.feed.post#text maxLength (UTF-8 bytes)
MAX_LANGS = 3  # app.bsky.feed.post#langs maxLength
MAX_TAG_GRAPHEMES = 64  # app.bsky.richtext.facet#tag maxGraphemes (without the "#")
MAX_TAG_BYTES = 640  # ... and maxLength
# The card's title and description have no limit in the lexicon; Bluesky shows two lines of
# the title and three of the description.
MAX_CARD_TITLE = 300
MAX_CARD_DESCRIPTION = 300

# A cluster holds at most this many code points in a text that fits (for ``truncate``'s
# scan window; longer clusters only make the cut shorter, never wrong).
_CODE_POINTS_PER_GRAPHEME = 32


def grapheme_count(text: str) -> int:
    """The text's length as Bluesky counts it: extended grapheme clusters."""
    return len(graphemes(text))


def utf8_length(text: str) -> int:
    return len(text.encode("utf-8"))


def _first_code_points(text: str, urls: Sequence[tuple[int, int]]) -> bytearray:
    weights = bytearray(len(text))
    position = 0
    for cluster in graphemes(text):
        weights[position] = 1
        position += len(cluster)
    return weights


GRAPHEMES = Scale(
    grapheme_count,
    lambda text, urls: grapheme_count(text),
    _first_code_points,
    _CODE_POINTS_PER_GRAPHEME,
)
UTF8_BYTES = Scale(
    utf8_length,
    lambda text, urls: utf8_length(text),
    lambda text, urls: bytearray(len(ch.encode("utf-8")) for ch in text),
    1,
)


def truncate_graphemes(text: str, budget: int) -> str:
    """``text`` cut to at most ``budget`` graphemes on a word boundary, with ``…``; a URL is
    kept whole or dropped."""
    return truncate(text, budget, GRAPHEMES)


def bluesky_weight(text: str) -> int:
    """One number for both limits: the graphemes, or a tenth of the UTF-8 bytes (rounded
    up) when that is more, so that ``<= 300`` means both fit."""
    return max(grapheme_count(text), math.ceil(utf8_length(text) * MAX_GRAPHEMES / MAX_BYTES))


def truncate_bluesky(text: str, budget: int) -> str:
    """``text`` cut so that ``bluesky_weight`` stays within ``budget``: by graphemes, then
    by bytes when the clusters are heavy (emoji sequences, combining marks)."""
    cut = truncate(text, budget, GRAPHEMES)
    byte_budget = budget * MAX_BYTES // MAX_GRAPHEMES
    if utf8_length(cut) > byte_budget:
        cut = truncate(cut, byte_budget, UTF8_BYTES)
    return cut


def fits(text: str) -> bool:
    """True when ``text`` is within both of Bluesky's limits."""
    return grapheme_count(text) <= MAX_GRAPHEMES and utf8_length(text) <= MAX_BYTES


# -- the record key --------------------------------------------------------------------------
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"  # base32-sortable
_TID_RE = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")
_tid_lock = threading.Lock()
_last_tid_us = 0
_CLOCK_ID = random.SystemRandom().randrange(1024)


def tid_for(microseconds: int, clock_id: int) -> str:
    """The TID of a moment (microseconds since the epoch, 53 bits) and a clock id (10
    bits): 13 base32-sortable characters, the syntax ``app.bsky.feed.post`` keys have."""
    value = ((microseconds & ((1 << 53) - 1)) << 10) | (clock_id & 0x3FF)
    return "".join(_TID_ALPHABET[(value >> shift) & 31] for shift in range(60, -1, -5))


def tid_now() -> str:
    """A new TID: now, never twice the same in this process, with this process's clock id."""
    global _last_tid_us
    with _tid_lock:
        now = max(time.time_ns() // 1000, _last_tid_us + 1)
        _last_tid_us = now
    return tid_for(now, _CLOCK_ID)


def is_tid(text: str) -> bool:
    return bool(_TID_RE.fullmatch(text))


# -- facets ---------------------------------------------------------------------------------
class Facet(NamedTuple):
    """One facet: a UTF-8 byte range of the text and what it is (``link`` with its URI, or
    ``tag`` with the tag, without its ``#``)."""

    byte_start: int
    byte_end: int
    kind: str  # "link" or "tag"
    value: str


def _byte_offsets(text: str) -> list[int]:
    offsets = [0]
    for ch in text:
        offsets.append(offsets[-1] + len(ch.encode("utf-8")))
    return offsets


def _free(taken: list[tuple[int, int]], start: int, end: int) -> bool:
    return all(end <= s or start >= e for s, e in taken)


def facets(text: str, link: str = "", tags: Sequence[str] = ()) -> list[Facet]:
    """The facets of a rendered text: every occurrence of the entry's ``link`` (whole), every
    other web address written with its scheme, and every hashtag of ``tags`` written as a
    word (``#Tag`` after a space or at the start, not followed by a letter or digit); none
    overlapping, sorted by position, offsets in UTF-8 bytes."""
    offsets = _byte_offsets(text)
    found: list[tuple[int, int, str, str]] = []
    taken: list[tuple[int, int]] = []
    if link:
        start = text.find(link)
        while start >= 0:
            end = start + len(link)
            found.append((start, end, "link", link))
            taken.append((start, end))
            start = text.find(link, end)
    for start, end in find_urls(text):
        url = text[start:end]
        if url.lower().startswith(("http://", "https://")) and _free(taken, start, end):
            found.append((start, end, "link", url))
            taken.append((start, end))
    for tag in dict.fromkeys(tags):
        body = tag.removeprefix("#")
        if not body or not tag_fits(body):
            continue
        pattern = re.compile(r"(?<!\S)#" + re.escape(body) + r"(?![\w])")
        for match in pattern.finditer(text):
            start, end = match.span()
            if _free(taken, start, end):
                found.append((start, end, "tag", body))
                taken.append((start, end))
    return [
        Facet(offsets[start], offsets[end], kind, value)
        for start, end, kind, value in sorted(found)
    ]


def tag_fits(body: str) -> bool:
    """A hashtag (without ``#``) that a ``#tag`` facet can carry."""
    return grapheme_count(body) <= MAX_TAG_GRAPHEMES and utf8_length(body) <= MAX_TAG_BYTES


# -- the shape ------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class BlueskyOptions:
    """How one Bluesky target wants its posts, from its settings (``SPEC.options``)."""

    template: str
    max_hashtags: int = 3
    hashtags_allow: Sequence[str] | None = None
    hashtags_deny: Sequence[str] = ()
    hashtags_rename: Mapping[str, str] = field(default_factory=dict)
    image: bool = True


def render_bluesky(entry: Entry, options: BlueskyOptions, limits: Limits) -> Rendered:
    limit = min(required_limit(limits, "max_text"), MAX_GRAPHEMES)
    values, _ = template_values(entry)
    hashtags = select_hashtags(
        entry.labels,
        max_count=options.max_hashtags,
        allow=options.hashtags_allow,
        deny=options.hashtags_deny,
        rename=options.hashtags_rename,
    )
    fitted = fit_template(
        options.template,
        values,
        count=bluesky_weight,
        limit=limit,
        truncate=truncate_bluesky,
        hashtags=[tag for tag in hashtags if tag_fits(tag.removeprefix("#"))],
    )
    tags = fitted["hashtags"].split()
    text = fill(options.template, fitted)
    total = grapheme_count(text)
    skip = None
    if not text.strip() and not entry.link:
        skip = nothing_to_post("text")
    elif not fits(text):
        # Only the template's own text and the link are never cut: a link this long
        # cannot be posted whole.
        skip = (
            f"the text cannot fit Bluesky's {MAX_GRAPHEMES} graphemes and {MAX_BYTES:,} bytes"
            " without cutting the link"
        )
    parts = {
        "title": _weight_in(options.template, "title", fitted["title"]),
        "summary": _weight_in(options.template, "summary", fitted["summary"]),
        "link": grapheme_count(entry.link) if "{url}" in options.template else 0,
        "tags": _weight_in(options.template, "hashtags", fitted["hashtags"]),
    }
    post = Post(
        text=text,
        link=entry.link,
        title=cut_to(values["title"], min(limits.max_title or MAX_CARD_TITLE, MAX_CARD_TITLE)),
        description=truncate_chars(values["summary"], MAX_CARD_DESCRIPTION),
        tags=tuple(tags),
        image=image_for(entry, limits, wanted=options.image),
        # The record key, fixed for every re-send of this delivery (module docstring).
        slug=tid_now(),
    )
    budget = (
        explain_budget(parts, total, limit) + f" graphemes, {utf8_length(text)}/{MAX_BYTES} bytes"
    )
    return Rendered(post=post, length=total, limit=limit, budget=budget, skip_reason=skip)


def _weight_in(template: str, name: str, value: str) -> int:
    if "{" + name + "}" not in template or not value:
        return 0
    return grapheme_count(value)


def describe_bluesky(post: Post, limits: Limits) -> Description:
    """A Bluesky post as people read it: its text (and which parts are clickable), its link
    card, its record key, and its length (``text 120/300 graphemes, 140/3000 bytes``)."""
    length = measure(post, limits)
    lines = [Line(label="text", value=post.text, kind="block")]
    clickable = facets(post.text, post.link, post.tags)
    if clickable:
        shown = ", ".join(
            ("#" if f.kind == "tag" else "") + f.value + f" (bytes {f.byte_start}-{f.byte_end})"
            for f in clickable
        )
        lines.append(Line(label="facets", value=shown))
    if post.link:
        lines.append(Line(label="link card", value=f"{post.link} ({post.title})"))
        if post.description:
            lines.append(Line(label="card text", value=post.description))
    else:
        lines.append(Line(label="note", value="(no link card: the entry has no link)", kind="note"))
    if post.image and post.link:
        lines.append(image_line(post.image))
    if post.slug:
        lines.append(Line(label="record key", value=post.slug))
    text = length["text"]
    budget = (
        f"text {text['used']}/{text['limit']} graphemes, {utf8_length(post.text)}/{MAX_BYTES} bytes"
    )
    return Description(lines=tuple(lines), length=length, budget=budget)
