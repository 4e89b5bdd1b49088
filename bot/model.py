"""Plain values passed between the parts of FeedRelay.

Every datetime is timezone-aware UTC and named ``*_at``.
"""

from __future__ import annotations

import enum
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any, Literal


@dataclass(frozen=True, kw_only=True)
class Limits:
    """What one post may hold on a platform, declared by its adapter, enforced by render.

    ``None`` means the platform has no such part. ``text_counting`` is ``"twitter"`` where the
    platform weighs characters and URLs the way X does, else ``"chars"`` (code points).
    """

    max_text: int | None = None
    text_counting: Literal["chars", "twitter"] = "chars"
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

    Each platform reads the fields its shape needs: X ``text`` (+ ``image``); Reddit
    ``title`` and ``link`` (link post) or ``body`` (self post); Tumblr ``text``, ``link``,
    ``title``, ``description``, ``tags``, ``image`` and ``slug``.
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
    not_before_at: datetime | None = None
    remote_id: str | None = None
    remote_url: str | None = None
    error: str | None = None
    created_at: datetime | None = None
    updated_at: datetime | None = None
    sent_at: datetime | None = None
