"""Contract hooks for the example echo platform (``examples/plugin-echo``, installed as its
own distribution; see ``tests/platforms/__init__.py``)."""

from __future__ import annotations

from typing import Any

import adapters
from adapters.base import make_session
from bot.errors import AuthError, OutcomeUnknownError, PostRejectedError, RateLimitedError
from bot.model import Post
from tests.fakes.echo_api import FakeEcho
from tests.platforms import Failure

PLATFORM = "echo"
TOKEN = "echo-token-4Rk9Wq2Lm"
SECRETS = (TOKEN,)
ENV = {"ECHO_TOKEN": TOKEN}
CREATE = ("POST", "/hooks/posts")
TIMEOUT = {"connect_timeout": 1.0, "read_timeout": 0.5}


def start_fake() -> FakeEcho:
    fake = FakeEcho(token=TOKEN)
    fake.start()
    return fake


def make_adapter(fake: FakeEcho, **options: Any) -> Any:
    spec = adapters.spec(PLATFORM)
    settings = spec.settings_model.model_validate(
        {"platform": PLATFORM, "url": fake.endpoint, "token": options.pop("token", TOKEN)}
    )
    return spec.open("t", settings, session=make_session(**TIMEOUT))


def target_table(api_base: str, name: str) -> str:
    return f"""[targets.{name}]
platform = "echo"
url = "{api_base}/hooks/posts"
token = "${{ECHO_TOKEN}}"
"""


def posted_links(fake: FakeEcho) -> list[str]:
    return [str(post["link"]) for post in fake.posts]


def sample_post() -> Post:
    return Post(text="Hello, echo https://blog.example/hello", link="https://blog.example/hello")


def accepted(fake: FakeEcho) -> list[dict[str, Any]]:
    return list(fake.posts)


FAILURES = [
    Failure("unauthorized-401", lambda fake: fake.fail_next(401), AuthError, "refused the token"),
    Failure("bad-request-400", lambda fake: fake.fail_next(400), PostRejectedError, "400"),
    Failure(
        "slow-down-429",
        lambda fake: fake.fail_next(429, {"Retry-After": "30"}),
        RateLimitedError,
        "slow down",
    ),
    Failure("unavailable-503", lambda fake: fake.fail_next(503), OutcomeUnknownError, "503"),
    Failure("read-timeout", lambda fake: fake.delay_next(1.5), OutcomeUnknownError),
    Failure("dropped-after-send", lambda fake: fake.drop_next(), OutcomeUnknownError),
]
