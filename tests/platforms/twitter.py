"""Contract hooks for the X adapter against ``FakeX`` (see ``tests/platforms/__init__.py``)."""

from __future__ import annotations

from typing import Any

from adapters.base import make_session
from adapters.twitter.client import TwitterAdapter
from bot.errors import (
    AuthError,
    DuplicatePostError,
    OutcomeUnknownError,
    PostRejectedError,
    RateLimitedError,
)
from bot.model import Post
from tests.fakes.x_api import DUPLICATE_DETAIL, FakeX
from tests.platforms import Failure

PLATFORM = "twitter"

CONSUMER_KEY = "ck-Zq8c4VYtTf3xR2mW"
CONSUMER_SECRET = "cs-9bL1nQpXe5Hd7Kj0uYwRtZa3Vc6Sg2Mf"
ACCESS_TOKEN = "1600000000000000001-at7GkWq2LpZx9Rb4NcVd"
ACCESS_TOKEN_SECRET = "ats-Ye4Hn8Tq1Bw6Xk3Jm0Pz5Rc7Lv2Sd9Gf"
SECRETS = (CONSUMER_KEY, CONSUMER_SECRET, ACCESS_TOKEN, ACCESS_TOKEN_SECRET)

# Short enough that the read-timeout case stays fast, long enough for a loopback answer.
TIMEOUT = {"connect_timeout": 1.0, "read_timeout": 0.5}
SLOWER_THAN_TIMEOUT = 1.5


def start_fake() -> FakeX:
    fake = FakeX(
        consumer_key=CONSUMER_KEY,
        consumer_secret=CONSUMER_SECRET,
        access_token=ACCESS_TOKEN,
        access_token_secret=ACCESS_TOKEN_SECRET,
    )
    fake.start()
    return fake


def make_adapter(fake: FakeX, **options: Any) -> TwitterAdapter:
    options.setdefault("session", make_session(**TIMEOUT))
    credentials = {
        "consumer_key": CONSUMER_KEY,
        "consumer_secret": CONSUMER_SECRET,
        "access_token": ACCESS_TOKEN,
        "access_token_secret": ACCESS_TOKEN_SECRET,
    }
    return TwitterAdapter(**{"target": "t", "api_base": fake.url, **credentials, **options})


def sample_post() -> Post:
    return Post(text="New on the blog: Exactly once, at last https://example.org/2026/05/once")


def accepted(fake: FakeX) -> list[dict[str, Any]]:
    return list(fake.tweets)


def _user_day_exhausted(fake: FakeX) -> None:
    fake.exhaust_user_window(reset_in=6 * 3600)


FAILURES = [
    Failure(
        "duplicate-403",
        lambda fake: fake.seed_tweet(sample_post().text),
        DuplicatePostError,
        says=DUPLICATE_DETAIL,
    ),
    Failure(
        "permission-403",
        lambda fake: fake.fail_next(403),
        AuthError,
        says="You are not permitted to perform this action.",
    ),
    Failure("unauthorized-401", lambda fake: fake.fail_next(401), AuthError, says="Unauthorized"),
    Failure(
        "rate-limited-429",
        lambda fake: fake.fail_next(429, reset_in=300),
        RateLimitedError,
        says="Too Many Requests",
    ),
    Failure(
        "user-24h-window-429",
        _user_day_exhausted,
        RateLimitedError,
        says="Too Many Requests",
    ),
    Failure(
        "invalid-400",
        lambda fake: fake.fail_next(400),
        PostRejectedError,
        says="Tweet text is too long.",
    ),
    Failure(
        "unavailable-503",
        lambda fake: fake.fail_next(503),
        OutcomeUnknownError,
        says="Service Unavailable",
    ),
    Failure(
        "read-timeout-after-send",
        lambda fake: fake.delay_next(SLOWER_THAN_TIMEOUT),
        OutcomeUnknownError,
    ),
]


ENV = {
    "X_CONSUMER_KEY": CONSUMER_KEY,
    "X_CONSUMER_SECRET": CONSUMER_SECRET,
    "X_ACCESS_TOKEN": ACCESS_TOKEN,
    "X_ACCESS_TOKEN_SECRET": ACCESS_TOKEN_SECRET,
}
CREATE = ("POST", "/2/tweets")


def target_table(api_base: str, name: str) -> str:
    """An X target whose posts end with the entry's link (X shows only the text)."""
    return f"""[targets.{name}]
platform = "twitter"
consumer_key = "${{X_CONSUMER_KEY}}"
consumer_secret = "${{X_CONSUMER_SECRET}}"
access_token = "${{X_ACCESS_TOKEN}}"
access_token_secret = "${{X_ACCESS_TOKEN_SECRET}}"
api_base = "{api_base}"
template = "{{title}} {{url}}"
"""


def posted_links(fake: FakeX) -> list[str]:
    return [str(tweet["text"]).split(" ")[-1] for tweet in fake.tweets]
