"""What ``feedrelay init`` asks and writes for a Tumblr target and what ``feedrelay auth
tumblr`` does.

Imports no platform library: the OAuth flow (``adapters.tumblr.auth``, over
requests-oauthlib) is loaded when ``auth`` runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlsplit

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

_BLOG_HOST = re.compile(r"[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?")

CREDENTIALS = (
    Credential(
        key="consumer_key",
        env="TUMBLR_CONSUMER_KEY",
        what="the app's consumer key",
        comment="the app's OAuth consumer key",
    ),
    Credential(key="consumer_secret", env="TUMBLR_CONSUMER_SECRET", what="the app's secret key"),
    Credential(
        key="oauth_token",
        env="TUMBLR_OAUTH_TOKEN",
        what="the account's OAuth token",
        comment="the account's token: feedrelay auth tumblr",
    ),
    Credential(
        key="oauth_token_secret",
        env="TUMBLR_OAUTH_TOKEN_SECRET",
        what="the account's OAuth token secret",
        comment="... and its secret (same command)",
    ),
)
# At DEBUG they print request headers, tokens included.
QUIET_LOGGERS = ("requests_oauthlib", "oauthlib")


def blog_name(text: str) -> str:
    """A Tumblr blog as ``NAME``, ``NAME.tumblr.com`` or the blog's own domain."""
    value = text.strip()
    host = urlsplit(value if "//" in value else f"//{value}").hostname or ""
    if not host or not _BLOG_HOST.fullmatch(host):
        raise ValueError(
            f"{value!r} is not a Tumblr blog: give its name (as in NAME.tumblr.com),"
            " NAME.tumblr.com or the blog's own domain"
        )
    return host.removesuffix(".tumblr.com")


QUESTIONS = (
    Question(
        key="blog",
        option="--tumblr-blog",
        prompt="Tumblr blog (NAME, NAME.tumblr.com or its own domain)",
        help="The Tumblr blog to post to (with tumblr).",
        parse=blog_name,
    ),
)


def target_lines(answers: Mapping[str, str]) -> list[str]:
    """The ``[targets.tumblr]`` table ``init`` writes for the blog it was given."""
    return [
        f"blog = {toml_string(answers.get('blog', ''))}",
        'state = "published"              # or "queue", "draft", "private"',
        "tags = []                        # added to every post, besides the labels",
        *credential_lines(CREDENTIALS),
    ]


def _run(auth: AuthRun) -> AuthResult:
    from adapters.tumblr.auth import run

    return run(auth)


AUTH = AuthFlow(
    help="""Get the account's OAuth token from Tumblr (OAuth 1.0a).

Reads the app's consumer key and secret from the variables the config names (or the
options), shows the address where you authorise the app, asks for the verifier, and prints
the TUMBLR_OAUTH_TOKEN and TUMBLR_OAUTH_TOKEN_SECRET lines for the environment.""",
    next_step="prints the account's token lines",
    options=(
        AuthOption(
            option="--consumer-key",
            metavar="KEY",
            help="The app's consumer key (default: config).",
        ),
        AuthOption(option="--consumer-secret", metavar="SECRET", help="The app's secret key."),
        AuthOption(
            option="--blog", metavar="NAME", help="The blog to check (default: the target's)."
        ),
        AuthOption(
            option="--api-base", metavar="URL", help="Another API host (default: the target's)."
        ),
    ),
    run=_run,
)
