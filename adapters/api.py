"""The plugin surface: everything a platform needs from FeedRelay, in one place.

A platform (FeedRelay's own in ``adapters/<name>/``, or another distribution's) uses only
what this module exports. Its version, ``API_VERSION``, changes when something here changes
incompatibly; a platform's ``PlatformSpec(api=...)`` names the version it is written for, and
a platform written for another version is refused by name when it is loaded, while the
others keep working.

FeedRelay's own platforms import this module (``from adapters import api``). A platform in
another distribution does not import it by name (``bot`` and ``adapters`` are common words,
which another package could also install): its entry point names a function that receives
this module and returns the spec (``docs/plugins.md``).
"""

from __future__ import annotations

from adapters.base import (
    USER_AGENT,
    Adapter,
    PlatformSpec,
    Reconciler,
    SelfCheck,
    describe,
    header_time,
    make_session,
    nothing_sent,
    request_error,
    retry_at,
    scrub,
)
from bot.errors import (
    AuthError,
    DuplicatePostError,
    OutcomeUnknownError,
    PostRejectedError,
    PublishError,
    RateLimitedError,
    TransientError,
)
from bot.model import Entry, Image, Limits, MediaFile, Post, Published
from bot.settings import Duration, TargetSettings, TemplateStr
from bot.textcut import CODE_POINTS, Scale, find_urls, graphemes, truncate, truncate_chars

API_VERSION = 1

__all__ = [
    "API_VERSION",
    "CODE_POINTS",
    "USER_AGENT",
    "Adapter",
    "AuthError",
    "DuplicatePostError",
    "Duration",
    "Entry",
    "Image",
    "Limits",
    "MediaFile",
    "OutcomeUnknownError",
    "PlatformSpec",
    "Post",
    "PostRejectedError",
    "PublishError",
    "Published",
    "RateLimitedError",
    "Reconciler",
    "Scale",
    "SelfCheck",
    "TargetSettings",
    "TemplateStr",
    "TransientError",
    "describe",
    "find_urls",
    "graphemes",
    "header_time",
    "make_session",
    "nothing_sent",
    "request_error",
    "retry_at",
    "scrub",
    "truncate",
    "truncate_chars",
]
