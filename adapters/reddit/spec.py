"""What the core knows about Reddit: settings, limits, rendering.

Imports no platform library: the client (``adapters.reddit.client``, over praw) is loaded
only when a configured target is opened.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import TYPE_CHECKING, Literal

from pydantic import Field, SecretStr, field_validator, model_validator

from adapters.api import Adapter, Limits, Memory, PlatformSpec, TargetSettings, TemplateStr
from adapters.reddit import setup
from adapters.reddit.render import RedditOptions, describe_reddit, render_reddit

if TYPE_CHECKING:
    import requests

LIMITS = Limits(max_title=300, max_body=40_000)


class RedditTarget(TargetSettings):
    platform: Literal["reddit"]
    subreddit: str = Field(min_length=1)
    kind: Literal["link", "self"] = "link"
    # An entry without a link, on a link target: a self post, or a skipped delivery.
    no_link: Literal["self", "skip"] = "self"
    title: TemplateStr = "{title}"
    body: TemplateStr = "{summary}\n\n{url}"
    flair_id: str | None = None
    flair_text: str | None = None
    nsfw: bool = False
    spoiler: bool = False
    send_replies: bool = False
    # "u/name" and "/u/name" from the feed, in a self post's body, cannot notify anybody.
    neutralize_mentions: bool = True
    client_id: SecretStr
    client_secret: SecretStr
    username: str | None = None
    password: SecretStr | None = None
    refresh_token: SecretStr | None = None
    user_agent: str | None = None

    @field_validator("subreddit")
    @classmethod
    def _bare_name(cls, value: str) -> str:
        name = value.removeprefix("/").removeprefix("r/")
        if not re.fullmatch(r"[A-Za-z0-9_]{2,21}", name):
            raise ValueError(f"{value!r} is not a subreddit name (like 'python' or 'r/python')")
        return name

    @model_validator(mode="after")
    def _one_way_to_log_in(self) -> RedditTarget:
        if self.refresh_token is None and (self.username is None or self.password is None):
            raise ValueError("needs either refresh_token, or username and password")
        return self

    def destination(self) -> dict[str, str | None]:
        return {
            "account": f"u/{self.username}" if self.username else None,
            "subreddit": f"r/{self.subreddit}",
        }


def options(settings: TargetSettings) -> RedditOptions:
    """The rendering options of one Reddit target (Reddit shows the link's own preview:
    no image)."""
    target = RedditTarget.of(settings)
    return RedditOptions(
        template=target.title,
        body_template=target.body,
        kind=target.kind,
        no_link=target.no_link,
        neutralize_mentions=target.neutralize_mentions,
    )


def connect(
    name: str, settings: TargetSettings, session: requests.Session | None, memory: Memory
) -> Adapter:
    """The adapter of one Reddit target (imports praw)."""
    from adapters.reddit.client import RedditAdapter

    target = RedditTarget.of(settings)
    return RedditAdapter(
        target=name,
        subreddit=target.subreddit,
        client_id=target.client_id.get_secret_value(),
        client_secret=target.client_secret.get_secret_value(),
        username=target.username,
        password=target.password.get_secret_value() if target.password else None,
        refresh_token=target.refresh_token.get_secret_value() if target.refresh_token else None,
        user_agent=target.user_agent,
        kind=target.kind,
        flair_id=target.flair_id,
        flair_text=target.flair_text,
        nsfw=target.nsfw,
        spoiler=target.spoiler,
        send_replies=target.send_replies,
        api_base=target.api_base,
        session=session,
    )


SPEC = PlatformSpec(
    name="reddit",
    settings_model=RedditTarget,
    limits=LIMITS,
    options=options,
    wording=("title", "body"),
    render=render_reddit,
    describe=describe_reddit,
    connect=connect,
    # Reddit documents no interval, but flags an account that posts several links within
    # seconds, and its RATELIMIT answers to new accounts ask for about ten minutes ("Take a
    # break for 9 minutes before trying again"): posts to one target are spaced by that
    # much unless the target sets its own min_interval.
    default_min_interval=timedelta(minutes=10),
    # setting up
    display_name="Reddit",
    questions=setup.QUESTIONS,
    target_lines=setup.target_lines,
    credentials=setup.CREDENTIALS,
    auth=setup.AUTH,
    quiet_loggers=setup.QUIET_LOGGERS,
)
