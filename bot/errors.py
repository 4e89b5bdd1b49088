"""Every error FeedRelay raises on purpose.

::

    FeedRelayError
    ├── ConfigError            the config file is missing or wrong (lists every problem)
    ├── FeedError              a feed could not be fetched or parsed (carries ``feed``)
    ├── EntryNotFoundError     ``post`` was given a link or id no feed has
    ├── LockedError            another daemon holds the store
    ├── OperatorError          retry/skip/resolve asked for something that cannot be
    ├── UnknownNameError       a command named a target or feed the config does not have
    ├── StorageError           the store could not be read or written
    ├── SetupError             ``init`` or ``auth`` cannot go on (says what to do)
    ├── NotifyError            no notification service accepted a message
    ├── ImageError             an entry's image cannot be used; the post goes without it
    ├── PluginError            an installed platform cannot be loaded (carries ``platform``)
    └── PublishError           a post did not go out (carries ``target``, ``retryable``)
        ├── AuthError              credentials or permissions; not retryable
        ├── PostRejectedError      the platform refused this post; not retryable
        │   └── DuplicatePostError     ...because the same post is already there
        ├── AllowanceError         the account's paid allowance is used up (credits, a
        │                          usage cap): the target pauses, its posts wait
        ├── LookupRefusedError     the platform will not show these credentials their posts
        ├── CannotResendError      no re-send the platform would catch as a duplicate
        ├── RateLimitedError       try again at ``retry_at``
        ├── TransientError         network trouble or a 5xx before anything was applied
        └── OutcomeUnknownError    the request may have been applied; reconcile first

Adapters translate their library's exceptions into ``PublishError`` subclasses at the
boundary and never retry or sleep: the core decides.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime


class FeedRelayError(Exception):
    """Root of every error FeedRelay raises on purpose."""


class ConfigError(FeedRelayError):
    """The configuration is unusable. ``problems`` lists each one with its dotted path."""

    def __init__(self, problems: Sequence[str], *, path: str = "", hint: str = "") -> None:
        self.problems = list(problems)
        self.path = path
        # What to do about several problems at once (unset variables: how to load them).
        self.hint = hint
        where = f"{path}: " if path else ""
        super().__init__(where + "; ".join(self.problems))

    def __str__(self) -> str:
        head = f"invalid config {self.path}" if self.path else "invalid config"
        listed = "\n".join(f"  - {problem}" for problem in self.problems)
        return head + ":\n" + listed + (f"\n{self.hint}" if self.hint else "")


class ImageError(FeedRelayError):
    """An entry's image could not be used (refused address, too big, not an image, too
    slow); the post goes out without it."""


class PluginError(FeedRelayError):
    """An installed platform cannot be loaded (its package is broken or too old); the other
    platforms still work."""

    def __init__(self, message: str, *, platform: str) -> None:
        self.platform = platform
        super().__init__(message)


class FeedError(FeedRelayError):
    """A feed could not be fetched or parsed."""

    def __init__(
        self, message: str, *, feed: str, retry_at: datetime | None = None, gone: bool = False
    ) -> None:
        self.feed = feed
        self.retry_at = retry_at
        self.gone = gone  # the server says the feed was removed for good (HTTP 410)
        # What went wrong without the feed's name, for places that name the feed already.
        self.reason = message
        super().__init__(f"feed {feed}: {message}")


class EntryNotFoundError(FeedRelayError):
    """No configured feed has an entry with that link or id."""


class LockedError(FeedRelayError):
    """Another FeedRelay daemon is using this store."""


class OperatorError(FeedRelayError):
    """``retry``, ``skip`` or ``resolve`` named a delivery that cannot take that action."""


class UnknownNameError(FeedRelayError):
    """A command named a target or feed that the config does not have: a usage error. The
    message names the nearest name and lists the configured ones (``bot.names``)."""


class StorageError(FeedRelayError):
    """The store could not be opened, read or written (locked too long, disk, schema)."""


class SetupError(FeedRelayError):
    """``feedrelay init`` or ``feedrelay auth`` cannot go on; the message says what to do."""


class NotifyError(FeedRelayError):
    """A failure notification could not be sent (no service accepted it)."""


class PublishError(FeedRelayError):
    """A post did not go out. Subclasses say whether trying again can help."""

    retryable: bool = False

    def __init__(self, message: str, *, target: str = "") -> None:
        self.target = target
        self.message = message
        super().__init__(message)


class AuthError(PublishError):
    """The platform refused the credentials or the account may not post: the target pauses
    until its credentials change or the operator resumes it. ``pause_as`` says why in
    ``status`` ("credentials refused", or a platform's own words: "the receiver is gone"),
    ``fix`` what to do, where the platform knows better than "check the credentials"."""

    def __init__(
        self,
        message: str,
        *,
        target: str = "",
        pause_as: str = "credentials refused",
        fix: str = "",
    ) -> None:
        self.pause_as = pause_as
        self.fix = fix
        super().__init__(message, target=target)


class PostRejectedError(PublishError):
    """The platform refused this post (duplicate, too long, a community rule)."""


class DuplicatePostError(PostRejectedError):
    """The platform says this very post is already there (X duplicate content, Reddit
    ``ALREADY_SUB``). The core treats the delivery as done, never as lost."""


class AllowanceError(PublishError):
    """The account's paid allowance is used up: out of credits, or over a usage cap. No
    retry of this post helps, and no other post would go either: the target pauses (its
    posts wait, none fails) and is tried again at ``recheck_at`` (``None``: the policy's
    default for ``kind``). ``kind`` names the allowance ("credits", "usage_cap"),
    ``pause_as`` says it in ``status``."""

    def __init__(
        self,
        message: str,
        *,
        target: str = "",
        kind: str,
        pause_as: str,
        recheck_at: datetime | None = None,
    ) -> None:
        self.kind = kind
        self.pause_as = pause_as
        self.recheck_at = recheck_at
        super().__init__(message, target=target)


class LookupRefusedError(PublishError):
    """The platform will not show these credentials the account's posts (a plan without
    read access): whether a post went out cannot be asked, now or later."""


class LookupIncompleteError(PublishError):
    """A lookup read as many of the account's posts as it may (each read costs; the bound
    is the platform's) without reaching the time of the attempt: the post may be further
    back, so "not found" would be a guess, and a guess is never a reason to send again."""


class CannotResendError(PublishError):
    """A post of unknown outcome cannot be sent again in a form the platform would refuse
    as a duplicate if the first went out (its uploaded image expired, say)."""


class RateLimitedError(PublishError):
    """Too many posts or requests; the platform accepts more at ``retry_at`` (UTC)."""

    retryable = True

    def __init__(self, message: str, *, target: str = "", retry_at: datetime) -> None:
        self.retry_at = retry_at
        super().__init__(message, target=target)


class TransientError(PublishError):
    """Network trouble or a server error that certainly did not create the post."""

    retryable = True


class OutcomeUnknownError(PublishError):
    """The request may have been applied: look on the platform before sending again."""

    retryable = True
