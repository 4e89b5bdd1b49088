"""X (Twitter) adapter: posts through tweepy's API v2 client with OAuth 1.0a user context.

Posting is ``POST /2/tweets`` via ``tweepy.Client.create_tweet``. An image goes up first through
X's v2 media endpoints (``POST /2/media/upload``, then ``POST /2/media/metadata`` for alt
text), which tweepy 4.17 does not wrap, over the same session and the same OAuth1 credentials.
A failed upload never blocks the post: it goes out without the image and a warning says why.

X refuses an identical re-send (403 "duplicate content", raised as ``DuplicatePostError``),
so re-sending is a safe check. To record *which* post is there, ``find_existing`` reads the
account's recent timeline (``GET /2/users/:id/tweets``, the last 100 posts) and matches the
text, after expanding the ``t.co`` links X puts in place of every URL. The core calls it after
a duplicate and after an unknown outcome.

Every request has connect and read timeouts and a total deadline (tweepy sends no timeout of
its own, so the client gets our session from ``make_session``, see ``bot.http``).
``wait_on_rate_limit`` stays off: a 429 becomes ``RateLimitedError`` with the time X names,
and the core schedules the retry.
"""

from __future__ import annotations

import html
import logging
import re
import unicodedata
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal

import requests
import tweepy
from requests.adapters import HTTPAdapter
from requests.utils import should_bypass_proxies
from requests_oauthlib import OAuth1, OAuth1Session
from requests_oauthlib.oauth1_session import TokenMissing, TokenRequestDenied

from adapters.base import USER_AGENT, Limits, make_session, request_error, retry_at, scrub
from adapters.oauth1 import OAuth1Library
from adapters.twitter.spec import SPEC
from adapters.twitter.text import find_urls
from bot.errors import (
    AuthError,
    DuplicatePostError,
    OutcomeUnknownError,
    PostRejectedError,
    PublishError,
    RateLimitedError,
    TransientError,
)
from bot.model import MediaFile, Post, Published

log = logging.getLogger(__name__)

X_API = "https://api.twitter.com"  # the host tweepy 4.17 hard-codes in BaseClient.request
MEDIA_UPLOAD_URL = X_API + "/2/media/upload"
MEDIA_METADATA_URL = X_API + "/2/media/metadata"
MAX_IMAGE_BYTES = 5 * 1024 * 1024
MAX_ALT_TEXT = 1000
DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=15)
DUPLICATE_MARKER = "duplicate content"

Action = Literal["create", "verify", "media", "find"]
TIMELINE_POSTS = 100  # the most X returns in one page

# At DEBUG these log request details: tweepy bodies and headers, oauthlib the access token
# and signature base strings.
LIBRARY_LOGGERS = SPEC.quiet_loggers


def _quiet_library_loggers() -> None:
    """Keep the libraries' loggers at INFO or above, whatever the root logger says."""
    for name in LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if logger.level < logging.INFO:  # NOTSET (0) would inherit DEBUG from the root
            logger.setLevel(logging.INFO)


_quiet_library_loggers()


class _RewriteHostAdapter(HTTPAdapter):
    """A transport that sends requests meant for ``https://api.twitter.com`` to ``api_base``.

    tweepy 4.17 builds every URL as ``"https://api.twitter.com" + route`` inside
    ``BaseClient.request`` and has no setting for the host. Rather than subclass tweepy or patch
    the session, the adapter mounts this transport on the session for that prefix: the request
    is built, and OAuth1-signed, for the real host, and only the address it is sent to changes.
    The same transport serves our own media requests. It works for any ``requests.Session``
    (ours from ``make_session`` or one a caller passes in). A server that checks signatures
    against its own host will refuse them: this is for fakes and non-checking proxies.
    """

    def __init__(self, api_base: str) -> None:
        super().__init__()
        self.api_base = api_base.rstrip("/")

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: float | tuple[float, float] | tuple[float, None] | None = None,
        verify: bool | str = True,
        cert: bytes | str | tuple[bytes | str, bytes | str] | None = None,
        proxies: Mapping[str, str] | None = None,
    ) -> requests.Response:
        url = request.url or ""
        if url.lower().startswith(X_API + "/"):
            request = request.copy()
            request.url = self.api_base + url[len(X_API) :]
            # requests chose proxies for api.twitter.com; decide again for the real address.
            if should_bypass_proxies(request.url, no_proxy=None):
                proxies = {}
        return super().send(
            request, stream=stream, timeout=timeout, verify=verify, cert=cert, proxies=proxies
        )


class TwitterAdapter:
    """One X account (a target), posting with OAuth 1.0a user-context credentials."""

    limits: ClassVar[Limits] = SPEC.limits
    resend_is_safe: ClassVar[bool] = SPEC.resend_is_safe

    def __init__(
        self,
        *,
        target: str,
        consumer_key: str,
        consumer_secret: str,
        access_token: str,
        access_token_secret: str,
        api_base: str | None = None,
        session: requests.Session | None = None,
    ) -> None:
        _quiet_library_loggers()
        self.target = target
        self._secrets = tuple(
            s for s in (consumer_key, consumer_secret, access_token, access_token_secret) if s
        )
        self._session = session if session is not None else make_session()
        if api_base:
            self._session.mount(X_API + "/", _RewriteHostAdapter(api_base))
        self._client = tweepy.Client(
            consumer_key=consumer_key,
            consumer_secret=consumer_secret,
            access_token=access_token,
            access_token_secret=access_token_secret,
            wait_on_rate_limit=False,
        )
        self._client.session = self._session
        # tweepy sends its own User-Agent header on every request; make it ours.
        self._client.user_agent = str(self._session.headers.get("User-Agent") or USER_AGENT)
        self._oauth = OAuth1(
            consumer_key,
            client_secret=consumer_secret,
            resource_owner_key=access_token,
            resource_owner_secret=access_token_secret,
        )
        self._username: str | None = None
        self._user_id: str | None = None

    def __repr__(self) -> str:
        return f"TwitterAdapter(target={self.target!r})"

    # -- Adapter protocol --------------------------------------------------------------
    def publish(self, post: Post, media: MediaFile | None = None) -> Published:
        media_ids: list[str] = []
        if media is not None:
            media_id = self._upload(media)
            if media_id is not None:
                media_ids.append(media_id)
        with self._translate_errors("create"):
            response = self._client.create_tweet(
                text=post.text, media_ids=media_ids or None, user_auth=True
            )
        data = getattr(response, "data", None)
        tweet_id = data.get("id") if isinstance(data, dict) else None
        if not tweet_id:
            raise OutcomeUnknownError(
                "X accepted the post but its answer has no post id", target=self.target
            )
        tweet_id = str(tweet_id)
        url = self._url(tweet_id)
        log.debug("target %s: posted %s", self.target, url)
        return Published(remote_id=tweet_id, url=url)

    def verify(self) -> str:
        self._me("verify")
        return f"@{self._username}"

    def problems(self) -> list[str]:
        """What X's answer to ``GET /2/users/me`` tells about posting: the app's permission
        (``x-access-level``: ``read``, ``read-write``, ``read-write-directmessages``).

        A read-only app's tokens pass ``verify`` but every post is refused with a 403.
        """
        with self._translate_errors("verify"):
            response = self._session.get(X_API + "/2/users/me", auth=self._oauth)
            response.raise_for_status()
        level = response.headers.get("x-access-level", "").strip().lower()
        if level and "write" not in level:
            return [
                "the X app has read-only permission: set it to Read and write, then generate"
                " new tokens (`feedrelay auth twitter`) and put them in the environment (the"
                " permission is under your app's User authentication settings at developer.x.com)"
            ]
        return []

    def find_existing(self, post: Post) -> Published | None:
        """The account's recent post with ``post``'s text, or ``None`` if there is none.

        Raises ``RateLimitedError`` or ``TransientError`` when the timeline cannot be read.
        """
        user_id = self._user_id or self._me("find")
        wanted = _comparable(post.text)
        try:
            with self._translate_errors("find"):
                response = self._client.get_users_tweets(
                    user_id,
                    max_results=TIMELINE_POSTS,
                    tweet_fields=["entities", "created_at"],
                    user_auth=True,
                )
            for tweet in getattr(response, "data", None) or []:
                if _comparable(_expanded(tweet.text, tweet.entities)) == wanted:
                    return Published(remote_id=str(tweet.id), url=self._url(str(tweet.id)))
        except (AttributeError, KeyError, TypeError, ValueError) as e:  # tweepy read a bad post
            raise TransientError(
                f"unreadable timeline from X: {type(e).__name__}: {e}", target=self.target
            ) from e
        errors = getattr(response, "errors", None)
        if errors:  # X answers 200 with only "errors" when it could not list the posts
            said = "; ".join(str(error.get("detail") or error) for error in errors)
            raise TransientError(
                f"X could not list the account's posts: {said}", target=self.target
            )
        return None

    def close(self) -> None:
        self._session.close()

    def _me(self, action: Action) -> str:
        """Ask X who the account is; keep its username (for post URLs) and return its id."""
        with self._translate_errors(action):
            response = self._client.get_me(user_auth=True)
        data = getattr(response, "data", None)
        user_id, username = getattr(data, "id", None), getattr(data, "username", None)
        if not user_id or not username:
            raise TransientError("X answered /2/users/me without a username", target=self.target)
        self._user_id, self._username = str(user_id), str(username)
        return self._user_id

    def _url(self, tweet_id: str) -> str:
        if self._username:
            return f"https://x.com/{self._username}/status/{tweet_id}"
        return f"https://x.com/i/web/status/{tweet_id}"

    # -- media -------------------------------------------------------------------------
    def _upload(self, media: MediaFile) -> str | None:
        """Upload one image and set its alt text; ``None`` (and a warning) if it failed."""
        if len(media.data) > MAX_IMAGE_BYTES:
            log.warning(
                "target %s: image is %d bytes, over X's %d byte limit; posting without it",
                self.target,
                len(media.data),
                MAX_IMAGE_BYTES,
            )
            return None
        try:
            with self._translate_errors("media"):
                response = self._session.post(
                    MEDIA_UPLOAD_URL,
                    files={"media": (media.filename, media.data, media.mime_type)},
                    data={"media_category": "tweet_image"},
                    auth=self._oauth,
                )
                response.raise_for_status()
                body = response.json()
            data = body.get("data") if isinstance(body, dict) else None
            media_id = data.get("id") if isinstance(data, dict) else None
            if not media_id:
                raise TransientError("X answered the upload without a media id", target=self.target)
        except PublishError as error:
            log.warning(
                "target %s: image upload failed, posting without it: %s", self.target, error
            )
            return None
        media_id = str(media_id)
        if media.alt:
            try:
                with self._translate_errors("media"):
                    response = self._session.post(
                        MEDIA_METADATA_URL,
                        json={
                            "id": media_id,
                            "metadata": {"alt_text": {"text": media.alt[:MAX_ALT_TEXT]}},
                        },
                        auth=self._oauth,
                    )
                    response.raise_for_status()
            except PublishError as error:
                log.warning(
                    "target %s: alt text not set, posting the image without it: %s",
                    self.target,
                    error,
                )
        return media_id

    # -- errors ------------------------------------------------------------------------
    @contextmanager
    def _translate_errors(self, action: Action) -> Iterator[None]:
        """Turn tweepy's and requests' exceptions into ``PublishError`` subclasses.

        ``action`` matters where X may have acted: a 5xx, a read timeout or a dropped
        connection while creating a post is ``OutcomeUnknownError``; elsewhere it is transient.
        """
        try:
            yield
        except tweepy.errors.HTTPException as e:
            raise self._for_action(self._from_response(e.response, action), action) from e
        except requests.HTTPError as e:
            raise self._for_action(self._from_response(e.response, action), action) from e
        except requests.RequestException as e:
            raise request_error(
                e,
                service="X",
                target=self.target,
                creates=action == "create",
                secrets=self._secrets,
            ) from e

    def _for_action(self, error: PublishError, action: Action) -> PublishError:
        # Looking for an earlier post: any refusal means "cannot tell", try again later.
        if action == "find" and not isinstance(error, RateLimitedError | TransientError):
            return TransientError(f"cannot look for earlier posts: {error}", target=self.target)
        return error

    def _from_response(self, response: requests.Response | None, action: Action) -> PublishError:
        if response is None:
            return TransientError("X answered with an error and no response", target=self.target)
        status = response.status_code
        reason = scrub(_reason(response), self._secrets)
        what = {
            "create": "the post",
            "verify": "the account check",
            "media": "the image",
            "find": "the timeline lookup",
        }[action]
        if status == 429:
            retry_at = retry_at_from_headers(response.headers, now=datetime.now(UTC))
            return RateLimitedError(
                f"X rate limit reached (429: {reason}); "
                f"X accepts more at {retry_at:%Y-%m-%d %H:%M:%S} UTC",
                target=self.target,
                retry_at=retry_at,
            )
        if status == 403 and DUPLICATE_MARKER in reason.lower():
            return DuplicatePostError(
                f"X says the post is already there: {reason}", target=self.target
            )
        if status in (401, 403):
            return AuthError(f"X refused {what} ({status}): {reason}", target=self.target)
        if 400 <= status < 500:
            return PostRejectedError(f"X rejected {what} ({status}): {reason}", target=self.target)
        if action == "create":
            return OutcomeUnknownError(
                f"X failed while taking the post ({status}: {reason}); it may exist",
                target=self.target,
            )
        return TransientError(f"X failed on {what} ({status}): {reason}", target=self.target)


def retry_at_from_headers(headers: Mapping[str, str], *, now: datetime) -> datetime:
    """When X accepts posts again, from a 429's headers (aware UTC).

    The latest relevant reset wins: the 15-minute window (``x-rate-limit-reset``) and each
    24-hour window (user, app) whose ``remaining`` is ``0``. Without any, ``now`` + 15 min.
    """
    resets = ["x-rate-limit-reset"] + [
        f"x-{who}-limit-24hour-reset"
        for who in ("user", "app")
        if headers.get(f"x-{who}-limit-24hour-remaining", "").strip() == "0"
    ]
    return retry_at(headers, now=now, default=DEFAULT_RATE_LIMIT_WAIT, waits=(), resets=resets)


def _reason(response: requests.Response) -> str:
    """X's own words for an error answer: the ``errors`` messages, else detail, else title."""
    try:
        body: Any = response.json()
    except ValueError:
        body = None
    if isinstance(body, dict):
        messages = [
            str(error["message"])
            for error in body.get("errors") or []
            if isinstance(error, dict) and error.get("message")
        ]
        for key in ("detail", "title", "error"):
            if not messages and isinstance(body.get(key), str):
                messages.append(body[key])
        if messages:
            return "; ".join(messages)
    return f"HTTP {response.status_code} {response.reason or ''}".strip()


# The link X adds at the end of a post with media, to the media itself: its entity has a
# ``media_key`` and an ``expanded_url`` ending ``/photo/1`` or ``/video/1`` (tweepy's recorded
# cassette ``test_client_get_users_tweets.yaml``).
_MEDIA_LINK = re.compile(r"/(?:photo|video)/\d+/?$")


def _expanded(text: str, entities: object) -> str:
    """A timeline post's text as it was sent: each ``t.co`` link back to its URL, the link X
    appended to its media left out, unescaped."""
    urls = entities.get("urls") if isinstance(entities, dict) else None
    for url in urls or []:
        if not (isinstance(url, dict) and url.get("url")):
            continue
        expanded = str(url.get("expanded_url") or "")
        if url.get("media_key") or _MEDIA_LINK.search(expanded):
            text = text.replace(str(url["url"]), "")
        elif expanded:
            text = text.replace(str(url["url"]), expanded)
    return html.unescape(text)  # X shows &, < and > as HTML entities


def _comparable(text: str) -> str:
    """``text`` for comparing: NFC, whitespace runs as one space, every URL without its
    scheme or a trailing slash (X expands ``example.com`` to ``http://example.com``)."""
    text = unicodedata.normalize("NFC", text)
    parts, last = [], 0
    for start, end in find_urls(text):
        url = re.sub(r"^[A-Za-z]+://", "", text[start:end]).rstrip("/")
        parts += [text[last:start], url]
        last = end
    parts.append(text[last:])
    return " ".join("".join(parts).split())


# For ``feedrelay auth`` (adapters/oauth1.py): requests-oauthlib, imported only here.
OAUTH1 = OAuth1Library(session=OAuth1Session, denied=TokenRequestDenied, missing=TokenMissing)
