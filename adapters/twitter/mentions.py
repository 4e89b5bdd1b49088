"""X mentions from the feed that mention nobody: ``@name`` and ``＠name``.

A mention is neutralised with a word joiner (U+2060, ``WORD_JOINER``) right after its sign:
``@\\u2060name`` reads as before but no longer matches X's mention syntax, so nobody is linked
or notified. Text must be cleaned of invisible characters (``clean_text``, which removes
U+2060 too) *before* it is neutralised, never after.

X, as twitter-text v3 extracts mentions and lists (``validMentionOrList``, checked against
its ``conformance/extract.yml``): an at sign, ``@`` (U+0040) or the fullwidth ``＠`` (U+FF20),
then ``[A-Za-z0-9_]``, where the at sign does not follow a character of
``[A-Za-z0-9_!#$%&*@＠]``, unless it follows ``RT`` or ``RT:`` (any case) at the start or after
a character outside ``[A-Za-z0-9_+~.-]``. A list (``@name/list``) is the same mention.
``email@example.com`` and ``f!@kn`` stay as they are. twitter-text also drops a
match followed by an at sign, a Latin accented letter or ``://``; those are neutralised all the
same (an invisible character costs nothing, a notification does). An at sign inside a URL is
left alone: X takes the URL, and the link must stay intact.

U+2060 weighs 2 in X's count (it is outside twitter-text's weight-1 ranges), as
``adapters.twitter.text.weighted_length`` counts it: the budget stays honest.
"""

from __future__ import annotations

import bisect

import regex

from adapters.api import WORD_JOINER, find_urls

__all__ = ["neutralize_x_mentions"]

_X_AT_SIGNS = "@\uff20"
_X_MENTION = regex.compile(
    r"(?:(?<![A-Za-z0-9_!#$%&*@\uff20])|(?<=(?:^|[^A-Za-z0-9_+~.\-])(?i:rt):?))"
    r"[@\uff20](?=[A-Za-z0-9_])"
)


def neutralize_x_mentions(text: str) -> str:
    """``text`` (NFC) with every mention and list X would link neutralised."""
    if not any(sign in text for sign in _X_AT_SIGNS):
        return text
    urls = find_urls(text)
    starts = [start for start, _ in urls]

    def in_url(position: int) -> bool:
        index = bisect.bisect_right(starts, position) - 1
        return index >= 0 and position < urls[index][1]

    def neutral(found: regex.Match[str]) -> str:
        sign: str = found.group()
        return sign if in_url(found.start()) else sign + WORD_JOINER

    neutralised: str = _X_MENTION.sub(neutral, text)
    return neutralised
