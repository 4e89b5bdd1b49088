"""Our errors become a clean message and an exit status here, in one place: the command
group (``Commands``, the class of ``feedrelay`` and its sub-groups) catches them for every
command; anything else is a bug and keeps its traceback.

Exit status: 0 done, 1 something failed, 2 a usage or config error.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from bot.errors import ConfigError, FeedRelayError, UnknownNameError

F = TypeVar("F", bound=Callable[..., Any])

EXIT_FAILED = 1
EXIT_CONFIG = 2


class Commands(click.Group):
    """A click group whose commands' ``ConfigError`` and ``UnknownNameError`` (a target or
    feed the command line names and the config lacks) exit 2 and other ``FeedRelayError``
    exits 1, each with its message on standard error."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (ConfigError, UnknownNameError) as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_CONFIG)
        except FeedRelayError as error:
            click.echo(f"error: {error}", err=True)
            sys.exit(EXIT_FAILED)
