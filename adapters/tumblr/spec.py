"""What the core knows about Tumblr: settings, limits, rendering.

Imports no platform library: the client (``adapters.tumblr.client``, over requests-oauthlib)
is loaded only when a configured target is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr

from adapters.api import Adapter, Limits, Memory, PlatformSpec, TargetSettings, TemplateStr
from adapters.tumblr import setup
from adapters.tumblr.render import TumblrOptions, describe_tumblr, render_tumblr

if TYPE_CHECKING:
    import requests

# A link block's title has no documented limit; 250 keeps the card to a few lines.
LIMITS = Limits(max_text=4096, max_title=250, max_tags=30, max_tag_length=140, max_media=1)
STATES = ("published", "queue", "draft", "private")


class TumblrTarget(TargetSettings):
    platform: Literal["tumblr"]
    blog: str = Field(min_length=1)
    state: Literal["published", "queue", "draft", "private"] = "published"
    text: TemplateStr = "{summary}"
    tags_from_labels: bool = True
    tags: list[str] = Field(default_factory=list)
    consumer_key: SecretStr
    consumer_secret: SecretStr
    oauth_token: SecretStr
    oauth_token_secret: SecretStr

    def destination(self) -> dict[str, str | None]:
        return {"account": None, "blog": self.blog}


def options(settings: TargetSettings) -> TumblrOptions:
    """The rendering options of one Tumblr target."""
    target = TumblrTarget.of(settings)
    return TumblrOptions(
        template=target.text,
        tags_from_labels=target.tags_from_labels,
        extra_tags=target.tags,
        image=target.image,
    )


def connect(
    name: str, settings: TargetSettings, session: requests.Session | None, memory: Memory
) -> Adapter:
    """The adapter of one Tumblr target (imports requests-oauthlib)."""
    from adapters.tumblr.client import TumblrAdapter

    target = TumblrTarget.of(settings)
    return TumblrAdapter(
        target=name,
        blog=target.blog,
        consumer_key=target.consumer_key.get_secret_value(),
        consumer_secret=target.consumer_secret.get_secret_value(),
        oauth_token=target.oauth_token.get_secret_value(),
        oauth_token_secret=target.oauth_token_secret.get_secret_value(),
        state=target.state,
        api_base=target.api_base,
        session=session,
    )


SPEC = PlatformSpec(
    name="tumblr",
    settings_model=TumblrTarget,
    limits=LIMITS,
    options=options,
    wording=("text", "tags", "tags_from_labels"),
    render=render_tumblr,
    describe=describe_tumblr,
    connect=connect,
    # setting up
    display_name="Tumblr",
    questions=setup.QUESTIONS,
    target_lines=setup.target_lines,
    credentials=setup.CREDENTIALS,
    auth=setup.AUTH,
    quiet_loggers=setup.QUIET_LOGGERS,
)
