"""Entry labels as hashtags (``#MachineLearning``) and as plain tags (``machine learning``).

A hashtag is built from a label by :func:`hashtag_for`:

- The label is split into words at spaces and punctuation; each word is capitalised unless it
  already has a capital inside (``machine learning`` -> ``#MachineLearning``, ``iPhone`` ->
  ``#iPhone``, ``NASA`` stays ``NASA``). Nothing is ever lower-cased.
- Apostrophes and a middle dot between letters join instead of split (``Don't Panic`` ->
  ``#DontPanic``, ``col·lecció`` -> ``#Collecció``).
- Kept: Unicode letters and combining marks (``Café``, ``日本語``, ``हिन्दी``), decimal
  digits, ``_``, and the zero-width (non-)joiners inside a word, as X's own hashtag rules do.
  Everything else (emoji, symbols, ``&``) is dropped.
- Spelled out, because the symbol carries meaning:

  ======================================  =============  ==================
  where                                   symbol         becomes
  ======================================  =============  ==================
  right after a word, ending it           ``++``         ``pp``  (C++ -> Cpp)
  right after a word, ending it           ``+``          ``Plus`` (Disney+ -> DisneyPlus)
  right after a word, ending it           ``#``          ``Sharp`` (C# -> CSharp)
  at the start of a word                  ``.``          ``Dot`` (.NET -> DotNET)
  ======================================  =============  ==================

  A ``+`` or ``#`` between two words (``R+D``, ``a#b``) is an ordinary separator, and a
  leading ``#`` on the label is ignored (``#python`` -> ``#Python``).
- No hashtag (None) when nothing is left, when it would have no letter at all (``2024``,
  ``_``; platforms such as X would not link it either) or when it would be longer than
  :data:`MAX_HASHTAG_LENGTH` characters including the ``#``.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection, Mapping, Sequence

import regex

__all__ = [
    "MAX_HASHTAG_LENGTH",
    "hashtag_for",
    "plain_tags",
    "select_hashtags",
]

MAX_HASHTAG_LENGTH = 100

_ALNUM = r"\p{L}\p{M}\p{Nd}"
_WORD_CHARS = _ALNUM + r"_\u200c\u200d"
_JOINER = regex.compile(rf"(?<=[{_ALNUM}])['’ʼ`´·](?=[{_ALNUM}])")
_TOKEN = regex.compile(
    rf"(?P<dot>(?<![{_WORD_CHARS}.])\.(?=\p{{L}}))?"
    rf"(?P<word>[{_WORD_CHARS}]+)"
    rf"(?P<suffix>(?:\+\+|\+|\#)(?![{_WORD_CHARS}+\#]))?"
)
_SUFFIXES = {"++": "pp", "+": "Plus", "#": "Sharp"}
_VALID_BODY = regex.compile(rf"[{_WORD_CHARS}]+")
_HAS_LETTER = regex.compile(r"[\p{L}\p{M}]")
_WS = re.compile(r"\s+")
_GRAPHEME = regex.compile(r"\X")


def _capitalise(word: str) -> str:
    if any(ch.isupper() for ch in word):
        return word
    first = word[0].title()
    return (first if len(first) == 1 else word[0]) + word[1:]


def _checked(body: str) -> str | None:
    if not body or not _VALID_BODY.fullmatch(body) or not _HAS_LETTER.search(body):
        return None
    tag = "#" + body
    return tag if len(tag) <= MAX_HASHTAG_LENGTH else None


def hashtag_for(label: str) -> str | None:
    """The hashtag for ``label`` (``"Oil & Gas"`` -> ``"#OilGas"``), or None.

    The rules, including the table for ``+``, ``#`` and ``.``, are in the module docstring.
    """
    label = _JOINER.sub("", unicodedata.normalize("NFC", label))
    parts: list[str] = []
    for token in _TOKEN.finditer(label):
        word = token["word"].strip("\u200c\u200d")
        if not word:
            continue
        word = _capitalise(word)
        if token["dot"]:
            word = "Dot" + word
        if token["suffix"]:
            word += _SUFFIXES[token["suffix"]]
        parts.append(word)
    return _checked("".join(parts))


def _key(value: str) -> str:
    return _WS.sub(" ", unicodedata.normalize("NFC", value)).strip().casefold()


def _strings(value: object, what: str) -> None:
    if isinstance(value, str):
        raise TypeError(f"{what} must be a collection of strings, not a single string")


def _renamed(value: str) -> str | None:
    """A rename target: ``#ml`` is taken literally when it is a valid hashtag, ``ml`` is a label."""
    value = value.strip()
    if value.startswith("#"):
        literal = _checked(unicodedata.normalize("NFC", value.lstrip("#")))
        if literal:
            return literal
    return hashtag_for(value)


def select_hashtags(
    labels: Sequence[str],
    *,
    max_count: int = 3,
    allow: Collection[str] | None = None,
    deny: Collection[str] = (),
    rename: Mapping[str, str] | None = None,
) -> list[str]:
    """Hashtags for an entry's labels, in label order, at most ``max_count``.

    For each label: ``rename`` first (keys matched case-insensitively; a value with ``#`` is
    used as written when it is a valid hashtag, one without is turned into a hashtag like a
    label, an empty value drops the label); then ``allow`` (when given, only labels on it);
    then ``deny``. ``allow`` and ``deny`` are case-insensitive and match the label, the rename
    value or the hashtag, each with or without ``#``. Labels without a hashtag and duplicates
    (case-insensitive) are skipped.
    """
    _strings(labels, "labels")
    _strings(deny, "deny")
    if allow is not None:
        _strings(allow, "allow")
    if max_count < 0:
        raise ValueError(f"max_count must not be negative, not {max_count}")
    renames = {_key(k): v for k, v in (rename or {}).items()}
    allowed = None if allow is None else {_key(a).lstrip("#") for a in allow}
    denied = {_key(d).lstrip("#") for d in deny}

    result: list[str] = []
    seen: set[str] = set()
    for label in labels:
        if len(result) >= max_count:
            break
        key = _key(label)
        names = {key, key.lstrip("#")}
        if key in renames:
            value = renames[key]
            if not value.strip():
                continue
            names.add(_key(value).lstrip("#"))
            tag = _renamed(value)
        else:
            tag = hashtag_for(label)
        if tag is None:
            continue
        names.add(tag[1:].casefold())
        if allowed is not None and not names & allowed:
            continue
        if names & denied:
            continue
        if tag.casefold() in seen:
            continue
        seen.add(tag.casefold())
        result.append(tag)
    return result


def _plain_tag(label: str, max_length: int | None) -> str:
    tag = _WS.sub(" ", unicodedata.normalize("NFC", label).replace(",", " ")).strip()
    tag = tag.lstrip("#").strip()
    if max_length is not None and len(tag) > max_length:
        cut = 0
        for grapheme in _GRAPHEME.finditer(tag):
            if grapheme.end() > max_length:
                break
            cut = grapheme.end()
        tag = tag[:cut].rstrip()
    return tag


def plain_tags(
    labels: Sequence[str],
    extra: Sequence[str] = (),
    *,
    max_count: int | None = None,
    max_length: int | None = None,
) -> list[str]:
    """Tags as written, for a platform with native tags: the labels, then
    ``extra`` (the target's own tags).

    Commas (the usual tag separator) become spaces, whitespace collapses, a leading ``#``
    goes (the platform shows its own), empty tags are dropped, duplicates are dropped
    case-insensitively (the first spelling wins), and each tag is cut to ``max_length``
    characters on a grapheme boundary. At most ``max_count`` tags: when there are more,
    labels from the end give way so that every ``extra`` tag is kept. ``None``: no limit.
    """
    _strings(labels, "labels")
    _strings(extra, "extra")
    extra_clean = [t for t in (_plain_tag(e, max_length) for e in extra) if t]
    extra_keys = {t.casefold() for t in extra_clean}
    tags: list[str] = []
    seen: set[str] = set()
    for tag in [_plain_tag(label, max_length) for label in labels] + extra_clean:
        if tag and tag.casefold() not in seen:
            seen.add(tag.casefold())
            tags.append(tag)
    if max_count is None:
        return tags
    excess = len(tags) - max_count
    if excess > 0:
        for index in range(len(tags) - 1, -1, -1):
            if excess == 0:
                break
            if tags[index].casefold() not in extra_keys:
                del tags[index]
                excess -= 1
    return tags[:max_count]
