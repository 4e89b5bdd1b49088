"""A webhook's post: the entry as JSON (the body every retry sends as it is) and the
delivery's identifier, its ``webhook-id``.

The body follows the payload the Standard Webhooks spec recommends (``type``, ``timestamp``,
``data``) plus the delivery's ``id``::

    {"type": "entry.new", "id": "msg_...", "timestamp": "2025-06-01T09:30:00Z",
     "data": {"feed": ..., "feed_title": ..., "id": ..., "link": ..., "title": ...,
              "summary": ..., "labels": [...], "image": {"url": ..., "alt": ...} | null,
              "published": ... | null, "author": ...}}
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from adapters.api import (
    Description,
    Entry,
    Limits,
    Line,
    Post,
    Rendered,
    image_line,
    template_values,
    truncate_chars,
)

EVENT_TYPE = "entry.new"
SUMMARY_CHARS = 1000


@dataclass(frozen=True, kw_only=True)
class WebhookOptions:
    """What one webhook target wants in its body, from its settings (``SPEC.options``)."""

    summary_chars: int = SUMMARY_CHARS  # 0: no summary
    image: bool = True


def new_delivery_id() -> str:
    """A delivery's identifier: ``msg_`` and a random UUID4, unique across stores (a
    re-created store never repeats it, as it would a row number)."""
    return f"msg_{uuid.uuid4().hex}"


def _iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


def render_webhook(entry: Entry, options: WebhookOptions, limits: Limits) -> Rendered:
    values, paragraphs = template_values(entry)
    summary = truncate_chars(paragraphs, options.summary_chars) if options.summary_chars else ""
    image = entry.images[0] if options.image and entry.images else None
    # Rendering runs once, when the delivery is queued, and the post is stored on the
    # delivery's row: this identifier (and so the body) is the same on every retry of the
    # delivery, which is what lets the receiver drop a repeat. `post --force` renders again,
    # so a forced repost is a new delivery with a new identifier.
    delivery_id = new_delivery_id()
    payload: dict[str, Any] = {
        "type": EVENT_TYPE,
        "id": delivery_id,
        "timestamp": _iso(datetime.now(UTC)),
        "data": {
            "feed": entry.feed,
            "feed_title": entry.feed_title,
            "id": entry.key,
            "link": entry.link,
            "title": entry.title,
            "summary": summary,
            "labels": list(entry.labels),
            "image": {"url": image.url, "alt": image.alt} if image else None,
            "published": _iso(entry.published_at),
            "author": entry.author,
        },
    }
    # Compact and UTF-8: these exact bytes are signed and sent, on every attempt.
    body = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    post = Post(
        title=values["title"],
        link=entry.link,
        body=body,
        image=image,
        slug=delivery_id,
    )
    size = len(body.encode())
    return Rendered(post=post, length=size, limit=None, budget=f"body {size} bytes")


def describe_webhook(post: Post, limits: Limits) -> Description:
    """A webhook delivery as people read it: its ``webhook-id``, the entry's link and title,
    and the JSON body (indented), with its size."""
    lines = [Line(label="webhook-id", value=post.slug or "(none)")]
    if post.title:
        lines.append(Line(label="title", value=post.title))
    if post.link:
        lines.append(Line(label="link", value=post.link))
    if post.image:
        lines.append(image_line(post.image))
    try:
        shown = json.dumps(json.loads(post.body), ensure_ascii=False, indent=2)
    except ValueError:
        shown = post.body
    lines.append(Line(label="body", value=shown, kind="block"))
    size = len(post.body.encode())
    return Description(lines=tuple(lines), length={}, budget=f"body {size} bytes")
