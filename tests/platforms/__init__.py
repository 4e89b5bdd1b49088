"""Per-platform hooks for the adapter contract suite (``tests/test_adapter_contract.py``).

Each module here (``twitter``, ``reddit``, ``tumblr``) exposes:

- ``PLATFORM``: the registry name.
- ``SECRETS``: every credential value ``make_adapter`` uses (tests grep errors for them).
- ``start_fake() -> FakeServer``: a started loopback fake of the platform's HTTP API.
- ``make_adapter(fake, **options)``: the real adapter pointed at the fake (``api_base``).
- ``sample_post() -> Post``: a post that fits the platform's limits.
- ``accepted(fake) -> list[dict]``: what the fake created, newest last, each with an ``id``.
- ``FAILURES``: ``Failure`` cases, each arranging one platform answer and the error it maps to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from bot.errors import PublishError


@dataclass(frozen=True)
class Failure:
    id: str
    arrange: Callable[[Any], None]
    expected: type[PublishError]
    # A fragment the error message must contain (the platform's own reason), if any.
    says: str = ""
