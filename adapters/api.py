"""The plugin surface: everything a platform needs from FeedRelay, in one place.

A platform (FeedRelay's own in ``adapters/<name>/``, or another distribution's) uses only
what this module exports. Its version, ``API_VERSION``, changes when something here changes
incompatibly; a platform's ``PlatformSpec(api=...)`` names the version it is written for, and
a platform written for another version is refused by name when it is loaded, while the
others keep working.

Besides the contract (``PlatformSpec``, ``Adapter``, ``Limits``, the errors) it carries the
render toolkit a platform's shape is made with: the entry's template values and ``fill``,
``fit`` and ``cut_to`` under any count, ``truncate`` with a ``Scale`` of the platform's own,
URL spans, hashtags and plain tags, image choice, slugs, summaries, ``measure`` and
``explain_budget``, and ``Rendered``, what a shape returns; and what a spec's ``describe``
returns, a ``Description`` made of ``Line`` values (``describe_post`` is the default; the
older ``describe`` says what an exception was).

FeedRelay's own platforms import this module (``from adapters import api``, or names from
it). A platform in another distribution does not import it by name (``bot`` and ``adapters``
are common words, which another package could also install): its entry point names a
function that receives this module and returns the spec (``docs/plugins.md``).
"""

from __future__ import annotations

from adapters.base import (
    USER_AGENT,
    Adapter,
    LocalMemory,
    LookupCheck,
    Memory,
    Metered,
    PlatformSpec,
    Reconciler,
    Resender,
    SelfCheck,
    describe,
    header_time,
    make_session,
    nothing_sent,
    request_error,
    retry_at,
    scrub,
)
from adapters.setup import (
    AuthFlow,
    AuthOption,
    AuthResult,
    AuthRun,
    AuthTarget,
    Credential,
    Question,
    credential_lines,
    toml_string,
)
from bot.errors import (
    AllowanceError,
    AuthError,
    CannotResendError,
    DuplicatePostError,
    LookupIncompleteError,
    LookupRefusedError,
    OutcomeUnknownError,
    PostRejectedError,
    PublishError,
    RateLimitedError,
    SetupError,
    TransientError,
)
from bot.model import Entry, Image, Limits, MediaFile, Post, Published
from bot.settings import Between, Duration, TargetSettings, TemplateStr
from bot.text.clean import WORD_JOINER, clean_text
from bot.text.cut import CODE_POINTS, Scale, find_urls, graphemes, truncate, truncate_chars
from bot.text.hashtags import MAX_HASHTAG_LENGTH, hashtag_for, plain_tags, select_hashtags
from bot.text.render import (
    FEED_TEXT_FIELDS,
    Description,
    Line,
    Rendered,
    Shape,
    budget_of,
    cut_to,
    describe_post,
    entry_title,
    explain_budget,
    fill,
    fit,
    fit_template,
    image_for,
    image_line,
    measure,
    nothing_to_post,
    required_limit,
    slug_for,
    summary_paragraphs,
    template_values,
    truncator,
)

API_VERSION = 1


# The HTML readers import bs4, markdownify and soupsieve (a tenth of a second) when first
# called: loading the platforms' specs with a config must not, since status, history and
# the other commands that only read the store never render a post.
def html_to_text(html: str) -> str:
    """``html`` as plain text, with its paragraphs, list items and links' text."""
    from bot.text import html as markup

    return markup.html_to_text(html)


def html_to_markdown(html: str, base_url: str = "") -> str:
    """``html`` as Markdown, links resolved against ``base_url``."""
    from bot.text import html as markup

    return markup.html_to_markdown(html, base_url)


def excerpt(text: str, limit: int) -> str:
    """A stand-in title: the first sentence if it fits in ``limit`` characters, else a cut."""
    from bot.text import html as markup

    return markup.excerpt(text, limit)


__all__ = [
    "API_VERSION",
    "CODE_POINTS",
    "FEED_TEXT_FIELDS",
    "MAX_HASHTAG_LENGTH",
    "USER_AGENT",
    "WORD_JOINER",
    "Adapter",
    "AllowanceError",
    "AuthError",
    "AuthFlow",
    "AuthOption",
    "AuthResult",
    "AuthRun",
    "AuthTarget",
    "Between",
    "CannotResendError",
    "Credential",
    "Description",
    "DuplicatePostError",
    "Duration",
    "Entry",
    "Image",
    "Limits",
    "Line",
    "LocalMemory",
    "LookupCheck",
    "LookupIncompleteError",
    "LookupRefusedError",
    "MediaFile",
    "Memory",
    "Metered",
    "OutcomeUnknownError",
    "PlatformSpec",
    "Post",
    "PostRejectedError",
    "PublishError",
    "Published",
    "Question",
    "RateLimitedError",
    "Reconciler",
    "Rendered",
    "Resender",
    "Scale",
    "SelfCheck",
    "SetupError",
    "Shape",
    "TargetSettings",
    "TemplateStr",
    "TransientError",
    "budget_of",
    "clean_text",
    "credential_lines",
    "cut_to",
    "describe",
    "describe_post",
    "entry_title",
    "excerpt",
    "explain_budget",
    "fill",
    "find_urls",
    "fit",
    "fit_template",
    "graphemes",
    "hashtag_for",
    "header_time",
    "html_to_markdown",
    "html_to_text",
    "image_for",
    "image_line",
    "make_session",
    "measure",
    "nothing_sent",
    "nothing_to_post",
    "plain_tags",
    "request_error",
    "required_limit",
    "retry_at",
    "scrub",
    "select_hashtags",
    "slug_for",
    "summary_paragraphs",
    "template_values",
    "toml_string",
    "truncate",
    "truncate_chars",
    "truncator",
]
