"""What ``feedrelay init`` asks and writes for a Bluesky target and what ``feedrelay auth
bluesky`` does (it checks an app password: Bluesky has no token flow for it).

Imports no platform library: the check (``adapters.bluesky.auth``, over ``atproto``) is
loaded when ``auth`` runs.
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

DEFAULT_SERVICE = "https://bsky.social"
CREDENTIALS = (
    Credential(
        key="app_password",
        env="BLUESKY_APP_PASSWORD",
        what="the account's app password",
        comment="an app password (bsky.app: Settings > Privacy and security > App passwords)",
    ),
)
# At DEBUG, httpx and httpcore log every request and its headers' handling; the session's
# tokens travel in the Authorization header.
QUIET_LOGGERS = ("httpx", "httpcore", "atproto", "atproto_client", "atproto_core")

# A handle is a domain name (the atproto handle syntax); a DID is did:METHOD:ID.
_HANDLE = re.compile(
    r"([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?"
)
_DID = re.compile(r"did:[a-z]+:[a-zA-Z0-9._:%-]+")


def handle_of(text: str) -> str:
    """A Bluesky handle (``name.bsky.social``, ``@name.bsky.social``, a domain) or a DID."""
    value = text.strip().removeprefix("@")
    if value.startswith("https://bsky.app/profile/"):
        value = value.removeprefix("https://bsky.app/profile/").strip("/")
    if _DID.fullmatch(value):
        return value
    if len(value) <= 253 and _HANDLE.fullmatch(value):
        return value.lower()
    raise ValueError(
        f"{text.strip()!r} is not a Bluesky handle: give the account's handle, as in"
        " name.bsky.social (or its own domain), or its DID"
    )


QUESTIONS = (
    Question(
        key="handle",
        option="--bluesky-handle",
        prompt="Bluesky handle (name.bsky.social)",
        help="The Bluesky account to post as (with bluesky).",
        parse=handle_of,
        metavar="HANDLE",
    ),
)


def target_lines(answers: Mapping[str, str]) -> list[str]:
    """The ``[targets.bluesky]`` table ``init`` writes for the handle it was given."""
    return [
        f"handle = {toml_string(answers.get('handle', ''))}",
        *credential_lines(CREDENTIALS),
        f'# service = "{DEFAULT_SERVICE}"   # the account\'s PDS, if it is not on bsky.social',
        "# Fields: {title} {url} {summary} {hashtags} {feed_title} {author}; cut to 300",
        "# graphemes (and 3,000 bytes), never inside the link. Link and hashtags are clickable.",
        'template = "{title} {url} {hashtags}"',
        'langs = ["en"]                   # the posts\' languages, at most 3',
        "max_hashtags = 3                 # hashtags made from the entry's labels",
        "image = true                     # the entry's image as the link card's thumbnail",
    ]


def _run(auth: AuthRun) -> AuthResult:
    from adapters.bluesky.auth import run

    return run(auth)


AUTH = AuthFlow(
    help="""Check a Bluesky app password: log in once and name the account.

Bluesky bots log in with an app password (bsky.app: Settings > Privacy and security > App
passwords), not the account's own password. Reads the handle and the app password from the
target (or the options), logs in, and says which account it is. Nothing new is printed for
the environment: the app password is the credential.""",
    next_step="checks the app password",
    options=(
        AuthOption(
            option="--handle", metavar="HANDLE", help="The account (default: the target's)."
        ),
        AuthOption(
            option="--app-password",
            metavar="PASSWORD",
            help="The app password (default: from the config's variable).",
        ),
        AuthOption(
            option="--service",
            metavar="URL",
            help=f"The account's PDS (default: the target's, else {DEFAULT_SERVICE}).",
        ),
    ),
    run=_run,
)
