"""Text tools for posts: X's weighted length, URL spans, graphemes, truncation.

X counts a post the way twitter-text v3 does (config ``v3.json``):

* the text is NFC-normalised first;
* every URL weighs ``URL_WEIGHT`` (23), whatever its length, bare domains included;
* every emoji sequence (ZWJ sequence, flag, skin-tone or keycap sequence, FE0F-presented
  symbol) weighs 2 in total;
* any other code point weighs 1 in U+0000-10FF, U+2000-200D, U+2010-201F and U+2032-2037,
  and 2 everywhere else (CJK, Hangul, kana, ``…``, ``•``, ``™``).

URL extraction follows twitter-text's extractor. Where its implementations disagree, the
rule used here is written next to the code and pinned by a test in ``tests/test_xtext.py``:

* A bare domain on a two-letter country TLD (``foo.jp``, ``setup.py``) is a URL. The current
  conformance suite extracts it; the older JS/Java extractors did not. For a name shorter
  than 23 characters, counting it as a URL can only over-count.
* A bare domain is a URL only up to its last label unless a path follows (``example.com?q``
  is ``example.com`` plus ``?q`` as text), and ``https://t.co/slug?x`` stops at the slug:
  both are the older extractors' reading, which weighs more than the newer one.
* A host must end in a TLD: IP addresses and ``localhost`` are text (JS/Java extractors;
  the Rust one takes IP addresses). A domain label is at most 63 code points (longer ones
  are never valid; bounding them keeps the scan linear).

Top-level domains come from the Public Suffix List snapshot bundled with ``tldextract``
(read offline, never fetched). Emoji sequences come from the ``emoji`` package's data.
A lone ``©`` or ``®`` weighs 2: twitter-text JS takes them for emoji only before U+FE0F
(weight 1 alone), its Python port always (2). Where implementations disagree the heavier
count wins, so that X never refuses a post this module measured as fitting. (``™`` lies
outside the light ranges: 2 either way.)
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import sys
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple, TypeAlias

import emoji
import regex

__all__ = [
    "EMOJI_WEIGHT",
    "MAX_WEIGHTED_LENGTH",
    "URL_WEIGHT",
    "find_urls",
    "graphemes",
    "is_valid_length",
    "truncate_chars",
    "truncate_weighted",
    "weighted_length",
]

MAX_WEIGHTED_LENGTH = 280
URL_WEIGHT = 23
EMOJI_WEIGHT = 2

_MAX_URL_LENGTH = 4096
_MAX_LABEL_LENGTH = 63
_MAX_TCO_SLUG_LENGTH = 40

# --- character classes (twitter-text's regexp/*.js, spelled out for Python's `regex`) ---

# Code points of weight 1 (twitter-text v3 "ranges"); every other code point weighs 2.
_LIGHT_RANGES = ((0x0000, 0x10FF), (0x2000, 0x200D), (0x2010, 0x201F), (0x2032, 0x2037))
# In a light range, but an emoji on its own for some implementations of X's rules (the
# Python port of twitter-text): they weigh 2, the heavier count, so X never refuses a post.
_HEAVY_EMOJI_TEXT = "\u00a9\u00ae"  # ©, ®
_LATIN_ACCENTS = (
    "\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u00ff\u0100-\u024f\u0253\u0254\u0256\u0257\u0259"
    "\u025b\u0263\u0268\u026f\u0272\u0289\u028b\u02bb\u0300-\u036f\u1e00-\u1eff"
)
_CYRILLIC = "\u0400-\u04ff"
_SPACES = "\t-\r \u0085\u00a0\u1680\u180e\u2000-\u200a\u2028\u2029\u202f\u205f\u3000"
_INVALID = "\ufffe\ufeff\uffff"
_DIRECTIONAL = "\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069"
_ASCII_PUNCT = "".join("\\" + c for c in "!\"#$%&'()*+,-./:;<=>?@[\\]^_`{|}~")

# A host character: anything but ASCII punctuation, Unicode punctuation, spaces, invalid
# and directional marks (the Rust grammar's `non_punctuation`).
_D = rf"[^{_ASCII_PUNCT}{_SPACES}{_INVALID}{_DIRECTIONAL}\p{{Z}}\p{{P}}\p{{Cc}}]"
_LABEL_BODY = _MAX_LABEL_LENGTH - 2
_SUBDOMAIN = rf"(?:{_D}(?:(?:{_D}|[-_]){{0,{_LABEL_BODY}}}{_D})?\.)"
_DOMAIN_NAME = rf"(?:{_D}(?:(?:{_D}|-){{0,{_LABEL_BODY}}}{_D})?\.)"
_PUNYCODE_TLD = r"(?:[Xx][Nn]--[-0-9A-Za-z]+)"
# A URL may not follow these (twitter-text's validUrlPrecedingChars; directional marks are
# allowed before a URL, so they are not listed).
_NOT_BEFORE_URL = rf"(?<![A-Za-z0-9@\uff20$#\uff03{_INVALID}])"
_TLD_END = r"(?![0-9A-Za-z@])"

_PATH_CHAR = rf"[A-Za-z0-9{_CYRILLIC}{_LATIN_ACCENTS}!*';:=+,.$/%#\[\]\-\u2013_~@|&]"
_BALANCED_PARENS = (
    rf"\((?:{_PATH_CHAR}+|{_PATH_CHAR}*\({_PATH_CHAR}+\){_PATH_CHAR}*)\)"  # two levels at most
)
_PATH_END = rf"(?:[A-Za-z0-9{_CYRILLIC}{_LATIN_ACCENTS}=_#/\-+]|{_BALANCED_PARENS})"
_PATH_UNIT = rf"(?:{_PATH_CHAR}*(?:{_BALANCED_PARENS}{_PATH_CHAR}*)*{_PATH_END}|@{_PATH_CHAR}+/)"
_QUERY_CHAR = r"[A-Za-z0-9!?*'@();:&=+$/%#\[\]\-_.,~|]"
_QUERY_END = r"[A-Za-z0-9\-_&=#/]"

_A = f"[A-Za-z0-9{_LATIN_ACCENTS}]"
_ASCII_SUBDOMAIN = rf"(?:{_A}(?:(?:{_A}|[-_]){{0,{_LABEL_BODY}}}{_A})?\.)"
_ASCII_DOMAIN_NAME = rf"(?:{_A}(?:(?:{_A}|-){{0,{_LABEL_BODY}}}{_A})?\.)"
_TRIM_CHARS = frozenset(",;:.…-–—([{«‹“‘/|·•&")

_SLACK = 2  # how far the fast prefix estimate may trail the exact weight
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


def _class_member(ch: str) -> list[str]:
    """`ch` and its one-character lower and upper cases."""
    return sorted({ch} | {v for v in (ch.lower(), ch.upper()) if len(v) == 1})


def _build_trie(words: Iterable[str]) -> _Trie:
    """Nested dicts, one level per character; the key "" marks the end of a word."""
    trie: _Trie = {}
    for word in words:
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}
    return trie


def _trie_pattern(words: Iterable[str]) -> str:
    """A regex matching the longest of `words`, ignoring case (a trie, not an alternation)."""

    def emit(node: _Trie) -> str:
        leaves: list[str] = []
        branches: list[str] = []
        for ch in sorted(node):
            if ch == "":
                continue
            members = _class_member(ch)
            child = node[ch]
            if set(child) == {""}:
                leaves.extend(members)
                continue
            head = "[" + "".join(map(regex.escape, members)) + "]" if len(members) > 1 else ""
            branches.append((head or regex.escape(ch)) + emit(child))
        if leaves:
            branches.append("[" + "".join(map(regex.escape, leaves)) + "]")
        if not branches:
            return ""
        body = "|".join(branches)
        if "" in node:
            return f"(?:{body})?"
        return body if len(branches) == 1 else f"(?:{body})"

    return f"(?:{emit(_build_trie(words))})"


@functools.cache
def _top_level_domains() -> frozenset[str]:
    """Every TLD of the ICANN section of the Public Suffix List bundled with tldextract."""
    import tldextract  # imported here: it pulls in requests, which most callers never need

    # No URLs and no cache directory: tldextract goes straight to its bundled snapshot.
    extractor = tldextract.TLDExtract(suffix_list_urls=(), cache_dir=None)
    suffixes: list[str] = extractor.tlds
    return frozenset(s.rsplit(".", 1)[-1].lstrip("*!").lower() for s in suffixes)


@functools.cache
def _tld_pattern() -> str:
    tlds = _trie_pattern(_top_level_domains())
    return rf"(?:{tlds}{_TLD_END}|{_PUNYCODE_TLD})"


@functools.cache
def _url_re() -> regex.Pattern[str]:
    # Two kinds, tried at each position in this order:
    # * a protocol, then any Unicode host (twitter-text's validDomain);
    # * a bare ASCII (or Latin-accented) host, which must start a word: not after a letter,
    #   a digit, "@", "$", "#", "-", "_", "." or "/".
    bare_start = rf"(?<![A-Za-z0-9{_LATIN_ACCENTS}@\uff20$#\uff03\-_./{_INVALID}])"
    pattern = (
        rf"(?:{_NOT_BEFORE_URL}(?P<protocol>[Hh][Tt][Tt][Pp][Ss]?://)"
        rf"(?P<domain>{_SUBDOMAIN}*{_DOMAIN_NAME}{_tld_pattern()})"
        rf"|{bare_start}(?P<bare>{_ASCII_SUBDOMAIN}*{_ASCII_DOMAIN_NAME}{_tld_pattern()}))"
        r"(?::[0-9]++)?"
        rf"(?P<path>/{_PATH_UNIT}*)?"
        rf"(?:\?{_QUERY_CHAR}*{_QUERY_END})?"
    )
    return regex.compile(pattern)


@functools.cache
def _ascii_domain_re() -> regex.Pattern[str]:
    return regex.compile(rf"{_ASCII_SUBDOMAIN}*{_ASCII_DOMAIN_NAME}{_tld_pattern()}")


_TCO_RE = regex.compile(r"[Hh][Tt][Tt][Pp][Ss]?://[Tt]\.[Cc][Oo]/([A-Za-z0-9]+)")
_GRAPHEME_RE = regex.compile(r"\X")
_DOTTED_WORD_RE = re.compile(r"(?<!\S)\S*\.\S*")  # stdlib re scans this one fastest


def _emoji_sequences() -> Iterable[str]:
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


def _host_is_valid(domain: str, url_length: int, protocol_length: int) -> bool:
    """twitter-text's isValidUrl: IDNA label lengths and the 4096-character URL limit."""
    if domain[:4].lower() == "xn--" and _ascii_domain_re().search(domain) is None:
        return False
    ascii_length = 0
    for label in domain.split("."):
        if not label.isascii():
            try:
                label = "xn--" + label.encode("punycode").decode("ascii")
            except UnicodeError:
                return False
        if not 1 <= len(label) <= _MAX_LABEL_LENGTH:
            return False
        ascii_length += len(label) + 1
    ascii_length -= 1
    return protocol_length + url_length + ascii_length - len(domain) <= _MAX_URL_LENGTH


def find_urls(text: str) -> list[tuple[int, int]]:
    """Spans ``(start, end)`` of the URLs in `text`, as twitter-text extracts them.

    With a protocol (http, https) the host may be any Unicode domain; without one only an
    ASCII or Latin-accented domain on a real TLD counts (``example.com``, ``foo.co.jp``),
    and only with its path when it has one. Trailing punctuation and unbalanced ``)`` stay
    outside. A URL never follows an ASCII letter or digit, ``@``, ``$`` or ``#``, and a bare
    domain never follows a Latin letter, ``-``, ``_``, ``.`` or ``/``: e-mail addresses,
    mentions, hashtags and cashtags hold no URL. Spans index `text` as given (normalise it
    first to weigh it).
    """
    spans: list[tuple[int, int]] = []
    if "." in text:
        # No URL holds a space, and every URL holds a dot: scan only such words.
        for word in _DOTTED_WORD_RE.finditer(text):
            _find_urls_in(text, word.start(), word.end(), spans)
    return spans


def _find_urls_in(text: str, pos: int, endpos: int, spans: list[tuple[int, int]]) -> None:
    for m in _url_re().finditer(text, pos, endpos):
        start: int = m.start()
        end: int = m.end()
        protocol: str | None = m.group("protocol")
        if protocol is None:
            domain: str = m.group("bare")
            if not _host_is_valid(domain, end - start, len("https://")):
                continue
            spans.append((start, end if m.group("path") else m.end("bare")))
            continue
        domain = m.group("domain")
        if not _host_is_valid(domain, end - start, len(protocol)):
            continue
        if domain.lower() == "t.co":
            tco = _TCO_RE.match(text, start, end)
            if tco is not None:
                if len(tco.group(1)) > _MAX_TCO_SLUG_LENGTH:
                    continue
                end = tco.end()
        spans.append((start, end))


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


def graphemes(text: str) -> list[str]:
    """The extended grapheme clusters of `text` (what a reader sees as characters)."""
    clusters: list[str] = _GRAPHEME_RE.findall(text)
    return clusters


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


class _Scale(NamedTuple):
    """How _truncate counts: X's weights or plain code points."""

    measure: Callable[[str], int]  # any text
    weigh: Callable[[str, Sequence[tuple[int, int]]], int]  # text with its URL spans
    unit_weights: Callable[[str, Sequence[tuple[int, int]]], bytes | bytearray]
    code_points_per_unit: int  # at most, in a text that fits


_WEIGHTED = _Scale(weighted_length, _exact_weight, _unit_weights, _CODE_POINTS_PER_UNIT)
_CODE_POINTS = _Scale(len, lambda text, urls: len(text), lambda text, urls: b"\x01" * len(text), 1)

# Word cuts this far past the last fitting position are still tried: their trailing
# spaces and punctuation may be trimmed back into the budget.
_TRIM_REACH = 64


def _trimmable(ch: str) -> bool:
    return ch.isspace() or ch in _TRIM_CHARS


def _truncate(text: str, budget: int, ellipsis: str, scale: _Scale) -> str:
    if budget < 0:
        raise ValueError(f"budget must not be negative, got {budget}")
    # No prefix longer than `window` code points can fit, whatever it holds.
    window = (budget + _SLACK) * scale.code_points_per_unit + _MAX_URL_LENGTH + 16
    full = _nfc(text)
    whole = len(full) <= window
    full = full[:window]
    urls = find_urls(full)
    if whole and scale.weigh(full, urls) <= budget:
        return text if full is text or scale.measure(text) <= budget else full
    ellipsis_weight = scale.measure(ellipsis)
    if ellipsis_weight > budget:
        return ""
    n = len(full)
    known_urls = set(urls)
    in_url = bytearray(n)
    inside_url = bytearray(n + 1)  # strictly inside: no cut there
    for start, end in urls:
        in_url[start:end] = b"\x01" * (end - start)
        inside_url[start + 1 : end] = b"\x01" * (end - start - 1)
    prefix = list(itertools.accumulate(scale.unit_weights(full, urls), initial=0))
    limit = budget - ellipsis_weight + _SLACK
    reach = min(n, bisect.bisect_right(prefix, limit) - 1 + _TRIM_REACH)
    # Cut points: grapheme boundaries up to `reach`, none strictly inside a URL.
    lengths = map(len, _GRAPHEME_RE.findall(full, 0, min(n, reach + 1)))
    cuts = [p for p in itertools.accumulate(lengths, initial=0) if p <= reach and not inside_url[p]]

    def trimmed(p: int) -> int:
        q = p
        while True:
            while q > 0 and not in_url[q - 1] and _trimmable(full[q - 1]):
                q -= 1
            snapped = cuts[bisect.bisect_right(cuts, q) - 1]
            if snapped == q:
                return q
            q = snapped

    def attempt(q: int) -> str | None:
        if not full[:q].strip():
            return None
        candidate = full[:q] + ellipsis
        found = find_urls(candidate)
        if not known_urls.issuperset(found) or scale.weigh(candidate, found) > budget:
            return None  # too heavy, or the cut made a URL the text did not have
        return candidate

    tried: set[int] = set()
    for p in reversed(cuts):
        if not (0 < p < n and full[p].isspace()):
            continue
        if prefix[p] > limit and not _trimmable(full[p - 1]):
            continue
        q = trimmed(p)
        if q in tried or prefix[q] > limit:
            continue
        tried.add(q)
        result = attempt(q)
        if result is not None:
            return result
    # Not even one word fits: cut between graphemes (a URL stays whole or goes).
    for p in reversed(cuts):
        if prefix[p] > limit:
            continue
        q = trimmed(p)
        if q in tried:
            continue
        tried.add(q)
        result = attempt(q)
        if result is not None:
            return result
    return ellipsis


def truncate_weighted(text: str, budget: int, *, ellipsis: str = "…") -> str:
    """`text` cut to at most `budget` weighted characters (X's count), ellipsis included.

    Returns `text` unchanged when it fits. Otherwise keeps the longest NFC prefix that
    ends before whitespace, drops trailing spaces and dangling punctuation (``,`` ``:``
    ``-`` ...) and appends `ellipsis`. When not even the first word fits, cuts between
    graphemes instead. A URL is kept whole or dropped, never cut, and no cut creates a URL
    the text did not have. Returns `ellipsis` alone when nothing else fits, ``""`` when
    not even that does.
    """
    return _truncate(text, budget, ellipsis, _WEIGHTED)


def truncate_chars(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """Like truncate_weighted, counting code points (Reddit titles, Tumblr blocks)."""
    return _truncate(text, limit, ellipsis, _CODE_POINTS)
