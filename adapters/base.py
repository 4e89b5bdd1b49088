"""The contract every platform adapter keeps, and what adapters share.

An adapter is built for one target, publishes posts that already fit its ``limits``
(``bot.render`` enforces them), and reports failure by raising a ``bot.errors.PublishError``
subclass. It never sleeps and never retries: the core decides what happens next.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, cast, runtime_checkable

import requests

from bot import __version__
from bot.model import Limits, MediaFile, Post, Published
from bot.render import Style
from bot.settings import TargetSettings

__all__ = [
    "Adapter",
    "Limits",
    "PlatformSpec",
    "Reconciler",
    "TimeoutSession",
    "make_session",
]

CONNECT_TIMEOUT_S = 5.0
READ_TIMEOUT_S = 30.0
USER_AGENT = f"feedrelay/{__version__} (+https://pypi.org/project/feedrelay/)"


class Adapter(Protocol):
    """One configured target on one platform.

    ``publish`` raises ``AuthError``, ``PostRejectedError``, ``RateLimitedError``,
    ``TransientError`` or ``OutcomeUnknownError``; ``verify`` raises the same family.
    """

    limits: ClassVar[Limits]
    # True where the platform itself refuses an identical re-send (``DuplicatePostError``),
    # so that sending again is a safe way to settle an unknown outcome.
    resend_is_safe: ClassVar[bool] = False

    def publish(self, post: Post, media: MediaFile | None = None) -> Published: ...

    def verify(self) -> str:
        """Check the credentials without posting; return the account's name."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class Reconciler(Protocol):
    """An adapter that can look on its platform for a post it may already have made.

    ``find_existing`` returns the post if it is there, ``None`` if it certainly is not, and
    raises ``PublishError`` when it cannot tell.
    """

    def find_existing(self, post: Post) -> Published | None: ...


def free(post: Post) -> float:
    """The cost of a post on a platform that charges nothing for it."""
    return 0.0


@dataclass(frozen=True, kw_only=True)
class PlatformSpec:
    """What the core knows about one platform, declared in ``adapters/<name>/spec.py``.

    ``client`` names the adapter class as ``"module:Class"``; it is imported only by
    ``open`` and ``client_class``, so reading a spec loads no platform library.
    """

    name: str
    settings_model: type[TargetSettings]
    limits: Limits
    # True where the platform itself refuses an identical re-send (``DuplicatePostError``),
    # so that sending again is a safe way to settle an unknown outcome.
    resend_is_safe: bool = False
    # The renderer options of one target (raises ``TypeError`` for another platform's).
    style: Callable[[TargetSettings], Style]
    # What one post costs on the platform, in USD.
    cost: Callable[[Post], float] = free
    client: str

    def client_class(self) -> Callable[..., Adapter]:
        """The adapter class, imported now (with its platform library)."""
        module_name, _, class_name = self.client.partition(":")
        return cast(
            "Callable[..., Adapter]", getattr(importlib.import_module(module_name), class_name)
        )

    def open(
        self,
        target_name: str,
        settings: TargetSettings,
        *,
        session: requests.Session | None = None,
    ) -> Adapter:
        """The adapter for one configured target; ``session`` replaces its own HTTP session."""
        if not isinstance(settings, self.settings_model):
            raise TypeError(f"{self.name}: expected {self.settings_model.__name__} settings")
        return self.client_class()(
            target=target_name, session=session, **settings.adapter_options()
        )


class TimeoutSession(requests.Session):
    """A ``requests.Session`` that never waits for ever: every request gets a timeout."""

    def __init__(self, timeout: tuple[float, float]) -> None:
        super().__init__()
        self.timeout = timeout

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(method, url, *args, **kwargs)


def make_session(
    *,
    user_agent: str = USER_AGENT,
    timeout: tuple[float, float] = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S),
) -> requests.Session:
    """A pooled HTTP session with timeouts and FeedRelay's User-Agent."""
    session = TimeoutSession(timeout)
    session.headers["User-Agent"] = user_agent
    return session
