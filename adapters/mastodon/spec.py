"""What the core knows about Mastodon: settings, limits, rendering.

Imports no platform library: the client (``adapters.mastodon.client``, over Mastodon.py) is
loaded only when a configured target is opened.

The text limit is the instance's own (``/api/v2/instance``: ``max_characters``, 500 by
default, and ``characters_reserved_per_url``, 23). ``Limits`` is static, so the spec declares
Mastodon's defaults; a target on an instance that allows more says so with
``max_characters``, and the render fills that. The client reads the instance's real numbers
once (kept a day in the target's memory) and refuses, before sending, a status the instance
would refuse.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, SecretStr, field_validator

from adapters.api import (
    Adapter,
    Between,
    Limits,
    Memory,
    PlatformSpec,
    TargetSettings,
    TemplateStr,
)
from adapters.mastodon import setup
from adapters.mastodon.render import MastodonOptions, describe_mastodon, render_mastodon
from adapters.mastodon.text import status_length, truncate_status

if TYPE_CHECKING:
    import requests

DEFAULT_MAX_CHARACTERS = 500
LIMITS = Limits(
    max_text=DEFAULT_MAX_CHARACTERS,
    count=status_length,
    counting="graphemes, URLs as 23",
    truncate=truncate_status,
    max_media=4,
)
VISIBILITIES = ("public", "unlisted", "private", "direct")


def instance_url(value: str) -> str:
    """An instance as ``https://host`` (a bare host gets https), without a trailing slash."""
    value = value.strip().rstrip("/")
    if not re.match(r"^https?://", value):
        value = "https://" + value
    if not re.match(r"^https?://[^/\s]+$", value):
        raise ValueError(f"{value!r} is not an instance: give its address, https://HOST")
    return value


class MastodonTarget(TargetSettings):
    platform: Literal["mastodon"]
    # The server (Mastodon, GoToSocial, Akkoma: the same API); api_base, if given, wins.
    instance: str
    access_token: SecretStr
    template: TemplateStr = "{title} {url} {hashtags}"
    visibility: Literal["public", "unlisted", "private", "direct"] = "public"
    spoiler_text: str = ""  # a content warning, shown before the text; counts towards the limit
    language: str | None = None  # ISO 639-1 (or 639-3) code of the posts' language
    sensitive: bool = False  # the media is hidden behind a warning
    # The instance's limit, where it is more than Mastodon's 500 (the client checks it).
    max_characters: Annotated[int, Between(50, 1_000_000)] | None = None
    max_hashtags: Annotated[int, Between(0, 100)] = 3
    hashtags_allow: list[str] | None = None
    hashtags_deny: list[str] = Field(default_factory=list)
    hashtags_rename: dict[str, str] = Field(default_factory=dict)
    neutralize_mentions: bool = True

    @field_validator("instance")
    @classmethod
    def _instance(cls, value: str) -> str:
        return instance_url(value)

    @field_validator("language")
    @classmethod
    def _language(cls, value: str | None) -> str | None:
        if value is not None and not re.fullmatch(r"[a-z]{2,3}", value):
            raise ValueError("must be an ISO 639 language code, such as en or fra")
        return value

    def base_url(self) -> str:
        return self.api_base or self.instance

    def destination(self) -> dict[str, str | None]:
        return {"account": None, "instance": self.instance}


def options(settings: TargetSettings) -> MastodonOptions:
    """The rendering options of one Mastodon target."""
    target = MastodonTarget.of(settings)
    return MastodonOptions(
        template=target.template,
        spoiler_text=target.spoiler_text,
        max_characters=target.max_characters,
        max_hashtags=target.max_hashtags,
        hashtags_allow=target.hashtags_allow,
        hashtags_deny=target.hashtags_deny,
        hashtags_rename=target.hashtags_rename,
        neutralize_mentions=target.neutralize_mentions,
        image=target.image,
    )


def connect(
    name: str, settings: TargetSettings, session: requests.Session | None, memory: Memory
) -> Adapter:
    """The adapter of one Mastodon target (imports Mastodon.py)."""
    from adapters.mastodon.client import MastodonAdapter

    target = MastodonTarget.of(settings)
    return MastodonAdapter(
        target=name,
        instance=target.base_url(),
        access_token=target.access_token.get_secret_value(),
        visibility=target.visibility,
        language=target.language,
        sensitive=target.sensitive,
        max_characters=target.max_characters or DEFAULT_MAX_CHARACTERS,
        session=session,
        memory=memory,
    )


SPEC = PlatformSpec(
    name="mastodon",
    settings_model=MastodonTarget,
    limits=LIMITS,
    # The Idempotency-Key holds for about an hour only: an unknown outcome is looked up.
    resend_is_safe=False,
    options=options,
    wording=(
        "template",
        "spoiler_text",
        "max_hashtags",
        "hashtags_allow",
        "hashtags_deny",
        "hashtags_rename",
    ),
    render=render_mastodon,
    describe=describe_mastodon,
    connect=connect,
    # setting up
    display_name="Mastodon",
    questions=setup.QUESTIONS,
    target_lines=setup.target_lines,
    credentials=setup.CREDENTIALS,
    auth=setup.AUTH,
    quiet_loggers=setup.QUIET_LOGGERS,
)
