"""Contract hooks for the Bluesky adapter against ``FakeBluesky`` (see
``tests/platforms/__init__.py``)."""

from __future__ import annotations

from typing import Any

from adapters.api import LocalMemory
from adapters.bluesky.client import BlueskyAdapter
from bot.errors import AuthError, OutcomeUnknownError, PostRejectedError, RateLimitedError
from bot.model import Post
from tests.fakes.bluesky_api import CREATE as CREATE_METHOD
from tests.fakes.bluesky_api import FakeBluesky
from tests.platforms import Failure

PLATFORM = "bluesky"
HANDLE = "feedrelay.bsky.social"
DID = "did:plc:feedrelaytest2bsky7kq3"
APP_PASSWORD = "fr-bsky-apppw-4Kx9-Qm2t"
SECRETS = (APP_PASSWORD,)
ENV = {"BLUESKY_APP_PASSWORD": APP_PASSWORD}
# A fixed record key: every sample_post() is the same post (a TID, as render makes them).
SAMPLE_RKEY = "3lbqd2yxkxk2a"
CREATE = ("POST", r"/xrpc/com\.atproto\.repo\.createRecord")

TIMEOUT = {"connect_timeout": 1.0, "read_timeout": 0.5}
SLOWER_THAN_TIMEOUT = 1.5


def start_fake(**options: Any) -> FakeBluesky:
    defaults: dict[str, Any] = {"handle": HANDLE, "did": DID, "app_password": APP_PASSWORD}
    return FakeBluesky(**(defaults | options)).start()


def make_adapter(fake: FakeBluesky, **options: Any) -> BlueskyAdapter:
    defaults: dict[str, Any] = {
        "target": "t",
        "handle": HANDLE,
        "app_password": APP_PASSWORD,
        "service": fake.url,
        "langs": ("en",),
        "memory": LocalMemory(),
        **TIMEOUT,
    }
    return BlueskyAdapter(**(defaults | options))


def target_table(api_base: str, name: str = "bsky") -> str:
    return f"""[targets.{name}]
platform = "bluesky"
handle = "{HANDLE}"
app_password = "${{BLUESKY_APP_PASSWORD}}"
service = "{api_base}"
langs = ["en"]
"""


def posted_links(fake: FakeBluesky) -> list[str]:
    """The entry link of every post the fake accepted: its card's, else its first link facet's."""
    links: list[str] = []
    for made in fake.created:
        value = made["value"]
        external = (value.get("embed") or {}).get("external") or {}
        uri = external.get("uri")
        if not uri:
            features = [f for facet in value.get("facets") or [] for f in facet["features"]]
            uri = next((f["uri"] for f in features if "uri" in f), "")
        links.append(uri)
    return links


def sample_post() -> Post:
    return Post(
        text="Hello, Bluesky https://blog.example/2025/06/hello-bluesky.html #FeedRelay",
        link="https://blog.example/2025/06/hello-bluesky.html",
        title="Hello, Bluesky",
        description="Why FeedRelay now cross-posts to Bluesky.",
        tags=("#FeedRelay",),
        slug=SAMPLE_RKEY,
    )


def accepted(fake: FakeBluesky) -> list[dict[str, Any]]:
    return list(fake.created)


def _unreachable_pds(fake: FakeBluesky) -> None:
    fake.fail_next(502, "UpstreamFailure", "Upstream Failure")


FAILURES = [
    Failure(
        "invalid-record-400",
        lambda fake: fake.fail_next(
            400,
            "InvalidRequest",
            "Invalid app.bsky.feed.post record: Record/text must not be longer",
        ),
        PostRejectedError,
        says="Invalid app.bsky.feed.post record",
    ),
    Failure(
        "blob-too-large-400",
        lambda fake: fake.fail_next(400, "BlobTooLarge", "This file is too large."),
        PostRejectedError,
        says="BlobTooLarge",
    ),
    Failure(
        "rate-limited-429",
        lambda fake: fake.fail_next(
            429,
            "RateLimitExceeded",
            "Rate Limit Exceeded",
            headers={"RateLimit-Reset": "4102444800"},
        ),
        RateLimitedError,
        says="Rate Limit Exceeded",
    ),
    Failure(
        "login-rate-limited-429",
        lambda fake: setattr(fake, "login_limit", 0),
        RateLimitedError,
        says="logins are limited",
    ),
    Failure(
        "wrong-app-password-401",
        lambda fake: setattr(fake, "app_password", "another-password"),
        AuthError,
        says="Invalid identifier or password",
    ),
    Failure(
        "auth-required-401",
        lambda fake: fake.fail_next(401, "AuthenticationRequired", "Authentication Required"),
        AuthError,
        says="Authentication Required",
    ),
    Failure(
        "takedown-401",
        lambda fake: fake.fail_next(401, "AccountTakedown", "Account has been taken down"),
        AuthError,
        says="AccountTakedown",
    ),
    Failure(
        "existing-key-500",
        lambda fake: fake.fail_next(500, "InternalServerError", "Internal Server Error"),
        OutcomeUnknownError,
        says="InternalServerError",
    ),
    Failure("upstream-502", _unreachable_pds, OutcomeUnknownError, says="502"),
    Failure("read-timeout", lambda fake: fake.delay_next(SLOWER_THAN_TIMEOUT), OutcomeUnknownError),
    Failure("dropped-after-send", lambda fake: fake.drop_next(), OutcomeUnknownError),
]

__all__ = [
    "CREATE",
    "CREATE_METHOD",
    "ENV",
    "FAILURES",
    "PLATFORM",
    "SECRETS",
    "accepted",
    "make_adapter",
    "posted_links",
    "sample_post",
    "start_fake",
    "target_table",
]
