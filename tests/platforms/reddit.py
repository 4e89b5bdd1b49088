"""Contract hooks for Reddit: the real praw against ``tests.fakes.reddit_api.FakeReddit``."""

from __future__ import annotations

from typing import Any

from adapters.base import make_session
from adapters.reddit.client import RedditAdapter
from bot.errors import (
    AuthError,
    DuplicatePostError,
    OutcomeUnknownError,
    PostRejectedError,
    RateLimitedError,
    TransientError,
)
from bot.model import Post
from tests.fakes.reddit_api import API_ERRORS, FakeReddit
from tests.platforms import Failure

PLATFORM = "reddit"
SUBREDDIT = "feedrelaytest"
CLIENT_ID = "fr-client-id-7Qx"
CLIENT_SECRET = "fr-client-secret-9Zk"
USERNAME = "feedrelaybot"
PASSWORD = "fr-password-3Hv"
REFRESH_TOKEN = "fr-refresh-token-5Tn"
ACCESS_TOKEN = "fr-access-token-1Wm"
SECRETS = (CLIENT_ID, CLIENT_SECRET, PASSWORD, REFRESH_TOKEN, ACCESS_TOKEN)
# Short enough to keep a read-timeout test fast, long enough for a loopback answer.
TIMEOUT = {"connect_timeout": 1.0, "read_timeout": 1.0}


def start_fake() -> FakeReddit:
    return FakeReddit(
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        username=USERNAME,
        password=PASSWORD,
        refresh_token=REFRESH_TOKEN,
        access_token=ACCESS_TOKEN,
    ).start()


def make_adapter(fake: FakeReddit, **options: Any) -> RedditAdapter:
    settings: dict[str, Any] = {
        "target": "t",
        "subreddit": SUBREDDIT,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "username": USERNAME,
        "password": PASSWORD,
        "api_base": fake.url,
        "session": make_session(**TIMEOUT),
    }
    settings.update(options)
    return RedditAdapter(**settings)


def sample_post() -> Post:
    return Post(
        title="Hello from FeedRelay",
        link="https://blog.example.com/2026/01/hello-from-feedrelay.html",
    )


def accepted(fake: FakeReddit) -> list[dict[str, Any]]:
    return list(fake.submissions)


def _api_error(error_type: str, expected: type[Any]) -> Failure:
    message = API_ERRORS.get(error_type, ("",))[0]
    return Failure(
        f"api-{error_type.lower()}",
        lambda fake: fake.fail_next_submit(error_type),
        expected,
        says=f"{error_type}: {message}" if message else error_type,
    )


FAILURES = [
    _api_error("RATELIMIT", RateLimitedError),
    _api_error("ALREADY_SUB", DuplicatePostError),
    *(
        _api_error(error_type, PostRejectedError)
        for error_type in (
            "SUBMIT_VALIDATION_FLAIR_REQUIRED",
            "NO_LINKS",
            "NO_SELFS",
            "SUBREDDIT_NOTALLOWED",
            "DOMAIN_BANNED",
            "BAD_URL",
            "TOO_LONG",
        )
    ),
    Failure(
        "api-unknown-type",
        lambda fake: fake.fail_next_submit("SOMETHING_NEW", "a rule nobody told us about", "x"),
        PostRejectedError,
        says="SOMETHING_NEW: a rule nobody told us about",
    ),
    Failure(
        "already-submitted-for-real",
        lambda fake: fake.add_existing(title="Earlier", url=sample_post().link),
        DuplicatePostError,
        says="that link has already been submitted",
    ),
    Failure(
        "token-401-wrong-app-credentials",
        lambda fake: fake.fail_next(401, {"message": "Unauthorized", "error": 401}, on="token"),
        AuthError,
        says="Unauthorized",
    ),
    Failure(
        "token-invalid-grant",
        lambda fake: setattr(fake, "password", "changed-on-reddit"),
        AuthError,
        says="invalid_grant",
    ),
    Failure("token-502", lambda fake: fake.fail_next(502, on="token"), TransientError),
    Failure("token-dropped", lambda fake: fake.drop_next(on="token"), TransientError),
    Failure("submit-403", lambda fake: fake.fail_next(403), AuthError, says=f"r/{SUBREDDIT}"),
    Failure("submit-404", lambda fake: fake.fail_next(404), PostRejectedError, says="not found"),
    Failure(
        "submit-401-invalid-token",
        lambda fake: fake.fail_next(401, {"message": "Unauthorized", "error": 401}),
        TransientError,
    ),
    Failure(
        "submit-429",
        lambda fake: fake.fail_next(429, headers={"retry-after": "30"}),
        RateLimitedError,
        says="429",
    ),
    Failure("submit-500", lambda fake: fake.fail_next(500), OutcomeUnknownError, says="500"),
    Failure("submit-503", lambda fake: fake.fail_next(503), OutcomeUnknownError, says="503"),
    Failure(
        "submit-500-after-accepting",
        lambda fake: fake.accept_then_fail_next(500),
        OutcomeUnknownError,
    ),
    Failure(
        "submit-read-timeout",
        lambda fake: fake.delay_next(TIMEOUT["read_timeout"] + 1.0),
        OutcomeUnknownError,
    ),
    Failure("submit-dropped", lambda fake: fake.drop_next(), OutcomeUnknownError),
    Failure(
        "submit-unreadable-200",
        lambda fake: fake.fail_next(200, "<html>upstream hiccup</html>"),
        OutcomeUnknownError,
    ),
]


ENV = {
    "REDDIT_CLIENT_ID": CLIENT_ID,
    "REDDIT_CLIENT_SECRET": CLIENT_SECRET,
    "REDDIT_PASSWORD": PASSWORD,
}
CREATE = ("POST", "/api/submit/")


def target_table(api_base: str, name: str) -> str:
    return f"""[targets.{name}]
platform = "reddit"
subreddit = "{SUBREDDIT}"
client_id = "${{REDDIT_CLIENT_ID}}"
client_secret = "${{REDDIT_CLIENT_SECRET}}"
username = "{USERNAME}"
password = "${{REDDIT_PASSWORD}}"
api_base = "{api_base}"
"""


def posted_links(fake: FakeReddit) -> list[str]:
    return [str(submission["url"]) for submission in fake.submissions]
