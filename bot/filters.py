"""Which entries a route lets through: one level of filters (a feed's, a target's or a
route's) matched against an entry's labels, words and text. Pure: no I/O, no clock.

``bot.policy.filtered`` combines the levels (an entry goes only if it passes all of them;
an exclusion wins over any inclusion); each :class:`Filter` says, in words, why it keeps an
entry out. The config compiles every pattern at load with :func:`compile_pattern`, so a
pattern that cannot be read is a config error, never a failed poll.

Words and labels are compared as people read them, in any script: case-insensitively with
full case folding (``Straße`` is ``STRASSE``, ``İstanbul`` is ``istanbul``), in Unicode
normal form C, and without the vowel marks that Arabic and Hebrew write only sometimes
(``كتاب`` is ``كتابٌ``). A word is whole where Unicode's default word boundaries say so
(UAX #29, the ``regex`` package's ``WORD`` mode): ``give`` is not in ``giveaway``, ``Алматы``
is in ``АЛМАТЫ қаласы``. Scripts written without spaces (Chinese characters, Japanese kanji
and hiragana) have a boundary at every character, so a word of them is found wherever it
is written (``東京`` in ``東京都``).
"""

from __future__ import annotations

import functools
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass

import regex

from bot.model import Entry
from bot.text.clean import clean_text

__all__ = ["Filter", "compile_pattern", "fold", "fold_label"]

# A pattern as people write one: case-insensitive (the same flags at load and when matched).
PATTERN_FLAGS = regex.IGNORECASE
_WORD_FLAGS = regex.IGNORECASE | regex.FULLCASE | regex.WORD
# The vowel, cantillation and elongation marks that Arabic and Hebrew text may or may not
# carry: a word matches with or without them.
_OPTIONAL_MARKS = regex.compile(
    "[\u0591-\u05bd\u05bf\u05c1\u05c2\u05c4\u05c5\u05c7"  # Hebrew points and accents
    "\u0610-\u061a\u064b-\u065f\u0670\u06d6-\u06dc\u06df-\u06e4\u06e7\u06e8\u06ea-\u06ed"
    "\u0640]"  # Arabic harakat, Quranic marks, tatweel
)
_SHOWN_ITEMS = 5  # a reason names at most this many labels or words
_SHOWN_MATCH = 40  # and quotes at most this much of what a pattern matched


def compile_pattern(pattern: str) -> regex.Pattern[str]:
    """``pattern`` compiled as filters use it (case-insensitive); ``ValueError`` saying
    what is wrong, for a config error."""
    try:
        return _compiled(pattern)
    except regex.error as error:
        raise ValueError(f"not a valid regular expression: {error}") from None


@functools.lru_cache(maxsize=256)
def _compiled(pattern: str) -> regex.Pattern[str]:
    return regex.compile(pattern, PATTERN_FLAGS)


def fold(text: str) -> str:
    """``text`` as words are compared: NFC, without Arabic and Hebrew optional marks."""
    folded: str = _OPTIONAL_MARKS.sub("", unicodedata.normalize("NFC", text))
    return folded


def fold_label(label: str) -> str:
    """A label as labels are compared: folded, case-folded, its spaces collapsed."""
    return " ".join(fold(label).casefold().split())


@functools.lru_cache(maxsize=1024)
def _word(word: str) -> regex.Pattern[str]:
    return regex.compile(r"\b" + regex.escape(fold(word).strip()) + r"\b", _WORD_FLAGS)


@dataclass(frozen=True, kw_only=True)
class _Text:
    """What filters read of an entry: its title and summary as its posts show them (NFC),
    and the same folded for words (:func:`fold`)."""

    title: str
    summary: str
    folded_title: str
    folded_summary: str


@functools.lru_cache(maxsize=256)
def _labels_of(entry: Entry) -> frozenset[str]:
    """The entry's labels as its posts show them (cleaned of bidi and invisible characters:
    a zero-width space cannot hide "Sponsored"), folded for comparing."""
    return frozenset(fold_label(clean_text(label)) for label in entry.labels)


@functools.lru_cache(maxsize=256)
def _text_of(entry: Entry) -> _Text:
    # The title and summary that templates fill (cleaned of bidi and invisible characters,
    # the HTML made text): what a filter sees is what the post would say. Imported here,
    # not at the top: the config imports this module to check patterns, and needs no HTML.
    from bot.text.render import clean_entry, template_values

    values, _ = template_values(clean_entry(entry))
    title, summary = values["title"], values["summary"]
    return _Text(
        title=title, summary=summary, folded_title=fold(title), folded_summary=fold(summary)
    )


def _either(items: Sequence[str]) -> str:
    """``"Local"``, ``"Local" or "Almaty"``, ``"a", "b" or "c"``: at most a few of them."""
    shown = [f'"{item}"' for item in items[:_SHOWN_ITEMS]]
    if len(items) > _SHOWN_ITEMS:
        shown.append(f"{len(items) - _SHOWN_ITEMS} more")
    if len(shown) == 1:
        return shown[0]
    return ", ".join(shown[:-1]) + " or " + shown[-1]


@dataclass(frozen=True, kw_only=True)
class Filter:
    """One level's filters, named by where the config sets them (``feeds.news``,
    ``targets.TARGET``, ``feeds.news.to.TARGET``).

    Each ``include_*`` that is set is a condition of its own, met by at least one of its
    items (labels, words) or by the pattern; an entry passes the level when it meets every
    one of them and matches no ``exclude_*``.
    """

    where: str
    include_labels: tuple[str, ...] = ()
    exclude_labels: tuple[str, ...] = ()
    include_words: tuple[str, ...] = ()
    exclude_words: tuple[str, ...] = ()
    include_pattern: str | None = None
    exclude_pattern: str | None = None

    def excluded(self, entry: Entry) -> str | None:
        """The first ``exclude_*`` that ``entry`` matches, in words; ``None`` if none."""
        labels = _labels_of(entry)
        for label in self.exclude_labels:
            if fold_label(label) in labels:
                return f'label "{label}" excluded by {self.where}'
        if self.exclude_words:
            text = _text_of(entry)
            for word in self.exclude_words:
                if _has_word(word, text):
                    return f'word "{word}" excluded by {self.where}'
        if self.exclude_pattern is not None:
            found = _search(self.exclude_pattern, _text_of(entry))
            if found is not None:
                matched, part = found
                return (
                    f'pattern "{self.exclude_pattern}" excluded by {self.where}'
                    f' (it matched "{matched}" in the {part})'
                )
        return None

    def unmet(self, entry: Entry) -> str | None:
        """The first ``include_*`` that ``entry`` does not meet, in words; ``None`` if it
        meets them all (or there are none)."""
        if self.include_labels:
            labels = _labels_of(entry)
            if not any(fold_label(label) in labels for label in self.include_labels):
                return (
                    f"not labelled {_either(self.include_labels)} (include_labels of {self.where})"
                )
        if self.include_words:
            text = _text_of(entry)
            if not any(_has_word(word, text) for word in self.include_words):
                words = _either(self.include_words)
                return f"no word {words} in the title or summary (include_words of {self.where})"
        pattern = self.include_pattern
        if pattern is not None and _search(pattern, _text_of(entry)) is None:
            return (
                f'pattern "{pattern}" matches neither the title nor the summary'
                f" (include_pattern of {self.where})"
            )
        return None


def _has_word(word: str, text: _Text) -> bool:
    pattern = _word(word)
    return any(
        pattern.search(part) is not None for part in (text.folded_title, text.folded_summary)
    )


def _search(pattern: str, text: _Text) -> tuple[str, str] | None:
    """What ``pattern`` matched, searched in the title and then in the summary, and where."""
    compiled = _compiled(pattern)
    for part, value in (("title", text.title), ("summary", text.summary)):
        match = compiled.search(value)
        if match is not None:
            matched = match.group()
            if len(matched) > _SHOWN_MATCH:
                matched = matched[: _SHOWN_MATCH - 1] + "…"
            return matched, part
    return None
