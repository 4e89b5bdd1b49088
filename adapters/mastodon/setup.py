"""What ``feedrelay init`` asks and writes for a Mastodon target and what ``feedrelay auth
mastodon`` does.

Imports no platform library: the OAuth flow (``adapters.mastodon.auth``, over Mastodon.py)
is loaded when ``auth`` runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from adapters.setup import (
    AuthFlow,
    AuthOption,
    AuthResult,
    AuthRun,
    Credential,
    Question,
    credential_lines,
    toml_string,
)

CREDENTIALS = (
    Credential(
        key="access_token",
        env="MASTODON_ACCESS_TOKEN",
        what="the account's access token",
        comment="the account's access token: feedrelay auth mastodon",
    ),
)
# Mastodon.py logs nothing of its own; urllib3 at DEBUG names every URL, never a header.
QUIET_LOGGERS = ("mastodon",)


def instance_address(text: str) -> str:
    """An instance as ``https://HOST`` (``HOST`` alone is taken as https)."""
    value = text.strip().rstrip("/")
    if not re.match(r"^https?://", value):
        value = "https://" + value
    if not re.match(r"^https?://[A-Za-z0-9.-]+(?::\d+)?$", value):
        raise ValueError(
            f"{text.strip()!r} is not an instance: give its address, as HOST or https://HOST"
        )
    return value


QUESTIONS = (
    Question(
        key="instance",
        option="--mastodon-instance",
        prompt="Mastodon instance (HOST or https://HOST)",
        help="The Mastodon instance of the account to post with (with mastodon).",
        parse=instance_address,
        metavar="URL",
    ),
)


def target_lines(answers: Mapping[str, str]) -> list[str]:
    """The ``[targets.mastodon]`` table ``init`` writes for the instance it was given."""
    return [
        f"instance = {toml_string(answers.get('instance', ''))}",
        "# Fields: {title} {url} {summary} {hashtags} {feed_title} {author}; cut to the",
        "# instance's limit (500, every URL as 23), never inside the link.",
        'template = "{title} {url} {hashtags}"',
        'visibility = "public"            # or "unlisted", "private", "direct"',
        "max_hashtags = 3                 # hashtags made from the entry's labels",
        *credential_lines(CREDENTIALS),
    ]


def _run(auth: AuthRun) -> AuthResult:
    from adapters.mastodon.auth import run

    return run(auth)


AUTH = AuthFlow(
    help="""Get an access token for a Mastodon account (an app, then the OAuth code flow).

Registers an app on the instance (the target's, or --instance), shows the address where you
authorise it, asks for the code the instance shows (or, with --redirect-port, receives it on
a local address), and prints the MASTODON_ACCESS_TOKEN line for the environment. The token
may write statuses and media and read the account.""",
    next_step="prints the account's token line",
    options=(
        AuthOption(
            option="--instance",
            metavar="URL",
            help="The instance (default: the target's).",
        ),
        AuthOption(
            option="--redirect-port",
            metavar="PORT",
            between=(1024, 65535),
            help="Receive the code on http://127.0.0.1:PORT/ instead of pasting it.",
        ),
    ),
    run=_run,
)
