"""Reddit mentions from the feed that mention nobody: ``u/name`` and ``/u/name``.

A mention is neutralised with a word joiner (U+2060, ``WORD_JOINER``) right after its ``u``:
``u\\u2060/name`` reads as before but no longer matches Reddit's mention syntax, so nobody is
linked or notified. Text must be cleaned of invisible characters (``clean_text``, which
removes U+2060 too) *before* it is neutralised, never after.

Reddit links and notifies ``u/name`` and ``/u/name`` (snudown's ``sd_autolink__username``:
a ``u/`` after the start of the text, a space, punctuation or a ``/``; new Reddit alike).
A ``u`` or ``U`` that follows no ASCII letter or digit and is followed by ``/`` and a username
character (``[A-Za-z0-9_-]``) is neutralised, outside URLs and Markdown link destinations.
``r/name`` (a subreddit) is no mention and stays; Reddit does not link ``@name``.
"""

from __future__ import annotations

import regex

from adapters.api import WORD_JOINER

__all__ = ["neutralize_reddit_mentions"]

# What Reddit never reads as a mention, kept as it is: a Markdown link's destination, an
# autolink, a URL written out.
_REDDIT_NOT_TEXT = r"\]\([^()\s]*\)|<[^<>\s]+>|\b(?:https?|ftp)://\S+|\bwww\.\S+"
_REDDIT_MENTION = regex.compile(
    rf"(?P<skip>{_REDDIT_NOT_TEXT})|(?<![A-Za-z0-9])(?P<u>[uU])(?=/[A-Za-z0-9_-])"
)


def neutralize_reddit_mentions(text: str) -> str:
    """``text`` (plain text or Markdown) with every ``u/name`` and ``/u/name`` neutralised."""
    if "/" not in text:
        return text

    def neutral(found: regex.Match[str]) -> str:
        skipped: str | None = found.group("skip")
        return skipped if skipped is not None else found.group("u") + WORD_JOINER

    neutralised: str = _REDDIT_MENTION.sub(neutral, text)
    return neutralised
