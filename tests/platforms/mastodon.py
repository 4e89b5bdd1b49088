"""Contract hooks for the Mastodon adapter: the real Mastodon.py against
``tests.fakes.mastodon_api.FakeMastodon`` (see ``tests/platforms/__init__.py``)."""

from __future__ import annotations

from typing import Any

from adapters.base import make_session
from adapters.mastodon.client import MastodonAdapter
from bot.errors import (
    AuthError,
    OutcomeUnknownError,
    PostRejectedError,
    RateLimitedError,
    TransientError,
)
from bot.model import Post
from tests.fakes.mastodon_api import FakeMastodon
from tests.platforms import Failure

PLATFORM = "mastodon"
ACCESS_TOKEN = "masto-at-Qm4v8ZxR2kLp7Wn3"
SECRETS = (ACCESS_TOKEN,)
ENV = {"MASTODON_ACCESS_TOKEN": ACCESS_TOKEN}
CREATE = ("POST", r"/api/v1/statuses")

# Short enough that the read-timeout case stays fast, long enough for a loopback answer.
TIMEOUT = {"connect_timeout": 1.0, "read_timeout": 1.0}
SLOWER_THAN_TIMEOUT = 2.5


def start_fake(**options: Any) -> FakeMastodon:
    return FakeMastodon(**({"access_token": ACCESS_TOKEN} | options)).start()


def make_adapter(fake: FakeMastodon, **options: Any) -> MastodonAdapter:
    settings: dict[str, Any] = {
        "target": "t",
        "instance": fake.url,
        "access_token": ACCESS_TOKEN,
        "session": make_session(**TIMEOUT),
        "media_poll": 0.01,
    }
    return MastodonAdapter(**(settings | options))


def target_table(api_base: str, name: str = "mastodon") -> str:
    """A target posting to the fake; its statuses end with the entry's link."""
    return f"""[targets.{name}]
platform = "mastodon"
instance = "{api_base}"
access_token = "${{MASTODON_ACCESS_TOKEN}}"
template = "{{title}} {{url}}"
"""


def posted_links(fake: FakeMastodon) -> list[str]:
    """The entry link of every status the fake accepted (the last word of its text)."""
    return [_text(status).split()[-1] for status in fake.statuses]


def _text(status: dict[str, Any]) -> str:
    from bot.text.html import html_to_text

    return html_to_text(status["content"])


def sample_post() -> Post:
    return Post(
        text="New on the blog: Exactly once, at last https://example.org/2026/05/once",
        link="https://example.org/2026/05/once",
        slug="20260501T120000Z-0f1e2d3c4b5a69788796a5b4",
    )


def accepted(fake: FakeMastodon) -> list[dict[str, Any]]:
    return list(fake.statuses)


FAILURES = [
    Failure(
        "unauthorized-401",
        lambda fake: fake.fail_next(401),
        AuthError,
        says="The access token is invalid",
    ),
    Failure(
        "scope-403",
        lambda fake: fake.fail_next(403),
        AuthError,
        says="This action is outside the authorized scopes",
    ),
    Failure(
        "rate-limited-429",
        lambda fake: fake.fail_next(429),
        RateLimitedError,
        says="Too many requests",
    ),
    Failure(
        "too-long-422",
        lambda fake: fake.fail_next(422),
        PostRejectedError,
        says="Text character limit of 500 exceeded",
    ),
    Failure(
        "media-not-ready-422",
        lambda fake: fake.fail_next(
            422, "Cannot attach files that have not finished processing. Try again in a moment!"
        ),
        TransientError,
        says="not finished processing",
    ),
    Failure(
        "unavailable-503",
        lambda fake: fake.fail_next(503),
        OutcomeUnknownError,
        says="503",
    ),
    Failure("server-error-500", lambda fake: fake.fail_next(500), OutcomeUnknownError, "500"),
    Failure(
        "read-timeout-after-send",
        lambda fake: fake.delay_next(SLOWER_THAN_TIMEOUT),
        OutcomeUnknownError,
    ),
    Failure("dropped-after-send", lambda fake: fake.drop_next(), OutcomeUnknownError),
]
