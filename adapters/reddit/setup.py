"""What ``feedrelay init`` asks and writes for a Reddit target and what ``feedrelay auth
reddit`` does.

Imports no platform library: the checks and the code flow (``adapters.reddit.auth``, over
praw) are loaded when ``auth`` runs.
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

_SUBREDDIT = re.compile(r"[A-Za-z0-9_]{2,21}")

REFRESH_TOKEN = Credential(
    key="refresh_token",
    env="REDDIT_REFRESH_TOKEN",
    what="the account's refresh token",
    comment="the account's refresh token: feedrelay auth reddit --refresh-token",
    optional=True,  # instead of username + password: init writes it as a comment
)
CREDENTIALS = (
    Credential(
        key="client_id",
        env="REDDIT_CLIENT_ID",
        what="the app's id",
        comment="the script app's id (reddit.com/prefs/apps)",
    ),
    Credential(key="client_secret", env="REDDIT_CLIENT_SECRET", what="the app's secret"),
    Credential(
        key="username",
        env="REDDIT_USERNAME",
        what="the account's name",
        comment="the posting account's name (without u/)",
    ),
    Credential(
        key="password",
        env="REDDIT_PASSWORD",
        what="its password",
        comment="its password: feedrelay auth reddit checks them",
    ),
    REFRESH_TOKEN,
)
# At DEBUG they print request headers, tokens included.
QUIET_LOGGERS = ("praw", "prawcore")


def subreddit_name(text: str) -> str:
    """``python``, ``r/python`` or ``/r/python`` as ``python``; ``ValueError`` otherwise."""
    name = text.strip().removeprefix("/").removeprefix("r/").strip("/")
    if not _SUBREDDIT.fullmatch(name):
        raise ValueError(
            f"{text.strip()!r} is not a subreddit name: give it as in reddit.com/r/NAME"
            " (2 to 21 letters, digits or _)"
        )
    return name


QUESTIONS = (
    Question(
        key="subreddit",
        option="--subreddit",
        prompt="Subreddit (r/NAME)",
        help="The subreddit to post to (with reddit).",
        parse=subreddit_name,
    ),
)


def target_lines(answers: Mapping[str, str]) -> list[str]:
    """The ``[targets.reddit]`` table ``init`` writes for the subreddit it was given."""
    return [
        f"subreddit = {toml_string(answers.get('subreddit', ''))}",
        'kind = "link"                    # "link" (title + link) or "self" (text post)',
        'title = "{title}"',
        '# flair_text = "Blog"            # some subreddits require flair (its id is looked up)',
        'min_interval = "10m"             # Reddit flags accounts that post links in bursts',
        "# A script app (reddit.com/prefs/apps) and the posting account.",
        *credential_lines(CREDENTIALS),
        "# Instead of username + password, a refresh token (`feedrelay auth reddit",
        "# --refresh-token` makes one): remove those two lines and use",
        f'# refresh_token = "${{{REFRESH_TOKEN.env}}}"',
    ]


def _run(auth: AuthRun) -> AuthResult:
    from adapters.reddit.auth import run

    return run(auth)


AUTH = AuthFlow(
    help="""Check a Reddit target's login, or get a refresh token (--refresh-token).

With username + password (a script app), logs in with them and names the account. With
--refresh-token (or a config that uses refresh_token), runs Reddit's authorisation in the
browser, receives the answer on a one-shot local address, and prints the
REDDIT_REFRESH_TOKEN line for the environment. Either way it then checks the subreddit's
rules against the target.""",
    next_step="checks the app and the account",
    options=(
        AuthOption(
            option="--refresh-token",
            flag=True,
            help="Get a refresh token in the browser instead of checking username + password.",
        ),
        AuthOption(
            option="--port",
            between=(0, 65535),
            default=8080,
            help=(
                "Loopback port for Reddit's redirect: the app's redirect uri is"
                " http://127.0.0.1:PORT/."
            ),
        ),
        AuthOption(
            option="--timeout",
            between=(1, 3600),
            default=300,
            help="Seconds to wait for Reddit's redirect.",
        ),
    ),
    run=_run,
)
