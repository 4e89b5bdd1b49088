"""Tumblr adapter: API v2, NPF posts, OAuth 1.0a (HMAC-SHA1, header auth) on ``requests``.

Tumblr answers 403 with code 8023 when the account reached its daily post limit (250 a day).
The API does not say when that limit resets. We wait for the next midnight US/Eastern (the
reset time Tumblr's help pages give), or for ``X-Ratelimit-Perday-Reset`` if that is later:
that header is the app's daily call quota, not the account's post limit, so it alone could
bring a retry too early.
"""

from __future__ import annotations

import mimetypes
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import requests
from requests_oauthlib import OAuth1, OAuth1Session
from requests_oauthlib.oauth1_session import TokenMissing, TokenRequestDenied

from adapters.base import Limits, make_session, request_error, retry_at
from adapters.oauth1 import OAuth1Library
from adapters.tumblr.spec import LIMITS, STATES
from bot.errors import (
    AuthError,
    LookupIncompleteError,
    OutcomeUnknownError,
    PostRejectedError,
    PublishError,
    RateLimitedError,
    TransientError,
)
from bot.model import MediaFile, Post, Published


def next_eastern_midnight(now: datetime) -> datetime:
    """The next midnight in America/New_York after ``now``, in UTC (never skipped by DST)."""
    eastern = ZoneInfo("America/New_York")
    day = now.astimezone(eastern).date() + timedelta(days=1)
    return datetime.combine(day, time(0), tzinfo=eastern).astimezone(UTC)


def _retry_at(headers: Mapping[str, str], now: datetime) -> datetime:
    """When a 429 ends: the exhausted window's reset (seconds from now), else Retry-After,
    else in an hour."""
    exhausted = [
        f"X-Ratelimit-{scope}-Reset"
        for scope in ("Perhour", "Perday")
        if headers.get(f"X-Ratelimit-{scope}-Remaining") == "0"
        and headers.get(f"X-Ratelimit-{scope}-Reset")
    ]
    return retry_at(
        headers, now=now, default=timedelta(hours=1), waits=exhausted or ["Retry-After"]
    )


def _json(response: requests.Response) -> dict[str, Any]:
    try:
        body = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


LOOKUP_POSTS = 20  # the most GET /v2/blog/:blog/posts returns at once
LOOKUP_PAGES = 5  # a lookup reads at most 100 posts made since the attempt
_ORDERED_ITEM = re.compile(r"^\d+\.\s+")


def text_blocks(text: str) -> list[dict[str, Any]]:
    """Plain text as NPF text blocks: one per paragraph, list lines as list items."""
    blocks: list[dict[str, Any]] = []
    for paragraph in re.split(r"\n\s*\n", text.strip()):
        lines = [line.strip() for line in paragraph.splitlines() if line.strip()]
        if lines and all(line.startswith("• ") for line in lines):
            blocks += [
                {"type": "text", "subtype": "unordered-list-item", "text": line[2:]}
                for line in lines
            ]
        elif lines and all(_ORDERED_ITEM.match(line) for line in lines):
            blocks += [
                {
                    "type": "text",
                    "subtype": "ordered-list-item",
                    "text": _ORDERED_ITEM.sub("", line),
                }
                for line in lines
            ]
        elif lines:
            blocks.append({"type": "text", "text": "\n".join(lines)})
    return blocks


class TumblrAdapter:
    """One Tumblr blog. ``blog`` is a name, ``name.tumblr.com`` or the blog's own domain."""

    limits: ClassVar[Limits] = LIMITS

    def __init__(
        self,
        *,
        target: str,
        blog: str,
        consumer_key: str,
        consumer_secret: str,
        oauth_token: str,
        oauth_token_secret: str,
        state: str = "published",
        api_base: str | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}, not {state!r}")
        host = urlsplit(blog if "//" in blog else f"//{blog}").hostname or blog
        self.target = target
        self.blog = host if "." in host else f"{host}.tumblr.com"
        self.state = state
        self.api_base = (api_base or "https://api.tumblr.com").rstrip("/")
        self._session = session or make_session()
        self._session.auth = OAuth1(consumer_key, consumer_secret, oauth_token, oauth_token_secret)
        self._secrets = (consumer_key, consumer_secret, oauth_token, oauth_token_secret)

    def publish(self, post: Post, media: MediaFile | None = None) -> Published:
        """Create an NPF post. Images go by URL in the link block: ``media`` is unused."""
        content = text_blocks(post.text)
        if post.link:
            link: dict[str, Any] = {"type": "link", "url": post.link}
            link.update(
                {k: v for k, v in (("title", post.title), ("description", post.description)) if v}
            )
            if post.image:
                mime = mimetypes.guess_type(urlsplit(post.image.url).path)[0] or ""
                kind = mime if mime.startswith("image/") else "image/jpeg"
                link["poster"] = [{"url": post.image.url, "type": kind}]
            content.append(link)
        tags = (tag.replace(",", "").strip() for tag in post.tags)
        body: dict[str, Any] = {
            "content": content,
            "state": self.state,
            "tags": ",".join(t for t in tags if t),
        }
        if post.link:
            body["source_url"] = post.link
        if post.slug:
            body["slug"] = post.slug
        with self._errors("publish", sending=True):
            response = self._session.post(f"{self.api_base}/v2/blog/{self.blog}/posts", json=body)
            response.raise_for_status()
        created = _json(response).get("response")
        remote_id = str(created.get("id") or "") if isinstance(created, dict) else ""
        if not remote_id:
            raise OutcomeUnknownError("tumblr answered without a post id", target=self.target)
        path = f"{remote_id}/{post.slug}" if post.slug else remote_id
        return Published(remote_id=remote_id, url=f"https://{self.blog}/post/{path}")

    def find_existing(self, post: Post, *, since: datetime | None = None) -> Published | None:
        """Look for this slug or link in the queue or drafts (where the target posts
        there), then among the posts made since ``since`` (the first attempt), up to
        ``LOOKUP_PAGES`` pages of 20, else among the last 20. Raises
        ``LookupIncompleteError`` when every post read was made after ``since``: the post
        may be further back."""
        if self.state in ("queue", "draft"):
            found = _matching(self._posts(f"/{self.state}", offset=0), post)
            if found is not None:
                return found
        pages = LOOKUP_PAGES if since is not None else 1
        for page in range(pages):
            items = self._posts("", offset=page * LOOKUP_POSTS)
            found = _matching(items, post)
            if found is not None:
                return found
            oldest = items[-1].get("timestamp") if items else None
            if len(items) < LOOKUP_POSTS or since is None or not oldest:
                break
            if oldest < since.timestamp():
                break
        else:
            raise LookupIncompleteError(
                f"the blog has more than {pages * LOOKUP_POSTS} posts since the attempt, and a"
                " lookup reads no more",
                target=self.target,
            )
        return None

    def _posts(self, where: str, *, offset: int) -> list[Any]:
        listing = self._get(
            f"/v2/blog/{self.blog}/posts{where}",
            limit=LOOKUP_POSTS,
            npf="true",
            **({"offset": offset} if offset else {}),
        )
        posts = listing.get("posts", [])
        return posts if isinstance(posts, list) else []

    def verify(self) -> str:
        user = self._get("/v2/user/info").get("user", {})
        for blog in user.get("blogs", []):
            names = {urlsplit(blog.get("url", "")).hostname, f"{blog.get('name')}.tumblr.com"}
            if self.blog in names:
                return str(user.get("name"))
        own = ", ".join(str(b.get("name")) for b in user.get("blogs", [])) or "none"
        raise AuthError(
            f"account {user.get('name')} cannot post to blog {self.blog}: set blog in"
            f" [targets.{self.target}] to one of its blogs ({own}), or authorise the account"
            " that owns it (`feedrelay auth tumblr`)",
            target=self.target,
        )

    def close(self) -> None:
        self._session.close()

    def _get(self, path: str, **params: Any) -> dict[str, Any]:
        with self._errors("read", sending=False):
            response = self._session.get(f"{self.api_base}{path}", params=params)
            response.raise_for_status()
        result = _json(response).get("response")
        return result if isinstance(result, dict) else {}

    @contextmanager
    def _errors(self, action: str, *, sending: bool) -> Iterator[None]:
        """Translate ``requests`` failures; ``sending``: a lost answer may hide a new post."""
        try:
            yield
        except requests.HTTPError as e:
            assert e.response is not None
            raise self._from_response(e.response, action, sending) from e
        except requests.RequestException as e:
            raise request_error(
                e,
                service=f"tumblr {action} ({self.api_base})",
                target=self.target,
                creates=sending,
                secrets=self._secrets,
            ) from e

    def _from_response(
        self, response: requests.Response, action: str, sending: bool
    ) -> PublishError:
        body, status, now = _json(response), response.status_code, datetime.now(UTC)
        meta = body["meta"] if isinstance(body.get("meta"), dict) else {}
        errors = [e for e in body.get("errors") or [] if isinstance(e, dict)]
        codes = {e.get("code") for e in errors}
        reasons = "; ".join(
            f"{e.get('title', '')} ({e.get('code')}): {e.get('detail', '')}" for e in errors
        )
        message = f"tumblr {action}: {status} {meta.get('msg') or response.reason}"
        message += f": {reasons}" if reasons else ""
        target = self.target
        if status == 404:
            message += f" (is there a blog {self.blog}?)"
        if status == 403 and 8023 in codes:
            midnight = next_eastern_midnight(now)
            app_day = retry_at(
                response.headers, now=now, default=timedelta(0), waits=["X-Ratelimit-Perday-Reset"]
            )
            return RateLimitedError(message, target=target, retry_at=max(midnight, app_day))
        if status == 429:
            return RateLimitedError(
                message, target=target, retry_at=_retry_at(response.headers, now)
            )
        if status in (401, 403) and 8022 not in codes:
            return AuthError(message, target=target)
        if status >= 500:
            return (OutcomeUnknownError if sending else TransientError)(message, target=target)
        return PostRejectedError(message, target=target)


# For ``feedrelay auth`` (adapters/oauth1.py): requests-oauthlib, imported only here.
OAUTH1 = OAuth1Library(session=OAuth1Session, denied=TokenRequestDenied, missing=TokenMissing)


def _matching(posts: list[Any], post: Post) -> Published | None:
    for item in posts:
        if (post.slug and item.get("slug") == post.slug) or (
            post.link and item.get("source_url") == post.link
        ):
            remote_id = str(item.get("id_string") or item.get("id"))
            return Published(remote_id=remote_id, url=item.get("post_url") or "")
    return None
