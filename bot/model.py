"""Plain values passed between the parts of FeedRelay.

Every datetime is timezone-aware UTC and named ``*_at``.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any, Literal


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What one post may hold on a platform, declared by its spec, enforced by render.

    ``None`` means the platform has no such part. The text is counted with ``count``, which
    ``counting`` names for people (``len`` and ``"chars"``: code points; a platform may weigh
    characters and count every URL as a fixed length, as X does, or count graphemes).
    ``truncate(text, budget)`` cuts a text to at most ``budget`` under that count without
    cutting a word, a link or a grapheme; ``None`` cuts by code points, and the render checks
    the cut against ``count`` and cuts again until it fits. Titles, bodies and tags are
    counted in code points.
    """

    max_text: int | None = None
    count: Callable[[str], int] = len
    counting: str = "chars"
    truncate: Callable[[str, int], str] | None = None
    max_title: int | None = None
    max_body: int | None = None
    max_tags: int | None = None
    max_tag_length: int | None = None
    max_media: int = 0


@dataclass(frozen=True, kw_only=True)
class Image:
    """A picture that belongs to an entry: where it is and what it shows."""

    url: str
    alt: str = ""
    # The same picture where ``url`` asks for a larger size of it (a feed's 72 px thumbnail,
    # say): what to fetch when the larger one cannot be.
    fallback: str = ""


@dataclass(frozen=True, kw_only=True)
class Entry:
    """One item of a feed, normalised.

    ``key`` identifies the entry within its feed for ever: the feed's id/guid, else the
    normalised link, else a hash of its content.
    """

    feed: str
    key: str
    title: str
    link: str
    content_html: str = ""
    summary_html: str = ""
    labels: tuple[str, ...] = ()
    author: str = ""
    feed_title: str = ""
    published_at: datetime | None = None
    updated_at: datetime | None = None
    images: tuple[Image, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["images"] = [asdict(image) for image in self.images]
        for name in ("published_at", "updated_at"):
            value = getattr(self, name)
            data[name] = value.isoformat() if value else None
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Entry:
        values = dict(data)
        values["labels"] = tuple(values.get("labels", ()))
        values["images"] = tuple(Image(**image) for image in values.get("images", ()))
        for name in ("published_at", "updated_at"):
            raw = values.get(name)
            values[name] = datetime.fromisoformat(raw) if raw else None
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class Post:
    """A message rendered for one target, already within that platform's limits.

    Each platform reads the fields its shape needs (its ``render.py`` says which): ``text``
    for a text post, ``title`` with ``link`` or ``body`` for a titled one, ``description`` and
    ``tags`` for a card and native tags, ``image``, and ``slug``, a key of the platform's own
    fixed when the post is rendered (a record key, an idempotency key, a message id).
    """

    text: str = ""
    title: str = ""
    link: str = ""
    body: str = ""
    description: str = ""
    tags: tuple[str, ...] = ()
    image: Image | None = None
    slug: str = ""

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["tags"] = list(self.tags)
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Post:
        values = dict(data)
        values["tags"] = tuple(values.get("tags", ()))
        image = values.get("image")
        values["image"] = Image(**image) if image else None
        return cls(**values)


@dataclass(frozen=True, kw_only=True)
class MediaFile:
    """An image downloaded once and handed to the adapters that upload media."""

    data: bytes
    mime_type: str
    alt: str = ""
    filename: str = "image"


@dataclass(frozen=True, kw_only=True)
class Published:
    """Where a post ended up on its platform."""

    remote_id: str
    url: str = ""


class DeliveryState(enum.StrEnum):
    QUEUED = "queued"
    SENDING = "sending"
    POSTED = "posted"
    RETRY = "retry"
    FAILED = "failed"
    UNKNOWN = "unknown"
    HELD = "held"
    SKIPPED = "skipped"


@dataclass(frozen=True, kw_only=True)
class Delivery:
    """One (entry, target) row of the outbox."""

    id: int
    entry_id: int
    repost: int = 0
    feed: str
    entry_key: str
    target: str
    platform: str
    state: DeliveryState
    post: Post
    link: str = ""
    title: str = ""
    attempts: int = 0
    # When the row is next looked at: sent (queued, retry) or looked up on the platform
    # (unknown). The target's own waits (pause, rate limit, spacing) may put it later still.
    due_at: datetime | None = None
    claimed_by: str | None = None
    lease_until: datetime | None = None
    # Why a held row waits: "flood", "approval", "budget", "unknown" (only a person can tell
    # whether it went out), or "credentials" (refused: it goes when the target's pause for
    # them lifts).
    held_for: str | None = None
    manual: bool = False  # queued by hand for a chosen time: the target's schedule is waived
    # Re-sent once after an unknown outcome the platform could not be asked about
    # (``resend_unknown``): another unknown outcome goes to the operator.
    resend: bool = False
    first_try_at: datetime | None = None  # when it was first claimed to be sent
    first_seen_at: datetime | None = None  # when its entry was first seen
    remote_id: str | None = None
    remote_url: str | None = None
    error: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    sent_at: datetime | None = None


@dataclass(frozen=True, kw_only=True)
class FeedState:
    """What the store remembers of one feed between polls."""

    name: str
    url: str
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    baseline_done: bool = False
    next_check_at: datetime | None = None
    last_checked_at: datetime | None = None
    last_error: str | None = None
    # A problem that did not stop the feed (malformed but readable, moved permanently).
    last_warning: str | None = None
    error_count: int = 0
    # The server said the feed is gone for good (HTTP 410): not polled until its url changes.
    gone: bool = False
    # Where the feed moved permanently (301/308): fetched there until the config's url changes.
    moved_to: str | None = None


@dataclass(frozen=True, kw_only=True)
class TargetState:
    """What the store remembers of one target, so that a restart or a cron run forgets
    nothing: a pause (and why), a platform rate limit, and what was sent when.

    ``paused_until`` is ``None`` with a ``pause_reason`` for a pause that lasts until
    ``feedrelay resume`` (or, for refused credentials, until they change in the config).
    """

    target: str
    paused_until: datetime | None = None
    pause_reason: str | None = None
    pause_kind: str | None = None  # "auth", "operator", "credits" or "usage_cap"
    credentials_hash: str | None = None  # of the credentials refused, to notice a change
    rate_limited_until: datetime | None = None
    last_sent_at: datetime | None = None
    sent_day: str | None = None  # the local calendar day that sent_today counts (ISO date)
    sent_today: int = 0
    spent_month: str | None = None  # the local calendar month spent_usd counts ("2026-12")
    spent_usd: float = 0.0
    # The platform's words when it refused to show the account's posts (no read access):
    # unknown outcomes cannot be looked up. ``None``: lookups work, or were never refused.
    lookups_refused: str | None = None
    lookups_refused_at: datetime | None = None  # when it last refused

    def paused_at(self, now: datetime) -> bool:
        """Paused now: until ``paused_until``, or, for a pause that lasts until it is lifted
        (refused credentials, a used-up allowance re-checked at ``paused_until``), while it
        has a reason."""
        return self.pause_reason is not None and (
            self.paused_until is None
            or self.paused_until > now
            or self.pause_kind in LASTING_PAUSES
        )


# Pauses that last until lifted: refused credentials (until they change, or ``resume``); a
# used-up allowance (until a post goes through at a re-check, or ``resume``).
LASTING_PAUSES = frozenset({"auth", "credits", "usage_cap"})


@dataclass(frozen=True, kw_only=True)
class Decision:
    """What the policy says a due delivery does now.

    ``send``: claim it and post it. ``wait``: the target may not post before ``until``
    (pause, rate limit, spacing); nothing changes and the target's later rows wait too.
    ``hold``: the row waits for an operator (``reason`` says why). ``skip``: never sent.
    """

    action: Literal["send", "wait", "hold", "skip"]
    until: datetime | None = None
    reason: str = ""
    held_for: str | None = None  # hold: "budget", "approval" or "flood"
    # send: the target's state once this post is sent (last sent, counts, spend)
    target_state: TargetState | None = None


@dataclass(frozen=True, kw_only=True)
class Settlement:
    """How a delivery ends an attempt, and what its target learned from it.

    The ``target_*`` fields change the target's state in the same transaction; ``None``
    leaves a field as it was. ``pause_kind`` ``""`` with ``pause_reason`` ``""`` lifts a pause.
    """

    state: DeliveryState
    due_at: datetime | None = None
    error: str | None = None
    published: Published | None = None
    held_for: str | None = None  # a held row: why it waits
    rate_limited_until: datetime | None = None
    pause_reason: str | None = None
    pause_kind: str | None = None
    paused_until: datetime | None = None
    credentials_hash: str | None = None
    # The platform refused a lookup (its words, and when); "" forgets an earlier refusal.
    lookups_refused: str | None = None
    lookups_refused_at: datetime | None = None
    # The attempt did nothing on the platform (it refused before acting: no credits, a
    # usage cap): it is not counted, and what the claim added to the month's spend
    # (``refund``, USD) is taken back.
    void_attempt: bool = False
    refund: float = 0.0
    # What the attempt's other requests cost (a lookup billed per post read), USD, added to
    # the month ``spent_month`` names.
    spent: float = 0.0
    spent_month: str | None = None
    resend: bool | None = None  # set or clear Delivery.resend (None: unchanged)
    # Pause kinds this outcome ends, if the target is paused for one of them when it is
    # recorded (a post that went through ends a pause for a used-up allowance).
    lifts_pause: frozenset[str] = frozenset()


# What tells the time: ``datetime.now(UTC)`` in the program, a clock a test moves by hand.
Clock = Callable[[], datetime]


@dataclass(frozen=True, kw_only=True)
class PushSubscription:
    """A feed's WebSub subscription (W3C WebSub), as the store keeps it.

    ``state``: ``none`` (the feed names no hub), ``requested`` (asked; the hub has not
    verified it yet), ``subscribed`` (verified, until ``lease_until``), ``refused`` (the
    hub said no: ``error`` says why), ``failing`` (the hub could not be asked: tried again
    at ``next_attempt_at``), ``unsubscribing`` (the feed left the config). ``secret`` is
    the ``hub.secret`` the hub signs notifications with: it is never shown.
    """

    feed: str
    state: str
    hub: str | None = None
    topic: str | None = None
    callback_id: str | None = None
    callback_base: str | None = None
    secret: str | None = field(default=None, repr=False)
    lease_until: datetime | None = None
    requested_at: datetime | None = None
    verified_at: datetime | None = None
    discovered_at: datetime | None = None
    next_attempt_at: datetime | None = None
    attempts: int = 0
    error: str | None = None
    version: int = 0


@dataclass(frozen=True, kw_only=True)
class Tally:
    """One running total of the metrics: ``metric`` with its ``labels``."""

    metric: str
    labels: tuple[tuple[str, str], ...]
    value: float

    @classmethod
    def of(cls, metric: str, value: float = 1.0, **labels: str) -> Tally:
        return cls(metric=metric, labels=tuple(sorted(labels.items())), value=value)

    def label(self, name: str) -> str:
        return dict(self.labels).get(name, "")
