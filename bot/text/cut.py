"""Cutting text to a budget without breaking a word, a link or a grapheme.

:func:`truncate` cuts a text to a budget under any count a platform declares (a
:class:`Scale`); :func:`truncate_chars` counts code points. A URL is kept whole or dropped,
never cut, and no cut creates a URL the text did not have, so the URLs of a text are found
first (:func:`find_urls`).

URLs are found the way twitter-text's extractor finds them, the common reading of which
words of a post are links (platforms that count a URL as a fixed length use it). Where its
implementations disagree, the rule used here is written next to the code and pinned by a
test in ``tests/test_textcut.py``:

* A bare domain on a two-letter country TLD (``foo.jp``, ``setup.py``) is a URL. The current
  conformance suite extracts it; the older JS/Java extractors did not. For a name shorter
  than a fixed URL length, counting it as a URL can only over-count.
* A bare domain is a URL only up to its last label unless a path follows (``example.com?q``
  is ``example.com`` plus ``?q`` as text), and ``https://t.co/slug?x`` stops at the slug:
  both are the older extractors' reading, which weighs more than the newer one.
* A host must end in a TLD: IP addresses and ``localhost`` are text (JS/Java extractors;
  the Rust one takes IP addresses). A domain label is at most 63 code points (longer ones
  are never valid; bounding them keeps the scan linear).

Top-level domains come from the Public Suffix List snapshot bundled with ``tldextract``,
kept in ``tlds.txt`` beside this module (read offline, never fetched; importing tldextract
and building its list took half a second at every start).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from importlib import resources
from typing import NamedTuple, TypeAlias

import regex

__all__ = ["CODE_POINTS", "Scale", "find_urls", "graphemes", "truncate", "truncate_chars"]

_MAX_URL_LENGTH = 4096
_MAX_LABEL_LENGTH = 63
_MAX_TCO_SLUG_LENGTH = 40

# --- character classes (twitter-text's regexp/*.js, spelled out for Python's `regex`) ---

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

_Trie: TypeAlias = dict[str, "_Trie"]


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
    """A regex matching the longest of `words`, ignoring case (a trie, not an alternation:
    a case-insensitive group of one character per branch compiles several times faster)."""

    def emit(node: _Trie) -> str:
        leaves: list[str] = []
        branches: list[str] = []
        for ch in sorted(node):
            if ch == "":
                continue
            child = node[ch]
            if set(child) == {""}:
                leaves.append(regex.escape(ch))
                continue
            branches.append(regex.escape(ch) + emit(child))
        if leaves:
            branches.append(f"[{''.join(leaves)}]" if len(leaves) > 1 else leaves[0])
        if not branches:
            return ""
        body = "|".join(branches)
        if "" in node:
            return f"(?:{body})?"
        return body if len(branches) == 1 else f"(?:{body})"

    return f"(?i:{emit(_build_trie(w.lower() for w in words))})"


@functools.cache
def _top_level_domains() -> frozenset[str]:
    """Every TLD of the ICANN section of the Public Suffix List (``tlds.txt``, from the
    snapshot bundled with tldextract; read from the package, never fetched)."""
    text = resources.files("bot.text").joinpath("tlds.txt").read_text(encoding="utf-8")
    return frozenset(
        line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")
    )


def public_suffix_tlds() -> frozenset[str]:
    """The TLDs of the Public Suffix List snapshot bundled with the installed tldextract,
    what ``tlds.txt`` holds (imported only to check or write it: tldextract pulls in
    requests)."""
    import tldextract

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
    # Both end in a TLD, written once (it is most of the pattern's size and compile time):
    # a host is ``domain`` or ``bare`` up to the end of ``tld``.
    pattern = (
        rf"(?:{_NOT_BEFORE_URL}(?P<protocol>[Hh][Tt][Tt][Pp][Ss]?://)"
        rf"(?P<domain>{_SUBDOMAIN}*{_DOMAIN_NAME})"
        rf"|{bare_start}(?P<bare>{_ASCII_SUBDOMAIN}*{_ASCII_DOMAIN_NAME}))"
        rf"(?P<tld>{_tld_pattern()})"
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
            domain = text[m.start("bare") : m.end("tld")]
            if not _host_is_valid(domain, end - start, len("https://")):
                continue
            spans.append((start, end if m.group("path") else m.end("tld")))
            continue
        domain = text[m.start("domain") : m.end("tld")]
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


def graphemes(text: str) -> list[str]:
    """The extended grapheme clusters of `text` (what a reader sees as characters)."""
    clusters: list[str] = _GRAPHEME_RE.findall(text)
    return clusters


class Scale(NamedTuple):
    """How :func:`truncate` counts a text: a platform's weights, or plain code points.

    ``weigh`` and ``unit_weights`` get an NFC text with its URL spans (:func:`find_urls`);
    ``unit_weights`` spreads ``weigh``'s total over the code points (a URL's weight on its
    first one, say), which lets the cut be found without weighing every prefix.
    """

    measure: Callable[[str], int]  # any text
    weigh: Callable[[str, Sequence[tuple[int, int]]], int]  # text with its URL spans
    unit_weights: Callable[[str, Sequence[tuple[int, int]]], bytes | bytearray]
    code_points_per_unit: int  # at most, in a text that fits


CODE_POINTS = Scale(len, lambda text, urls: len(text), lambda text, urls: b"\x01" * len(text), 1)

# Word cuts this far past the last fitting position are still tried: their trailing
# spaces and punctuation may be trimmed back into the budget.
_TRIM_REACH = 64


def _trimmable(ch: str) -> bool:
    return ch.isspace() or ch in _TRIM_CHARS


def truncate(text: str, budget: int, scale: Scale, *, ellipsis: str = "…") -> str:
    """`text` cut to at most `budget` as `scale` counts it, ellipsis included.

    Returns `text` unchanged when it fits. Otherwise keeps the longest NFC prefix that
    ends before whitespace, drops trailing spaces and dangling punctuation (``,`` ``:``
    ``-`` ...) and appends `ellipsis`. When not even the first word fits, cuts between
    graphemes instead. A URL is kept whole or dropped, never cut, and no cut creates a URL
    the text did not have. Returns `ellipsis` alone when nothing else fits, ``""`` when
    not even that does.
    """
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


def truncate_chars(text: str, limit: int, *, ellipsis: str = "…") -> str:
    """:func:`truncate` counting code points (titles, text blocks)."""
    return truncate(text, limit, CODE_POINTS, ellipsis=ellipsis)
