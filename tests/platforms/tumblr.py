"""Contract hooks for the Tumblr adapter (see ``tests/platforms/__init__.py``)."""

from __future__ import annotations

from typing import Any

from adapters.base import make_session
from adapters.tumblr.client import TumblrAdapter
from bot.errors import AuthError, OutcomeUnknownError, PostRejectedError, RateLimitedError
from bot.model import Post
from tests.fakes.tumblr_api import FakeTumblr
from tests.platforms import Failure

PLATFORM = "tumblr"
BLOG = "feedrelay-test"
USER = "feedrelay-user"
CONSUMER_KEY = "ck-tumblr-7Qx2fLm9"
CONSUMER_SECRET = "cs-tumblr-Vb81KpZr3w"
OAUTH_TOKEN = "ot-tumblr-Hs4nD0qE"
OAUTH_TOKEN_SECRET = "ots-tumblr-Wy6cJ2uT5a"
SECRETS = (CONSUMER_KEY, CONSUMER_SECRET, OAUTH_TOKEN, OAUTH_TOKEN_SECRET)

# The contract builds the adapter before arranging a failure, so every test adapter gets a
# short read timeout; READ_TIMEOUT_DELAY_S outlasts it.
TEST_TIMEOUT_S = {"connect_timeout": 2.0, "read_timeout": 1.0}
READ_TIMEOUT_DELAY_S = 2.5


def start_fake(**options: Any) -> FakeTumblr:
    defaults: dict[str, Any] = {
        "consumer_key": CONSUMER_KEY,
        "consumer_secret": CONSUMER_SECRET,
        "token_secret": OAUTH_TOKEN_SECRET,
        "user": USER,
        "blogs": (BLOG,),
    }
    return FakeTumblr(**(defaults | options)).start()


def make_adapter(fake: FakeTumblr, **options: Any) -> TumblrAdapter:
    defaults: dict[str, Any] = {
        "target": "t",
        "blog": BLOG,
        "consumer_key": CONSUMER_KEY,
        "consumer_secret": CONSUMER_SECRET,
        "oauth_token": OAUTH_TOKEN,
        "oauth_token_secret": OAUTH_TOKEN_SECRET,
        "api_base": fake.url,
        "session": make_session(**TEST_TIMEOUT_S),
    }
    return TumblrAdapter(**(defaults | options))


def sample_post() -> Post:
    return Post(
        text="New on the blog: Hello, Tumblr",
        link="https://blog.example/2025/06/hello-tumblr.html",
        title="Hello, Tumblr",
        description="Why FeedRelay now cross-posts to Tumblr.",
        tags=("feedrelay", "python"),
        slug="hello-tumblr",
    )


def accepted(fake: FakeTumblr) -> list[dict[str, Any]]:
    return list(fake.posts)


FAILURES = [
    Failure(
        "daily-post-limit-8023",
        lambda fake: fake.fail_next(403, 8023),
        RateLimitedError,
        says="daily post limit",
    ),
    Failure("queue-full-8022", lambda fake: fake.fail_next(403, 8022), PostRejectedError, "Queue"),
    Failure(
        "limit-exceeded-429", lambda fake: fake.fail_next(429), RateLimitedError, "Limit Exceeded"
    ),
    Failure("unauthorized-401", lambda fake: fake.fail_next(401), AuthError, "Unauthorized"),
    Failure("forbidden-403", lambda fake: fake.fail_next(403), AuthError, "Forbidden"),
    Failure(
        "invalid-npf-400-8001",
        lambda fake: fake.fail_next(400, 8001),
        PostRejectedError,
        says="Oh no! There was an error processing your request.",
    ),
    Failure("blog-not-found-404", lambda fake: fake.fail_next(404), PostRejectedError, "404"),
    Failure("unavailable-503", lambda fake: fake.fail_next(503), OutcomeUnknownError, "503"),
    Failure(
        "read-timeout",
        lambda fake: fake.delay_next(READ_TIMEOUT_DELAY_S),
        OutcomeUnknownError,
    ),
    Failure("dropped-after-send", lambda fake: fake.drop_next(), OutcomeUnknownError),
]


ENV = {
    "TUMBLR_CONSUMER_KEY": CONSUMER_KEY,
    "TUMBLR_CONSUMER_SECRET": CONSUMER_SECRET,
    "TUMBLR_OAUTH_TOKEN": OAUTH_TOKEN,
    "TUMBLR_OAUTH_TOKEN_SECRET": OAUTH_TOKEN_SECRET,
}
CREATE = ("POST", "/v2/blog/[^/]+/posts")


def target_table(api_base: str, name: str) -> str:
    return f"""[targets.{name}]
platform = "tumblr"
blog = "{BLOG}"
tags = ["from-feedrelay"]
consumer_key = "${{TUMBLR_CONSUMER_KEY}}"
consumer_secret = "${{TUMBLR_CONSUMER_SECRET}}"
oauth_token = "${{TUMBLR_OAUTH_TOKEN}}"
oauth_token_secret = "${{TUMBLR_OAUTH_TOKEN_SECRET}}"
api_base = "{api_base}"
"""


def posted_links(fake: FakeTumblr) -> list[str]:
    return [str(post["source_url"]) for post in fake.posts]
