"""Contract hooks for the webhook adapter (see ``tests/platforms/__init__.py``).

The receiver drops a repeated ``webhook-id``: "went out once" means ``accepted`` (what it
took, each delivery once) has each entry once, and every repeat carried a ``webhook-id`` it
had taken, with the same body (``fake.repeats``).
"""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from adapters.base import make_session
from adapters.webhook.client import WebhookAdapter
from adapters.webhook.render import WebhookOptions, render_webhook
from adapters.webhook.spec import LIMITS
from bot.errors import (
    AuthError,
    OutcomeUnknownError,
    PostRejectedError,
    RateLimitedError,
    TransientError,
)
from bot.model import Entry, Image, Post
from tests.fakes.webhook_receiver import FakeReceiver
from tests.platforms import Failure

PLATFORM = "webhook"
PATH = "/hooks/blog"
SECRET = "whsec_" + base64.b64encode(bytes(range(7, 7 + 24))).decode()
HOOK_TOKEN = "hook-token-Qm4xV8rZ2p"
SECRETS = (SECRET, HOOK_TOKEN)
ENV = {"WEBHOOK_SECRET": SECRET, "HOOK_TOKEN": HOOK_TOKEN}
HEADERS = {"Authorization": f"Bearer {HOOK_TOKEN}"}

TEST_TIMEOUT_S = {"connect_timeout": 2.0, "read_timeout": 1.0}
READ_TIMEOUT_DELAY_S = 2.5

CREATE = ("POST", PATH)


def start_fake(**options: Any) -> FakeReceiver:
    defaults: dict[str, Any] = {"secret": SECRET, "path": PATH, "headers": HEADERS}
    return FakeReceiver(**(defaults | options)).start()


def make_adapter(fake: FakeReceiver, **options: Any) -> WebhookAdapter:
    defaults: dict[str, Any] = {
        "target": "t",
        "url": fake.url + PATH,
        "secret": SECRET,
        "headers": HEADERS,
        "session": make_session(**TEST_TIMEOUT_S),
    }
    return WebhookAdapter(**(defaults | options))


def target_table(api_base: str, name: str) -> str:
    return f"""[targets.{name}]
platform = "webhook"
url = "{api_base}{PATH}"
secret = "${{WEBHOOK_SECRET}}"
headers = {{ Authorization = "Bearer ${{HOOK_TOKEN}}" }}
"""


def posted_links(fake: FakeReceiver) -> list[str]:
    return fake.links()


SAMPLE_ENTRY = Entry(
    feed="blog",
    key="tag:blog.example,2025:post-1",
    title="Hello, webhooks",
    link="https://blog.example/2025/06/hello-webhooks.html",
    summary_html="<p>Why FeedRelay now <b>signs</b> what it sends.</p>",
    labels=("feedrelay", "python"),
    author="Ada",
    feed_title="A blog",
    published_at=datetime(2025, 6, 1, 9, 30, tzinfo=UTC),
    images=(Image(url="https://blog.example/img/cover.png", alt="A cover"),),
)


def sample_post() -> Post:
    return render_webhook(SAMPLE_ENTRY, WebhookOptions(), LIMITS).post


def accepted(fake: FakeReceiver) -> list[dict[str, Any]]:
    return list(fake.accepted)


FAILURES = [
    Failure("gone-410", lambda fake: fake.fail_next(410), AuthError, "the receiver is gone"),
    Failure("unauthorized-401", lambda fake: fake.fail_next(401), AuthError, "401"),
    Failure("forbidden-403", lambda fake: fake.fail_next(403), AuthError, "403"),
    Failure(
        "moved-308",
        lambda fake: fake.fail_next(308, headers={"Location": "https://new.example/hook"}),
        AuthError,
        "moved to https://new.example/hook",
    ),
    Failure(
        "too-many-429",
        lambda fake: fake.fail_next(429, headers={"Retry-After": "120"}),
        RateLimitedError,
        "429",
    ),
    Failure(
        "unavailable-503-retry-after",
        lambda fake: fake.fail_next(503, headers={"Retry-After": "60"}),
        RateLimitedError,
        "503",
    ),
    Failure("server-error-500", lambda fake: fake.fail_next(500), TransientError, "500"),
    Failure("bad-gateway-502", lambda fake: fake.fail_next(502), TransientError, "502"),
    Failure("not-found-404", lambda fake: fake.fail_next(404), TransientError, "404"),
    Failure("bad-request-400", lambda fake: fake.fail_next(400), PostRejectedError, "400"),
    Failure("too-large-413", lambda fake: fake.fail_next(413), PostRejectedError, "413"),
    Failure(
        "read-timeout", lambda fake: fake.delay_next(READ_TIMEOUT_DELAY_S), OutcomeUnknownError
    ),
    Failure("dropped-after-send", lambda fake: fake.drop_next(), OutcomeUnknownError),
]
