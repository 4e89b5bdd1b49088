"""What a platform declares so that ``feedrelay init`` and ``feedrelay auth`` can set it up.

A platform's spec (``PlatformSpec``, its ``# setting up`` fields) names the questions
``init`` asks for its target (each also an ``init`` option), the lines of the target's table
in the config ``init`` writes, the credentials the target reads from the environment (for
the ``.env`` template and for messages), and its ``feedrelay auth`` flow: the flow's options
and a function that runs it. The core asks, prints and writes; it never names a platform.

Declarations are data and plain functions: a spec module that imports these imports no
platform library. A flow's ``run`` imports its library when it is called.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from adapters.base import Adapter
    from bot.settings import TargetSettings

__all__ = [
    "AuthFlow",
    "AuthOption",
    "AuthResult",
    "AuthRun",
    "AuthTarget",
    "Credential",
    "Question",
    "credential_lines",
    "toml_string",
]


# -- init --------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class Question:
    """One thing ``feedrelay init`` asks about a platform's target, also an ``init`` option.

    ``parse`` turns what was typed into the value the config gets, or raises ``ValueError``
    saying in words what to give; ``init`` then asks again (or, for an option, stops).
    """

    key: str  # the answer's name in what ``target_lines`` receives: "subreddit"
    option: str  # the ``init`` option that answers it without asking: "--subreddit"
    prompt: str  # "Subreddit (r/NAME)"
    help: str  # the option's help: "The subreddit to post to (with reddit)."
    parse: Callable[[str], str]
    default: str | None = None  # offered at the prompt, and taken by ``init --yes``
    metavar: str = "NAME"


@dataclass(frozen=True, kw_only=True)
class Credential:
    """One credential a target reads from the environment, as ``key = "${ENV}"``."""

    key: str  # the target's setting: "consumer_key"
    env: str  # the environment variable ``init`` names for it: "X_CONSUMER_KEY"
    what: str  # what it is, in messages: "the app's API key"
    # The ``.env`` template's comment above it, saying where to get it (empty: ``what``).
    comment: str = ""
    # Another way to log in, which ``init`` does not write (``auth`` still names its variable).
    optional: bool = False


def credential_lines(credentials: Sequence[Credential]) -> list[str]:
    """The target table's ``key = "${ENV}"`` lines for ``credentials`` (the optional ones
    left out)."""
    return [f'{c.key} = "${{{c.env}}}"' for c in credentials if not c.optional]


def toml_string(value: str) -> str:
    """``value`` as a TOML string, quoted and escaped, for a line of the target's table."""
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a TOML basic string


# -- auth --------------------------------------------------------------------------------
@dataclass(frozen=True, kw_only=True)
class AuthOption:
    """One option of ``feedrelay auth PLATFORM`` (``--target NAME`` is every flow's own).

    Its value reaches the flow as ``AuthRun.options[name]``: a string (``None`` when not
    given), a bool for a ``flag``, an int for one with ``between``.
    """

    option: str  # "--consumer-key"
    help: str
    name: str = ""  # the key in ``AuthRun.options``; default: the option, "-" as "_"
    metavar: str | None = None
    flag: bool = False
    between: tuple[int, int] | None = None  # an integer from .. to (both included)
    default: str | int | None = None  # shown in the help when given

    @property
    def key(self) -> str:
        return self.name or self.option.lstrip("-").replace("-", "_")


class AuthTarget(Protocol):
    """The configured target an ``auth`` flow works for.

    ``settings`` are validated with the variables that are set; ``env`` maps each setting
    given as ``"${NAME}"`` to ``NAME``; ``missing`` holds the settings whose variable is
    unset.
    """

    @property
    def name(self) -> str: ...

    @property
    def settings(self) -> TargetSettings: ...

    @property
    def env(self) -> Mapping[str, str]: ...

    @property
    def missing(self) -> frozenset[str]: ...

    def value(self, key: str) -> str | None:
        """A setting's value (a secret revealed); ``None`` if unset or its variable is."""
        ...


class AuthRun(Protocol):
    """What ``feedrelay auth`` hands a platform's flow: the options as given, the target,
    the credentials, and the terminal.

    ``target`` raises ``SetupError`` when the config has no such target (or, ``needed``,
    no config at all) and ``ConfigError`` for a config that is wrong in itself;
    ``credential`` raises ``SetupError`` saying which variable to set or which option to
    pass. Both say what to do.
    """

    @property
    def platform(self) -> str: ...

    @property
    def options(self) -> Mapping[str, Any]:
        """Each declared ``AuthOption``'s value, by its ``key``."""
        ...

    def target(self, *, needed: bool = True) -> AuthTarget | None:
        """The config's target (``--target NAME``, or the only one); ``None`` when there
        is no config and it is not ``needed`` (the credentials came as options)."""
        ...

    def credential(
        self, target: AuthTarget | None, key: str, *, option: str, given: str | None = None
    ) -> str:
        """``given``, else the target's ``key`` setting; ``option`` is what the message
        says to pass instead ("--consumer-key")."""
        ...

    def variable(self, target: AuthTarget | None, key: str) -> str:
        """The environment variable the ``key`` credential is read from: the target's,
        else the one the spec declares."""
        ...

    def echo(self, text: str = "") -> None:
        """Print a line for the person at the terminal."""
        ...

    def prompt(self, text: str) -> str:
        """Ask for a line (``text`` without the colon) and return what was typed."""
        ...


@dataclass(frozen=True, kw_only=True)
class AuthResult:
    """What a flow got: the new secrets as ``NAME=value`` lines for the environment (none
    when it only checks), a note printed after them, and how to open the adapter that
    checks them.

    ``open`` is called after the lines are shown (a new token is worth keeping even when
    the check fails); it raises ``SetupError`` when the account cannot be checked.
    """

    lines: Sequence[str] = ()
    note: str = ""
    open: Callable[[], Adapter]


@dataclass(frozen=True, kw_only=True)
class AuthFlow:
    """``feedrelay auth PLATFORM``: how it gets an account's new tokens, or checks its
    credentials, and then logs in and names the account.

    ``run`` asks and prints through its ``AuthRun`` and returns what it got; it raises
    ``SetupError`` (something to set or pass first), ``AuthError`` (the platform refused:
    says what to do) or ``TransientError`` (the platform could not be reached). It imports
    the platform's library when it is called, not before.
    """

    help: str  # the command's help; its first line is the summary ``auth --help`` lists
    next_step: str  # what the command does, in ``init``'s next steps: "checks the account"
    options: Sequence[AuthOption] = ()
    run: Callable[[AuthRun], AuthResult]
