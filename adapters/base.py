"""The contract every platform adapter keeps, and what adapters share.

An adapter is built for one target, publishes posts that already fit its ``limits`` (its
platform's shape keeps them, with ``bot.text.render``'s toolkit), and reports failure by raising a
``bot.errors.PublishError`` subclass. It never sleeps and never retries: the core decides
what happens next.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, ClassVar, Protocol, runtime_checkable

from adapters.setup import AuthFlow, Credential, Question
from bot import http_shared
from bot.errors import OutcomeUnknownError, PublishError, TransientError
from bot.model import Entry, Limits, MediaFile, Post, Published
from bot.settings import TargetSettings
from bot.text.render import Description, Rendered, describe_post

if TYPE_CHECKING:  # requests is imported where a session is made or an error read
    import requests

__all__ = [
    "Adapter",
    "Limits",
    "LookupCheck",
    "Metered",
    "PlatformSpec",
    "Reconciler",
    "Resender",
    "SelfCheck",
    "describe",
    "header_time",
    "make_session",
    "nothing_sent",
    "request_error",
    "retry_at",
    "scrub",
]

CONNECT_TIMEOUT_S = http_shared.CONNECT_TIMEOUT_S
READ_TIMEOUT_S = http_shared.READ_TIMEOUT_S
DEADLINE_S = http_shared.DEADLINE_S
USER_AGENT = http_shared.USER_AGENT
header_time = http_shared.header_time
retry_at = http_shared.retry_at
scrub = http_shared.scrub


class Adapter(Protocol):
    """One configured target on one platform.

    ``publish`` raises ``AuthError``, ``PostRejectedError``, ``RateLimitedError``,
    ``TransientError`` or ``OutcomeUnknownError``; ``verify`` raises the same family.
    """

    limits: ClassVar[Limits]

    def publish(self, post: Post, media: MediaFile | None = None) -> Published: ...

    def verify(self) -> str:
        """Check the credentials without posting; return the account's name."""
        ...

    def close(self) -> None: ...


class Memory(Protocol):
    """What a platform keeps for one target between runs (a login session, say), in the
    store, so every runner of the store sees the same value.

    ``swap`` sets ``key`` to ``new`` only if it still is ``old`` (``None``: not set), in one
    transaction, and says whether it did: of two runners refreshing one session, one wins,
    and the other reads what the winner wrote. Both raise ``StorageError``.
    """

    def get(self, key: str) -> str | None: ...
    def swap(self, key: str, old: str | None, new: str) -> bool: ...


class LocalMemory:
    """A ``Memory`` of this process only (for checks and auth flows, and tests)."""

    def __init__(self) -> None:
        self._values: dict[str, str] = {}

    def get(self, key: str) -> str | None:
        return self._values.get(key)

    def swap(self, key: str, old: str | None, new: str) -> bool:
        if self._values.get(key) != old:
            return False
        self._values[key] = new
        return True


@runtime_checkable
class Reconciler(Protocol):
    """An adapter that can look on its platform for a post it may already have made.

    ``find_existing`` returns the post if it is there, ``None`` if it certainly is not, and
    raises ``PublishError`` when it cannot tell: ``LookupRefusedError`` when the platform
    will not show these credentials their posts at all. An adapter may also take
    ``since=`` (aware UTC: the post, if it exists, was made after it), to ask for less.
    """

    def find_existing(self, post: Post) -> Published | None: ...


@runtime_checkable
class Resender(Protocol):
    """An adapter that can send a post of unknown outcome again in a form its platform
    refuses as a duplicate if the first went out (X: the same text, the same media id).
    ``resend`` raises ``CannotResendError`` when there is no such form (any more)."""

    def resend(self, post: Post) -> Published: ...


@runtime_checkable
class LookupCheck(Protocol):
    """A ``Reconciler`` that can ask, at no cost, whether its platform will show the
    account's posts: ``lookup_refusal`` returns the platform's words if not, else ``None``
    (``check --online``)."""

    def lookup_refusal(self) -> str | None: ...


@runtime_checkable
class Metered(Protocol):
    """An adapter whose requests besides the post itself cost money (X bills each post a
    lookup reads). ``take_spent`` returns what they cost since it was last called, USD."""

    def take_spent(self) -> float: ...


@runtime_checkable
class SelfCheck(Protocol):
    """An adapter that can tell, without posting, what would stop its posts.

    ``problems`` returns each problem found, in plain words and saying what to do (empty:
    none), and raises ``PublishError`` when it cannot look.
    """

    def problems(self) -> list[str]: ...


def free(settings: TargetSettings, post: Post) -> float:
    """The cost of a post on a platform that charges nothing for it."""
    return 0.0


@dataclass(frozen=True, kw_only=True)
class PlatformSpec:
    """What the core knows about one platform, declared in ``adapters/<name>/spec.py``.

    ``connect`` opens a target's adapter: it imports the platform's client (and so its
    library) when it is called, so reading a spec loads no platform library.
    """

    name: str
    settings_model: type[TargetSettings]
    limits: Limits
    # The plugin surface (``adapters.api.API_VERSION``) this platform is written for.
    api: int = 1
    # True where the platform itself refuses an identical re-send (``DuplicatePostError``),
    # so that sending again is a safe way to settle an unknown outcome.
    resend_is_safe: bool = False
    # rendering
    # The rendering options of one target, built from its settings (a frozen dataclass of
    # the platform's own; raises ``TypeError`` for another platform's settings).
    options: Callable[[TargetSettings], Any]
    # The platform's shape: an entry (already cleaned), a target's options and ``limits``
    # -> the post that fits them. The core calls it through ``bot.text.render.render``.
    render: Callable[[Entry, Any, Limits], Rendered]
    # The settings that say what its posts say (templates, hashtags, a content warning,
    # tags): the keys a route, [feeds.FEED.to.TARGET], may set for one feed's entries. Each
    # is a field of ``settings_model`` of the platform's own that ``options`` reads (a post
    # is rendered per route; the adapter is opened per target).
    wording: tuple[str, ...] = ()
    # What a post is, as preview and dry runs show it (text, and the JSON's length): its
    # parts as labelled lines and its length against ``limits`` (by default, each part the
    # post has and every limited part's use: ``bot.text.render.describe_post``).
    describe: Callable[[Post, Limits], Description] = describe_post
    # The spacing between two posts of a target that sets no ``min_interval`` (None: none),
    # where the platform is known to penalise bursts.
    default_min_interval: timedelta | None = None
    # What one post costs on the platform, in USD.
    cost: Callable[[TargetSettings, Post], float] = free
    # The adapter of one target: its name, its settings (of ``settings_model``), an HTTP
    # session to use instead of the adapter's own (None: its own), and what the platform
    # keeps for the target between runs (``Memory``). Imports the client.
    connect: Callable[[str, Any, requests.Session | None, Memory], Adapter]

    # setting up: what `feedrelay init` and `feedrelay auth` need (``adapters/setup.py``)
    # How people call the platform ("X"), in help and messages (empty: its name).
    display_name: str = ""
    # Other names `init --to` and `auth` take for the platform ("x").
    aliases: tuple[str, ...] = ()
    # The target `init` writes, ``[targets.NAME]`` (empty: the platform's name).
    target_name: str = ""
    # `init` posts here when told nothing: the first installed platform that says so.
    init_default: bool = False
    # What `init` asks about the target, in order; each is an `init` option too.
    questions: tuple[Question, ...] = ()
    # The target's table after ``platform = "..."``, from the answers by question key; it
    # writes the credentials with ``credential_lines``. None: the credentials only.
    target_lines: Callable[[Mapping[str, str]], Sequence[str]] | None = None
    # What a target reads from the environment: the .env template, and messages.
    credentials: tuple[Credential, ...] = ()
    # `feedrelay auth PLATFORM` (None: the platform has none).
    auth: AuthFlow | None = None
    # Its libraries' loggers, kept at INFO or above whatever -v says: at DEBUG they print
    # request headers, tokens included.
    quiet_loggers: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        shared = set(TargetSettings.model_fields)
        for key in self.wording:
            if key not in self.settings_model.model_fields or key in shared:
                raise ValueError(
                    f"wording key {key!r} is not a setting of {self.settings_model.__name__}'s own"
                )

    def open(
        self,
        target_name: str,
        settings: TargetSettings,
        *,
        session: requests.Session | None = None,
        memory: Memory | None = None,
    ) -> Adapter:
        """The adapter for one configured target; ``session`` replaces its own HTTP session,
        ``memory`` is what it keeps between runs (default: for this process only)."""
        if not isinstance(settings, self.settings_model):
            raise TypeError(f"{self.name}: expected {self.settings_model.__name__} settings")
        return self.connect(target_name, settings, session, memory or LocalMemory())


def make_session(
    *,
    user_agent: str = USER_AGENT,
    connect_timeout: float = CONNECT_TIMEOUT_S,
    read_timeout: float = READ_TIMEOUT_S,
    deadline: float = DEADLINE_S,
) -> requests.Session:
    """A pooled HTTP session with FeedRelay's User-Agent, connect and read timeouts, and a
    total deadline on every request (``bot.http``)."""
    from bot import http

    return http.make_session(
        user_agent=user_agent,
        connect_timeout=connect_timeout,
        read_timeout=read_timeout,
        deadline=deadline,
    )


# -- shared HTTP helpers -------------------------------------------------------------------


def nothing_sent(error: requests.RequestException) -> bool:
    """True when the request certainly never reached the platform: refused, DNS, connect
    timeout, TLS handshake or proxy failure."""
    import requests
    from urllib3.exceptions import MaxRetryError, NewConnectionError
    from urllib3.exceptions import SSLError as UrllibSSLError

    if isinstance(
        error,
        (requests.ConnectTimeout, requests.exceptions.SSLError, requests.exceptions.ProxyError),
    ):
        return True
    if not isinstance(error, requests.ConnectionError) or not error.args:
        return False
    cause = error.args[0]
    if isinstance(cause, MaxRetryError):
        cause = cause.reason
    return isinstance(cause, (NewConnectionError, UrllibSSLError))


def describe(error: BaseException) -> str:
    """The exception and its innermost cause, e.g. ``ConnectionError: ... Connection refused``."""
    from urllib3.exceptions import MaxRetryError

    cause: object = error.args[0] if error.args else None
    if isinstance(cause, MaxRetryError) and cause.reason is not None:
        cause = cause.reason
    return f"{type(error).__name__}: {cause}" if cause is not None else type(error).__name__


def request_error(
    error: requests.RequestException,
    *,
    service: str,
    target: str,
    creates: bool,
    secrets: Iterable[str] = (),
) -> PublishError:
    """The ``PublishError`` for a request that got no readable answer from ``service``.

    Nothing sent (``nothing_sent``) is a ``TransientError``. After sending (a read timeout, a
    dropped connection, an answer that could not be read) the platform may have acted: that
    is ``OutcomeUnknownError`` when the request ``creates`` a post, else ``TransientError``.
    An ``HTTPError`` has an answer: the adapter translates that one itself.
    """
    import requests

    said = scrub(describe(error), secrets)
    if nothing_sent(error):
        return TransientError(f"could not reach {service}: {said}", target=target)
    failed = OutcomeUnknownError if creates else TransientError
    maybe = "; it may have been applied" if creates else ""
    if isinstance(error, requests.Timeout):
        return failed(f"{service} did not answer in time{maybe}", target=target)
    if isinstance(error, requests.ConnectionError):
        return failed(f"connection to {service} lost after sending: {said}{maybe}", target=target)
    return failed(f"unreadable answer from {service}: {said}{maybe}", target=target)
