"""Per-platform test hooks: every registered platform has a module here named like it
(``tests/platforms/<platform>.py``), and the suites that run over every platform (the
adapter contract, the crash suite, the secrets checks) take the platforms from the registry
and what they need from these modules, so that no test lists the platforms by hand.

Each module exposes:

- ``PLATFORM``: the registry name.
- ``SECRETS``: every credential value ``make_adapter`` uses (tests grep errors for them).
- ``ENV``: the environment a config's target of this platform reads (``${VAR}`` -> value).
- ``start_fake() -> FakeServer``: a started loopback fake of the platform's HTTP API.
- ``make_adapter(fake, **options)``: the real adapter pointed at the fake (``api_base``).
- ``target_table(api_base, name) -> str``: a ``[targets.NAME]`` table posting to the fake,
  credentials as ``${VAR}`` from ``ENV``, whose posts carry the entry's link.
- ``posted_links(fake) -> list[str]``: the entry link of every post the fake accepted.
- ``CREATE``: ``(method, path regex)`` of the request that creates a post on the fake.
- ``sample_post() -> Post``: a post that fits the platform's limits.
- ``accepted(fake) -> list[dict]``: what the fake created, newest last, each with an ``id``.
- ``FAILURES``: ``Failure`` cases, each arranging one platform answer and the error it maps to.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from bot.errors import PublishError


@dataclass(frozen=True)
class Failure:
    id: str
    arrange: Callable[[Any], None]
    expected: type[PublishError]
    # A fragment the error message must contain (the platform's own reason), if any.
    says: str = ""


def hooks(platform: str) -> ModuleType:
    """The test hooks of ``platform``; a registered platform without any fails loudly."""
    try:
        return importlib.import_module(f"tests.platforms.{platform}")
    except ModuleNotFoundError as error:
        raise AssertionError(
            f"platform {platform!r} is registered but has no tests/platforms/{platform}.py"
        ) from error


def registered() -> list[str]:
    """Every registered platform (FeedRelay's own and installed plugins)."""
    import adapters

    return adapters.platforms()
