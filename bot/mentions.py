"""Feed text that mentions nobody: X's ``@name`` and ``＠name``, Reddit's ``u/name``.

A mention is neutralised with a word joiner (U+2060, :data:`WORD_JOINER`) right after its
sign: ``@\\u2060name`` and ``u\\u2060/name`` read as before but no longer match the platform's
mention syntax, so nobody is linked or notified. Text must be cleaned of invisible characters
(``bot.unicodetext.clean_text``, which removes U+2060 too) *before* it is neutralised, never
after.

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
X's weighted length counts it: the budget stays honest.

Reddit links and notifies ``u/name`` and ``/u/name`` (snudown's ``sd_autolink__username``:
a ``u/`` after the start of the text, a space, punctuation or a ``/``; new Reddit alike).
A ``u`` or ``U`` that follows no ASCII letter or digit and is followed by ``/`` and a username
character (``[A-Za-z0-9_-]``) is neutralised, outside URLs and Markdown link destinations.
``r/name`` (a subreddit) is no mention and stays; Reddit does not link ``@name``.
"""

from __future__ import annotations

import bisect

import regex

from bot.textcut import find_urls

__all__ = ["WORD_JOINER", "neutralize_reddit_mentions", "neutralize_x_mentions"]

WORD_JOINER = "\u2060"

_X_AT_SIGNS = "@\uff20"
_X_MENTION = regex.compile(
    r"(?:(?<![A-Za-z0-9_!#$%&*@\uff20])|(?<=(?:^|[^A-Za-z0-9_+~.\-])(?i:rt):?))"
    r"[@\uff20](?=[A-Za-z0-9_])"
)
# What Reddit never reads as a mention, kept as it is: a Markdown link's destination, an
# autolink, a URL written out.
_REDDIT_NOT_TEXT = r"\]\([^()\s]*\)|<[^<>\s]+>|\b(?:https?|ftp)://\S+|\bwww\.\S+"
_REDDIT_MENTION = regex.compile(
    rf"(?P<skip>{_REDDIT_NOT_TEXT})|(?<![A-Za-z0-9])(?P<u>[uU])(?=/[A-Za-z0-9_-])"
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


def neutralize_reddit_mentions(text: str) -> str:
    """``text`` (plain text or Markdown) with every ``u/name`` and ``/u/name`` neutralised."""
    if "/" not in text:
        return text

    def neutral(found: regex.Match[str]) -> str:
        skipped: str | None = found.group("skip")
        return skipped if skipped is not None else found.group("u") + WORD_JOINER

    neutralised: str = _REDDIT_MENTION.sub(neutral, text)
    return neutralised
