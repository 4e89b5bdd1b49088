"""X's weighted length: how X counts a post, and cutting a text to X's budget.

X counts a post the way twitter-text v3 does (config ``v3.json``):

* the text is NFC-normalised first;
* every URL weighs ``URL_WEIGHT`` (23), whatever its length, bare domains included (URLs
  are found as twitter-text's extractor finds them: ``find_urls``, from the toolkit);
* every emoji sequence (ZWJ sequence, flag, skin-tone or keycap sequence, FE0F-presented
  symbol) weighs 2 in total;
* any other code point weighs 1 in U+0000-10FF, U+2000-200D, U+2010-201F and U+2032-2037,
  and 2 everywhere else (CJK, Hangul, kana, ``…``, ``•``, ``™``).

Emoji sequences come from the ``emoji`` package's data. A lone ``©`` or ``®`` weighs 2:
twitter-text JS takes them for emoji only before U+FE0F (weight 1 alone), its Python port
always (2). Where implementations disagree the heavier count wins, so that X never refuses a
post this module measured as fitting. (``™`` lies outside the light ranges: 2 either way.)
Where a case needed a decision, ``tests/test_xtext.py`` pins it.
"""

from __future__ import annotations

import functools
import sys
import unicodedata
from collections.abc import Iterable, Sequence
from typing import TypeAlias

import regex

from adapters.api import Scale, find_urls, truncate

__all__ = [
    "EMOJI_WEIGHT",
    "MAX_WEIGHTED_LENGTH",
    "URL_WEIGHT",
    "WEIGHTED",
    "find_urls",
    "is_valid_length",
    "truncate_weighted",
    "weighted_length",
]

MAX_WEIGHTED_LENGTH = 280
URL_WEIGHT = 23
EMOJI_WEIGHT = 2

# Code points of weight 1 (twitter-text v3 "ranges"); every other code point weighs 2.
_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
# In a light range, but an emoji on its own for some implementations of X's rules (the
# Python port of twitter-text): they weigh 2, the heavier count, so X never refuses a post.
_HEAVY_EMOJI_TEXT = "\u00a9\u00ae"  # ©, ®

# At most this many code points per unit of weight: a URL of 4096 + 8 code points weighs
# 23 (178 per unit); the longest emoji sequence has 10 code points for 2.
_CODE_POINTS_PER_UNIT = 180

_Trie: TypeAlias = dict[str, "_Trie"]


@functools.cache
def _weight_table() -> str:
    """For str.translate: every code point to chr(its weight), 1 or 2 (1.1 MB, built once)."""
    table = bytearray(b"\x02" * (sys.maxunicode + 1))
    for lo, hi in _LIGHT_RANGES:
        table[lo : hi + 1] = b"\x01" * (hi + 1 - lo)
    for ch in _HEAVY_EMOJI_TEXT:
        table[ord(ch)] = 2
    return table.decode("latin-1")


def _char_weights(text: str) -> bytearray:
    """The weight of each code point of `text`, ignoring URLs and emoji."""
    return bytearray(text.translate(_weight_table()), "latin-1")


def _char_weight(ch: str) -> int:
    return ord(_weight_table()[ord(ch)])


def _build_trie(words: Iterable[str]) -> _Trie:
    """Nested dicts, one level per character; the key "" marks the end of a word."""
    trie: _Trie = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}
    return trie


def _emoji_sequences() -> Iterable[str]:
    import emoji  # its data: on the first weighing, not when the spec loads

    for seq in emoji.EMOJI_DATA:
        # A lone character of weight 1 is text; an emoji only with U+FE0F after it, and
        # that sequence is in the data. (A lone "©" or "®" weighs 2 by the table already.)
        if len(seq) == 1 and _char_weight(seq) == 1:
            continue
        yield seq


@functools.cache
def _emoji_trie() -> _Trie:
    return _build_trie(_emoji_sequences())


@functools.cache
def _emoji_candidate_re() -> regex.Pattern[str]:
    """Where an emoji sequence may start: a cheap superset, checked against the trie.

    The first characters of all sequences, in a few wide ranges (a class of hundreds of
    ranges is slow to scan), plus "#", "*" and digits when a keycap mark follows.
    """
    firsts = sorted({ord(seq[0]) for seq in _emoji_sequences()} - set(map(ord, "#*0123456789")))
    ranges: list[list[int]] = []
    for code in firsts:
        if ranges and code - ranges[-1][1] <= 0x100:
            ranges[-1][1] = code
        else:
            ranges.append([code, code])
    wide = "".join(f"\\U{lo:08x}-\\U{hi:08x}" for lo, hi in ranges)
    return regex.compile(f"[{wide}]|[#*0-9](?=[\\ufe0f\\u20e3])")


def _emoji_spans(text: str) -> list[tuple[int, int]]:
    """Spans of the emoji sequences in `text`, each the longest known one at its start."""
    trie = _emoji_trie()
    spans: list[tuple[int, int]] = []
    pos = 0
    size = len(text)
    for candidate in _emoji_candidate_re().finditer(text):
        start: int = candidate.start()
        if start < pos:
            continue
        node = trie.get(text[start])
        end = i = start
        while node is not None:
            i += 1
            if "" in node:
                end = i
            node = node.get(text[i]) if i < size else None
        if end > start:
            spans.append((start, end))
            pos = end
    return spans


def _nfc(text: str) -> str:
    if unicodedata.is_normalized("NFC", text):
        return text
    return unicodedata.normalize("NFC", text)


def _plain_weight(segment: str) -> int:
    """Weight of text that holds no URL."""
    if segment.isascii():
        return len(segment)
    weights = _char_weights(segment)
    weight = sum(weights)
    for start, end in _emoji_spans(segment):
        weight += EMOJI_WEIGHT - sum(weights[start:end])
    return weight


def _weigh(text: str, urls: Sequence[tuple[int, int]]) -> int:
    """Weight of NFC `text` whose URL spans are `urls`."""
    weight = 0
    pos = 0
    for start, end in urls:
        weight += _plain_weight(text[pos:start]) + URL_WEIGHT
        pos = end
    return weight + _plain_weight(text[pos:])


def weighted_length(text: str) -> int:
    """The length X counts for `text` (twitter-text v3); at most 280 is postable."""
    text = _nfc(text)
    return _weigh(text, find_urls(text))


def is_valid_length(text: str) -> bool:
    """Whether X accepts `text` by length: not blank and at most 280 weighted characters."""
    return bool(text.strip()) and weighted_length(text) <= MAX_WEIGHTED_LENGTH


def _unit_weights(text: str, urls: Sequence[tuple[int, int]]) -> bytearray:
    """Per code point weights that add up to weighted_length(text) (`text` is NFC).

    A URL's or an emoji sequence's weight sits on its first code point, 0 on the rest.
    """
    weights = _char_weights(text)
    pos = 0
    for start, end in [*urls, (len(text), len(text))]:
        segment = text[pos:start]
        if not segment.isascii():
            for first, stop in _emoji_spans(segment):
                weights[pos + first] = EMOJI_WEIGHT
                weights[pos + first + 1 : pos + stop] = bytes(stop - first - 1)
        if start < len(text):
            weights[start] = URL_WEIGHT
            weights[start + 1 : end] = bytes(end - start - 1)
        pos = end
    return weights


def _exact_weight(text: str, urls: Sequence[tuple[int, int]]) -> int:
    if unicodedata.is_normalized("NFC", text):
        return _weigh(text, urls)
    return weighted_length(text)


# X's count for the toolkit's truncate.
WEIGHTED = Scale(weighted_length, _exact_weight, _unit_weights, _CODE_POINTS_PER_UNIT)


def truncate_weighted(text: str, budget: int, *, ellipsis: str = "…") -> str:
    """`text` cut to at most `budget` weighted characters (X's count), ellipsis included,
    without cutting a word, a URL or a grapheme (the toolkit's ``truncate``)."""
    return truncate(text, budget, WEIGHTED, ellipsis=ellipsis)
