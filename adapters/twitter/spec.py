"""What the core knows about X (Twitter): settings, limits, rendering, cost.

Imports no platform library: the client (``adapters.twitter.client``, over tweepy) is loaded
only when a configured target is opened.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Literal

from pydantic import Field, SecretStr

from adapters.api import (
    Adapter,
    Between,
    Limits,
    Memory,
    PlatformSpec,
    Post,
    TargetSettings,
    TemplateStr,
)
from adapters.twitter import setup
from adapters.twitter.render import TwitterOptions, describe_twitter, render_twitter
from adapters.twitter.text import find_urls, truncate_weighted, weighted_length

if TYPE_CHECKING:
    import requests

# X weighs each character 1 or 2 and every URL 23 (twitter-text v3): 280 by that count.
LIMITS = Limits(
    max_text=280,
    count=weighted_length,
    counting="weighted",
    truncate=truncate_weighted,
    max_media=4,
)
# Pay-per-use pricing (2026), USD: a post, and a post whose text holds a URL (bare domains
# such as example.com count).
POST_COST = 0.015
POST_WITH_URL_COST = 0.20
# A read, billed per post returned (X's pay-per-use price list, 2026): what a lookup of an
# unknown outcome costs, post by post.
READ_COST = 0.005


class TwitterTarget(TargetSettings):
    platform: Literal["twitter"]
    template: TemplateStr = "{title} {url} {hashtags}"
    consumer_key: SecretStr
    consumer_secret: SecretStr
    access_token: SecretStr
    access_token_secret: SecretStr
    max_hashtags: Annotated[int, Between(0, 100)] = 3
    hashtags_allow: list[str] | None = None
    hashtags_deny: list[str] = Field(default_factory=list)
    hashtags_rename: dict[str, str] = Field(default_factory=dict)
    neutralize_mentions: bool = True
    # Pay-per-use: what X charges (config, since X changes it) and the most to spend.
    monthly_budget: Annotated[float, Between(0, 1_000_000)] = 0.0
    price_per_post: Annotated[float, Between(0, 1_000)] = POST_COST
    price_per_post_with_url: Annotated[float, Between(0, 1_000)] = POST_WITH_URL_COST
    price_per_read: Annotated[float, Between(0, 1_000)] = READ_COST
    # The app cannot read the timeline (X's legacy Free tier): after an unknown outcome,
    # send the post once more (X refuses the same text, or the same media, as a
    # duplicate) instead of waiting for the operator.
    resend_unknown: bool = False

    def budget_usd(self) -> float:
        return self.monthly_budget


def options(settings: TargetSettings) -> TwitterOptions:
    """The rendering options of one X target."""
    target = TwitterTarget.of(settings)
    return TwitterOptions(
        template=target.template,
        max_hashtags=target.max_hashtags,
        hashtags_allow=target.hashtags_allow,
        hashtags_deny=target.hashtags_deny,
        hashtags_rename=target.hashtags_rename,
        neutralize_mentions=target.neutralize_mentions,
        image=target.image,
    )


def cost(settings: TargetSettings, post: Post) -> float:
    """What X charges for ``post``, in USD, at the target's configured prices."""
    target = TwitterTarget.of(settings)
    return target.price_per_post_with_url if find_urls(post.text) else target.price_per_post


def connect(
    name: str, settings: TargetSettings, session: requests.Session | None, memory: Memory
) -> Adapter:
    """The adapter of one X target (imports tweepy)."""
    from adapters.twitter.client import TwitterAdapter

    target = TwitterTarget.of(settings)
    return TwitterAdapter(
        target=name,
        consumer_key=target.consumer_key.get_secret_value(),
        consumer_secret=target.consumer_secret.get_secret_value(),
        access_token=target.access_token.get_secret_value(),
        access_token_secret=target.access_token_secret.get_secret_value(),
        api_base=target.api_base,
        session=session,
        memory=memory,
        price_per_read=target.price_per_read,
    )


SPEC = PlatformSpec(
    name="twitter",
    settings_model=TwitterTarget,
    limits=LIMITS,
    # X refuses an identical re-send as duplicate content: re-sending is how it is checked.
    resend_is_safe=True,
    options=options,
    wording=("template", "max_hashtags", "hashtags_allow", "hashtags_deny", "hashtags_rename"),
    render=render_twitter,
    describe=describe_twitter,
    cost=cost,
    connect=connect,
    # setting up
    display_name="X",
    aliases=("x",),
    target_name=setup.TARGET_NAME,
    init_default=True,
    target_lines=setup.target_lines,
    credentials=setup.CREDENTIALS,
    auth=setup.AUTH,
    quiet_loggers=setup.QUIET_LOGGERS,
)
