"""What the core knows about webhooks: settings, rendering (the JSON body), no limits.

Imports no platform library: the client (``adapters.webhook.client``, over the
``standardwebhooks`` signer) is loaded only when a configured target is opened.
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import TYPE_CHECKING, Annotated, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from adapters.api import (
    Adapter,
    Between,
    Limits,
    Memory,
    PlatformSpec,
    TargetSettings,
)
from adapters.webhook import setup
from adapters.webhook.render import (
    SUMMARY_CHARS,
    WebhookOptions,
    describe_webhook,
    render_webhook,
)

if TYPE_CHECKING:
    import requests

# A webhook has no length limits; the image goes by URL in the body, never downloaded
# (max_media 0: the core fetches nothing for it).
LIMITS = Limits()
SECRET_PREFIX = "whsec_"
# Standard Webhooks: a symmetric secret is random, between 24 and 64 bytes.
MIN_SECRET_BYTES = 24
MAX_SECRET_BYTES = 64
# Headers FeedRelay sets itself on every delivery.
OWN_HEADERS = frozenset(
    {"webhook-id", "webhook-timestamp", "webhook-signature", "content-type", "content-length",
     "host", "transfer-encoding"}
)  # fmt: skip
_UNSET = re.compile(r"^<\w+ not set>$")
_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


def secret_bytes(secret: str) -> bytes:
    """The key of a ``whsec_`` + base64 secret (the prefix may be left out); ``ValueError``
    saying what is wrong, never showing the secret."""
    encoded = secret.strip().removeprefix(SECRET_PREFIX)
    try:
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(
            "must be whsec_ followed by base64 (make one: see docs/webhooks.md)"
        ) from None
    if not MIN_SECRET_BYTES <= len(key) <= MAX_SECRET_BYTES:
        raise ValueError(
            f"holds {len(key)} bytes; Standard Webhooks secrets hold {MIN_SECRET_BYTES} to"
            f" {MAX_SECRET_BYTES} random bytes (make one: see docs/webhooks.md)"
        )
    return key


def origin(url: str) -> str:
    """``scheme://host[:port]`` of ``url``: what messages name (a path may hold a token)."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


class WebhookTarget(TargetSettings):
    platform: Literal["webhook"]
    url: str = Field(min_length=1)
    secret: SecretStr
    headers: dict[str, SecretStr] = Field(default_factory=dict)
    summary_chars: Annotated[int, Between(0, 100_000)] = SUMMARY_CHARS
    # What `check --online` does: a HEAD request to the URL, or nothing.
    check: Literal["head", "none"] = "head"

    @field_validator("url")
    @classmethod
    def _webhook_url(cls, value: str) -> str:
        return setup.webhook_url(value)

    @field_validator("api_base")
    @classmethod
    def _no_api_base(cls, value: str | None) -> str | None:
        if value is not None:
            raise ValueError("a webhook has no API host: its whole address is url")
        return value

    @field_validator("secret")
    @classmethod
    def _standard_secret(cls, value: SecretStr) -> SecretStr:
        # `init` and `auth` check a config whose variables may be unset: the loader then
        # puts "<NAME not set>" there, which is not the operator's mistake.
        if not _UNSET.match(value.get_secret_value()):
            secret_bytes(value.get_secret_value())
        return value

    @field_validator("headers")
    @classmethod
    def _plain_headers(cls, value: dict[str, SecretStr]) -> dict[str, SecretStr]:
        for name, header in value.items():
            if not _TOKEN.match(name):
                raise ValueError(f"{name!r} is not a header name")
            if name.lower() in OWN_HEADERS:
                raise ValueError(f"{name} is set by FeedRelay on every delivery")
            if any(c in header.get_secret_value() for c in "\r\n\0"):
                raise ValueError(f"the value of {name} holds a line break")
        return value

    def credentials(self) -> dict[str, str]:
        """The secret, the header values, and the URL (which may carry a token): they are
        kept out of messages, and a change to any of them lifts a pause (a 410 Gone, a
        refused token)."""
        found = super().credentials()
        found["url"] = self.url
        for name, value in self.headers.items():
            found[f"headers.{name}"] = value.get_secret_value()
        return found

    def destination(self) -> dict[str, str | None]:
        return {"account": None, "receiver": origin(self.url)}


def options(settings: TargetSettings) -> WebhookOptions:
    """The rendering options of one webhook target."""
    target = WebhookTarget.of(settings)
    return WebhookOptions(summary_chars=target.summary_chars, image=target.image)


def connect(
    name: str, settings: TargetSettings, session: requests.Session | None, memory: Memory
) -> Adapter:
    """The adapter of one webhook target (imports standardwebhooks)."""
    from adapters.webhook.client import WebhookAdapter

    target = WebhookTarget.of(settings)
    return WebhookAdapter(
        target=name,
        url=target.url,
        secret=target.secret.get_secret_value(),
        headers={k: v.get_secret_value() for k, v in target.headers.items()},
        check=target.check,
        session=session,
    )


SPEC = PlatformSpec(
    name="webhook",
    settings_model=WebhookTarget,
    limits=LIMITS,
    # The receiver drops a repeated webhook-id (Standard Webhooks), and every retry of a
    # delivery carries the same one: sending again is how an unknown outcome is settled.
    resend_is_safe=True,
    options=options,
    wording=("summary_chars",),
    render=render_webhook,
    describe=describe_webhook,
    connect=connect,
    # setting up
    display_name="Webhook",
    aliases=("webhooks",),
    questions=setup.QUESTIONS,
    target_lines=setup.target_lines,
    credentials=setup.CREDENTIALS,
)
