"""How Mastodon counts a status, cutting a text to that count, and feed mentions that
mention nobody.

Mastodon's ``StatusLengthValidator`` (app/validators/status_length_validator.rb) counts the
content warning and the text together, in grapheme clusters, after putting 23 ``x`` in place
of every URL *with its protocol* (``extract_urls_with_indices(str,
extract_url_without_protocol: false)``) and ``@name`` in place of ``@name@domain``. A bare
domain (``example.com``) counts its own length. The instance says what it reserves per URL
(``configuration.statuses.characters_reserved_per_url``, 23 on Mastodon; other servers may
say otherwise), so the count takes it as a parameter; the spec's ``Limits`` count with 23.

Mentions: Mastodon links and notifies ``@name`` and ``@name@domain`` where the ``@`` does not
follow a word character, ``=`` or ``/`` (``Account::MENTION_RE``). A mention from the feed
gets a word joiner (U+2060) after its ``@``: it reads the same and matches nothing. U+2060 is
one grapheme of its own, counted as such.
"""

from __future__ import annotations

import bisect
import unicodedata
from collections.abc import Sequence

import regex

from adapters.api import WORD_JOINER, Scale, find_urls, truncate

__all__ = [
    "MASTODON",
    "URL_WEIGHT",
    "neutralize_mastodon_mentions",
    "status_length",
    "truncate_status",
]

URL_WEIGHT = 23
_GRAPHEME = regex.compile(r"\X")
# A URL of 4096 + 8 code points weighs 23 (178 per unit); graphemes longer than that are
# pathological, and only make a cut shorter than it could be.
_CODE_POINTS_PER_UNIT = 180
_MENTION = regex.compile(r"(?<![=/\w])@(?=[A-Za-z0-9_])")


def _has_protocol(text: str, start: int) -> bool:
    return text[start : start + 8].lower().startswith(("http://", "https://"))


def _linked(text: str, urls: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """The URLs Mastodon counts as a fixed length: those written with their protocol."""
    return [(start, end) for start, end in urls if _has_protocol(text, start)]


def _graphemes(text: str) -> int:
    return len(_GRAPHEME.findall(text)) if not text.isascii() else len(text)


def _weigh(text: str, urls: Sequence[tuple[int, int]], url_weight: int = URL_WEIGHT) -> int:
    weight, position = 0, 0
    for start, end in _linked(text, urls):
        weight += _graphemes(text[position:start]) + url_weight
        position = end
    return weight + _graphemes(text[position:])


def status_length(text: str, *, url_weight: int = URL_WEIGHT) -> int:
    """What Mastodon counts for a status text (the content warning adds its graphemes)."""
    return _weigh(text, find_urls(text), url_weight)


def _unit_weights(text: str, urls: Sequence[tuple[int, int]]) -> bytearray:
    """Weights per code point that add up to ``_weigh``: a grapheme's 1 on its first code
    point, a linked URL's 23 on its first."""
    weights = bytearray(len(text))
    position = 0
    for start, end in [*_linked(text, urls), (len(text), len(text))]:
        offset = position
        for cluster in _GRAPHEME.findall(text, position, start):
            weights[offset] = 1
            offset += len(cluster)
        if start < len(text):
            weights[start] = URL_WEIGHT
        position = end
    return weights


# Mastodon's count for the toolkit's truncate.
MASTODON = Scale(status_length, _weigh, _unit_weights, _CODE_POINTS_PER_UNIT)


def truncate_status(text: str, budget: int, *, ellipsis: str = "…") -> str:
    """``text`` cut to at most ``budget`` as Mastodon counts it, without cutting a word, a
    URL or a grapheme."""
    return truncate(text, budget, MASTODON, ellipsis=ellipsis)


def neutralize_mastodon_mentions(text: str) -> str:
    """``text`` (NFC) with every ``@name`` Mastodon would link made plain (a URL's ``@``
    stays: the link must stay whole)."""
    if "@" not in text:
        return text
    urls = find_urls(text)
    starts = [start for start, _ in urls]

    def in_url(position: int) -> bool:
        index = bisect.bisect_right(starts, position) - 1
        return index >= 0 and position < urls[index][1]

    def neutral(found: regex.Match[str]) -> str:
        return "@" if in_url(found.start()) else "@" + WORD_JOINER

    result: str = _MENTION.sub(neutral, unicodedata.normalize("NFC", text))
    return result
