"""What ``feedrelay init`` writes for an X target and what ``feedrelay auth twitter`` does.

Imports no platform library: the PIN flow (``adapters.twitter.auth``, over
requests-oauthlib) is loaded when ``auth`` runs.
"""

from __future__ import annotations

from collections.abc import Mapping

from adapters.setup import AuthFlow, AuthOption, AuthResult, AuthRun, Credential, credential_lines

TARGET_NAME = "x"
CREDENTIALS = (
    Credential(
        key="consumer_key",
        env="X_CONSUMER_KEY",
        what="the app's API key",
        comment="the app's API key (developer.x.com: Keys and tokens)",
    ),
    Credential(key="consumer_secret", env="X_CONSUMER_SECRET", what="the app's API key secret"),
    Credential(
        key="access_token",
        env="X_ACCESS_TOKEN",
        what="the posting account's token",
        comment="the posting account's token: feedrelay auth twitter",
    ),
    Credential(
        key="access_token_secret",
        env="X_ACCESS_TOKEN_SECRET",
        what="the posting account's token secret",
        comment="... and its secret (same command)",
    ),
)
# At DEBUG they print request headers, tokens included.
QUIET_LOGGERS = ("tweepy", "requests_oauthlib", "oauthlib")


def target_lines(answers: Mapping[str, str]) -> list[str]:
    """The ``[targets.x]`` table ``init`` writes (it asks nothing about X)."""
    return [
        "# Fields: {title} {url} {summary} {hashtags} {feed_title} {author}; cut to 280",
        "# weighted characters, never inside the link.",
        'template = "{title} {url} {hashtags}"',
        "max_hashtags = 3                 # hashtags made from the entry's labels",
        "# The app must have Read and write permission: set it before making the token.",
        *credential_lines(CREDENTIALS),
    ]


def _run(auth: AuthRun) -> AuthResult:
    from adapters.twitter.auth import run

    return run(auth)


AUTH = AuthFlow(
    help="""Get the posting account's access token from X (OAuth 1.0a, with a PIN).

Reads the app's API key and secret from the variables the config names (or the options),
shows the address where you authorise the app, asks for the PIN X shows, and prints the
X_ACCESS_TOKEN and X_ACCESS_TOKEN_SECRET lines for the environment. Set the app's
permission to Read and write before you run it.""",
    next_step="prints the account's token lines",
    options=(
        AuthOption(
            option="--consumer-key",
            metavar="KEY",
            help="The app's API key (default: from the config).",
        ),
        AuthOption(option="--consumer-secret", metavar="SECRET", help="The app's API key secret."),
        AuthOption(
            option="--api-base", metavar="URL", help="Another API host (default: the target's)."
        ),
    ),
    run=_run,
)
