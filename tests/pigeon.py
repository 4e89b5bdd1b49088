"""Pigeon: a made-up platform that exists only as a spec, as another distribution's would.

It asks ``init`` for a loft (checked) and a handle (with a default), writes its own target
table, reads one token from the environment, and its ``auth`` flow asks for a code at the
terminal and prints the token line. Its adapter is a stand-in that posts nothing: a token
``tok-coo`` logs in, any other is refused. It uses ``adapters.api`` only, and the tests
register it by monkeypatching the registry (``tests/test_plugin_setup.py``); no file of
``bot/`` knows it.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from typing import Any, Literal

from pydantic import SecretStr

from adapters import api

TOKEN = "tok-coo"
LOGGERS = ("pigeonlib", "pigeonlib.wire")

CREDENTIALS = (
    api.Credential(
        key="token",
        env="PIGEON_TOKEN",
        what="the loft's token",
        comment="the loft's token: feedrelay auth pigeon",
    ),
)


class PigeonTarget(api.TargetSettings):
    platform: Literal["pigeon"]
    loft: str
    handle: str = "feedrelay"
    token: SecretStr


class PigeonAdapter:
    limits = api.Limits(max_text=100)

    def __init__(
        self, *, target: str, loft: str, handle: str, token: str, session: Any = None
    ) -> None:
        self.target, self.loft, self.handle, self.token = target, loft, handle, token

    def verify(self) -> str:
        if self.token != TOKEN:
            raise api.AuthError("the loft refused the token", target=self.target)
        return f"@{self.handle}@{self.loft}"

    def publish(self, post: api.Post, media: api.MediaFile | None = None) -> api.Published:
        raise NotImplementedError("a pigeon posts nothing in these tests")

    def close(self) -> None:
        pass


def loft_name(text: str) -> str:
    name = text.strip().lower()
    if not re.fullmatch(r"[a-z]+\.example", name):
        raise ValueError(f"{text.strip()!r} is not a loft: give it as NAME.example")
    return name


def target_lines(answers: Mapping[str, str]) -> list[str]:
    return [
        f"loft = {api.toml_string(answers['loft'])}",
        f"handle = {api.toml_string(answers['handle'])}   # who posts",
        *api.credential_lines(CREDENTIALS),
    ]


def run_auth(auth: api.AuthRun) -> api.AuthResult:
    loft = auth.options["loft"]
    target = auth.target(needed=not loft)
    if target is not None:
        loft = loft or PigeonTarget.of(target.settings).loft
    auth.echo(f"Ask the keeper of {loft} for a code ({auth.options['tries']} tries).")
    code = auth.prompt("Code")
    if code != "coo":
        raise api.AuthError(f"{loft} refused the code {code!r}: ask the keeper again")
    handle = PigeonTarget.of(target.settings).handle if target else "feedrelay"
    token = f"tok-{code}"
    return api.AuthResult(
        lines=[f"{auth.variable(target, 'token')}={token}"],
        open=lambda: PigeonAdapter(target="pigeon", loft=loft, handle=handle, token=token),
    )


def _options(settings: api.TargetSettings) -> Any:
    raise NotImplementedError("a pigeon posts nothing in these tests")


def _render(entry: api.Entry, options: Any, limits: api.Limits) -> api.Rendered:
    raise NotImplementedError("a pigeon posts nothing in these tests")


SPEC = api.PlatformSpec(
    name="pigeon",
    settings_model=PigeonTarget,
    limits=PigeonAdapter.limits,
    options=_options,
    render=_render,
    connect=lambda name, settings, session, memory: PigeonAdapter(
        target=name,
        loft=settings.loft,
        handle=settings.handle,
        token=settings.token.get_secret_value(),
        session=session,
    ),
    display_name="Pigeon",
    aliases=("coo",),
    target_name="loft",
    questions=(
        api.Question(
            key="loft",
            option="--loft",
            prompt="Loft (NAME.example)",
            help="The loft to post from (with pigeon).",
            parse=loft_name,
        ),
        api.Question(
            key="handle",
            option="--handle",
            prompt="Handle",
            help="Who posts (with pigeon).",
            parse=str.strip,
            default="feedrelay",
        ),
    ),
    target_lines=target_lines,
    credentials=CREDENTIALS,
    auth=api.AuthFlow(
        help="Get the loft's token from its keeper.\n\nAsks for the code and prints the line.",
        next_step="prints the loft's token line",
        options=(
            api.AuthOption(option="--loft", metavar="NAME", help="The loft (default: config)."),
            api.AuthOption(option="--tries", between=(1, 5), default=3, help="How many tries."),
        ),
        run=run_auth,
    ),
    quiet_loggers=LOGGERS,
)

# The same platform without an `auth` command: its token comes from elsewhere.
SPEC_WITHOUT_AUTH = dataclasses.replace(SPEC, auth=None)
