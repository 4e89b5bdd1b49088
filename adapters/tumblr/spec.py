"""What the core knows about Tumblr: settings, limits, rendering.

Imports no platform library: the client (``adapters.tumblr.client``, over requests-oauthlib)
is loaded only when a configured target is opened.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, SecretStr

from adapters.api import Limits, PlatformSpec, TargetSettings, TemplateStr
from adapters.tumblr import setup
from adapters.tumblr.render import TumblrOptions, describe_tumblr, render_tumblr

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

    def adapter_options(self) -> dict[str, object]:
        options = self.model_dump(include={"blog", "state", "api_base"})
        return {**options, **self.credentials()}

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


SPEC = PlatformSpec(
    name="tumblr",
    settings_model=TumblrTarget,
    limits=LIMITS,
    options=options,
    render=render_tumblr,
    describe=describe_tumblr,
    client="adapters.tumblr.client:TumblrAdapter",
    # setting up
    display_name="Tumblr",
    questions=setup.QUESTIONS,
    target_lines=setup.target_lines,
    credentials=setup.CREDENTIALS,
    auth=setup.AUTH,
    quiet_loggers=setup.QUIET_LOGGERS,
)
