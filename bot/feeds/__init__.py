"""Feeds: fetch (``fetch``), read (``parse``), a web page described from its metadata
(``pages``), a blog's feed found from its address (``discover``)."""

from bot.feeds.fetch import FETCH_WORKERS, TIMEOUT, Fetched, fetch, make_session
from bot.feeds.parse import ParsedFeed, advertised_feeds, content_hash, normalise_link, parse

__all__ = [
    "FETCH_WORKERS",
    "TIMEOUT",
    "Fetched",
    "ParsedFeed",
    "advertised_feeds",
    "content_hash",
    "fetch",
    "make_session",
    "normalise_link",
    "parse",
]
