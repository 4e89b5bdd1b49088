"""What the core knows about Bluesky: settings, limits, rendering (free to post).

Imports no platform library: the client (``adapters.bluesky.client``, over ``atproto`` and
Pillow) is loaded only when a configured target is opened.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Literal, Self

from pydantic import Field, SecretStr, field_validator, model_validator

from adapters.api import (
    Adapter,
    Between,
    Limits,
    Memory,
    PlatformSpec,
    TargetSettings,
    TemplateStr,
)
from adapters.bluesky import setup
from adapters.bluesky.render import (
    MAX_CARD_TITLE,
    MAX_GRAPHEMES,
    MAX_LANGS,
    BlueskyOptions,
    describe_bluesky,
    grapheme_count,
    render_bluesky,
    truncate_graphemes,
)

if TYPE_CHECKING:
    import requests

# 300 graphemes (and 3,000 bytes, which render keeps too); one image: the card's thumbnail.
LIMITS = Limits(
    max_text=MAX_GRAPHEMES,
    count=grapheme_count,
    counting="graphemes",
    truncate=truncate_graphemes,
    max_title=MAX_CARD_TITLE,
    max_media=1,
)
_LANGUAGE = re.compile(r"[a-zA-Z]{2,3}(-[a-zA-Z0-9]{1,8})*")


class BlueskyTarget(TargetSettings):
    platform: Literal["bluesky"]
    handle: str = Field(min_length=1)
    app_password: SecretStr
    # The account's PDS (its XRPC host); bsky.social sends each account on to its own.
    service: str | None = None
    template: TemplateStr = "{title} {url} {hashtags}"
    langs: list[str] = Field(default_factory=list, max_length=MAX_LANGS)
    max_hashtags: Annotated[int, Between(0, 100)] = 3
    hashtags_allow: list[str] | None = None
    hashtags_deny: list[str] = Field(default_factory=list)
    hashtags_rename: dict[str, str] = Field(default_factory=dict)

    @field_validator("handle")
    @classmethod
    def _handle(cls, value: str) -> str:
        return setup.handle_of(value)

    @field_validator("service")
    @classmethod
    def _service(cls, value: str | None) -> str | None:
        if value is not None and not re.match(r"^https?://[^/\s]+", value):
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/") if value else value

    @field_validator("langs")
    @classmethod
    def _langs(cls, value: list[str]) -> list[str]:
        for lang in value:
            if not _LANGUAGE.fullmatch(lang):
                raise ValueError(f"{lang!r} is not a language tag (as in en, pt-BR)")
        return value

    @model_validator(mode="after")
    def _one_host(self) -> Self:
        if self.service and self.api_base and self.service != self.api_base:
            raise ValueError("give service (the account's PDS) or api_base, not both")
        return self

    def host(self) -> str:
        """The XRPC host logins go to: ``service``, else ``api_base``, else bsky.social."""
        return self.service or self.api_base or setup.DEFAULT_SERVICE

    def destination(self) -> dict[str, str | None]:
        handle = self.handle
        return {"account": handle if handle.startswith("did:") else f"@{handle}"}


def options(settings: TargetSettings) -> BlueskyOptions:
    """The rendering options of one Bluesky target."""
    target = BlueskyTarget.of(settings)
    return BlueskyOptions(
        template=target.template,
        max_hashtags=target.max_hashtags,
        hashtags_allow=target.hashtags_allow,
        hashtags_deny=target.hashtags_deny,
        hashtags_rename=target.hashtags_rename,
        image=target.image,
    )


def connect(
    name: str, settings: TargetSettings, session: requests.Session | None, memory: Memory
) -> Adapter:
    """The adapter of one Bluesky target (imports atproto). ``session`` is unused: the SDK
    talks HTTP through its own httpx client."""
    from adapters.bluesky.client import BlueskyAdapter

    target = BlueskyTarget.of(settings)
    return BlueskyAdapter(
        target=name,
        handle=target.handle,
        app_password=target.app_password.get_secret_value(),
        service=target.host(),
        langs=tuple(target.langs),
        memory=memory,
    )


SPEC = PlatformSpec(
    name="bluesky",
    settings_model=BlueskyTarget,
    limits=LIMITS,
    options=options,
    wording=(
        "template",
        "max_hashtags",
        "hashtags_allow",
        "hashtags_deny",
        "hashtags_rename",
    ),
    render=render_bluesky,
    describe=describe_bluesky,
    connect=connect,
    # setting up
    display_name="Bluesky",
    aliases=("bsky",),
    questions=setup.QUESTIONS,
    target_lines=setup.target_lines,
    credentials=setup.CREDENTIALS,
    auth=setup.AUTH,
    quiet_loggers=setup.QUIET_LOGGERS,
)
