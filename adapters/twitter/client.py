"""X (Twitter) adapter: posts through tweepy's API v2 client with OAuth 1.0a user context.

Posting is ``POST /2/tweets`` via ``tweepy.Client.create_tweet``. An image goes up first through
X's v2 media endpoints (``POST /2/media/upload``, then ``POST /2/media/metadata`` for alt
text), which tweepy 4.17 does not wrap, over the same session and the same OAuth1 credentials.
A failed upload never blocks the post: it goes out without the image and a warning says why.

X refuses an identical re-send (403 "duplicate content", raised as ``DuplicatePostError``),
so re-sending is a safe check. To record *which* post is there, ``find_existing`` reads the
account's timeline (``GET /2/users/:id/tweets``) since just before the delivery was first
tried, five posts a page (X's minimum: reads are billed per post returned, ``take_spent``),
and matches the text, after expanding the ``t.co`` links X puts in place of every URL and
leaving out the link X appends to a post's media. The core calls it after a duplicate and
after an unknown outcome. An app on X's legacy Free tier may post but not read: its lookup
is refused (``LookupRefusedError``), and the core remembers that; ``resend`` then sends a
post once more in a form X refuses as a duplicate (the same text; the same media id, which
X keeps a day, never a new upload).

Out of credits X answers 402, over a usage cap 429 ``UsageCapExceeded``: both are
``AllowanceError`` (the target pauses; its posts wait).

Every request has connect and read timeouts and a total deadline (tweepy sends no timeout of
its own, so the client gets our session from ``make_session``, see ``bot.http``).
``wait_on_rate_limit`` stays off: a 429 becomes ``RateLimitedError`` with the time X names,
and the core schedules the retry.
"""

from __future__ import annotations

import hashlib
import html
import json
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

from adapters.base import (
    USER_AGENT,
    Limits,
    LocalMemory,
    Memory,
    make_session,
    request_error,
    retry_at,
    scrub,
)
from adapters.oauth1 import OAuth1Library
from adapters.twitter.spec import SPEC
from adapters.twitter.text import find_urls
from bot.errors import (
    AllowanceError,
    AuthError,
    CannotResendError,
    DuplicatePostError,
    LookupIncompleteError,
    LookupRefusedError,
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
# A lookup's page: X's minimum (reads are billed per post returned), and how many posts a
# lookup reads at most before it says the post is not there.
LOOKUP_PAGE = 5
LOOKUP_MOST = 100
# What X calls an app's missing access to an endpoint (its problem type and reason).
NOT_ENROLLED = "client-not-enrolled"
CLIENT_FORBIDDEN = "/problems/client-forbidden"
USAGE_CAPPED = "UsageCapExceeded"
MEDIA_KEPT = timedelta(hours=24)  # X's ``expires_after_secs`` when an upload does not say

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
        self._bypass_proxies: bool | None = None  # for api_base: read once, when first sent

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
            if self._bypass_proxies is None:
                self._bypass_proxies = bool(should_bypass_proxies(request.url, no_proxy=None))
            if self._bypass_proxies:
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
        memory: Memory | None = None,
        price_per_read: float = 0.0,
    ) -> None:
        _quiet_library_loggers()
        self._memory: Memory = memory if memory is not None else LocalMemory()
        self._price_per_read = price_per_read
        self._spent = 0.0
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
                self._keep_media(post, media_id)
        return self._create(post, media_ids)

    def resend(self, post: Post) -> Published:
        """Send ``post`` once more after an unknown outcome, as X would refuse it if the
        first went out: the same text, with the media id the first attempt uploaded while
        X keeps it. A new upload could slip past X's duplicate check: never one."""
        if post.image is None:
            return self._create(post, [])
        media_id = self._kept_media(post)
        if media_id is None:
            raise CannotResendError(
                "the post's image was uploaded more than a day ago (X keeps an upload 24"
                " hours), or not at all; a new upload could slip past X's duplicate check,"
                " so it is not re-sent",
                target=self.target,
            )
        return self._create(post, [media_id])

    def take_spent(self) -> float:
        """What the lookups since the last call cost, USD (X bills each post read)."""
        spent, self._spent = self._spent, 0.0
        return spent

    def _create(self, post: Post, media_ids: list[str]) -> Published:
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

    def find_existing(self, post: Post, *, since: datetime | None = None) -> Published | None:
        """The account's post with ``post``'s text made after ``since`` (else among its
        latest ``LOOKUP_MOST``), or ``None`` if there is none.

        Raises ``LookupIncompleteError`` when ``LOOKUP_MOST`` posts were read and X has
        more since then, ``LookupRefusedError`` when the app may not read the timeline,
        ``AllowanceError`` when it is out of credits or over its cap, ``RateLimitedError``
        or ``TransientError`` when the timeline cannot be read now.
        """
        user_id = self._user_id or self._me("find")
        wanted = _comparable(post.text)
        token: str | None = None
        read = 0
        while read < LOOKUP_MOST:
            try:
                response = self._timeline_page(user_id, since=since, token=token)
                tweets = getattr(response, "data", None) or []
                read += len(tweets)
                self._spent += len(tweets) * self._price_per_read
                for tweet in tweets:
                    if _comparable(_expanded(tweet.text, tweet.entities)) == wanted:
                        return Published(remote_id=str(tweet.id), url=self._url(str(tweet.id)))
            except (AttributeError, KeyError, TypeError, ValueError) as e:  # a bad post
                raise TransientError(
                    f"unreadable timeline from X: {type(e).__name__}: {e}", target=self.target
                ) from e
            errors = getattr(response, "errors", None)
            if errors:  # X answers 200 with only "errors" when it could not list the posts
                said = "; ".join(str(error.get("detail") or error) for error in errors)
                raise TransientError(
                    f"X could not list the account's posts: {said}", target=self.target
                )
            meta = getattr(response, "meta", None) or {}
            token = meta.get("next_token") if isinstance(meta, dict) else None
            if not token or not tweets:
                return None
        raise LookupIncompleteError(
            f"the account has more than {LOOKUP_MOST} posts since the attempt, and a lookup"
            " reads no more (each read is billed)",
            target=self.target,
        )

    def lookup_refusal(self) -> str | None:
        """Whether X lets this app read the timeline, asked for posts made from now on: none
        are returned, so the read costs nothing."""
        user_id = self._user_id or self._me("find")
        try:
            self._timeline_page(user_id, since=datetime.now(UTC), token=None)
        except LookupRefusedError as refused:
            return str(refused)
        return None

    def _timeline_page(self, user_id: str, *, since: datetime | None, token: str | None) -> Any:
        with self._translate_errors("find"):
            return self._client.get_users_tweets(
                user_id,
                max_results=LOOKUP_PAGE,
                start_time=_x_time(since) if since is not None else None,
                pagination_token=token,
                tweet_fields=["entities", "created_at"],
                user_auth=True,
            )

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
    def _keep_media(self, post: Post, media_id: str) -> None:
        """Remember the media id a post was sent with, for a re-send while X keeps it."""
        key = _media_key(post)
        kept = {"id": media_id, "until": (datetime.now(UTC) + MEDIA_KEPT).isoformat()}
        old = self._memory.get(key)
        if not self._memory.swap(key, old, json.dumps(kept)):
            log.debug("target %s: media id not remembered (changed meanwhile)", self.target)

    def _kept_media(self, post: Post) -> str | None:
        try:
            kept = json.loads(self._memory.get(_media_key(post)) or "null")
            until = datetime.fromisoformat(kept["until"])
        except (TypeError, KeyError, ValueError):
            return None
        # An hour's margin: the re-send must reach X before the upload expires.
        if until - timedelta(hours=1) <= datetime.now(UTC):
            return None
        return str(kept["id"])

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
        # Looking for an earlier post: any other refusal means "cannot tell", try again later.
        kept = RateLimitedError | TransientError | AllowanceError | LookupRefusedError
        if action == "find" and not isinstance(error, kept):
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
        problem = _problem(response)
        if status == 402:
            # Out of credits (pay-per-use); X sends it on reads too. Two bodies are seen
            # (tests/fakes/x_api.py): the status is what counts.
            return AllowanceError(
                f"X refused {what}: out of credits (402: {reason}); top up at"
                " developer.x.com, then `feedrelay resume` (or wait for the next re-check)",
                target=self.target,
                kind="credits",
                pause_as="out of X credits",
            )
        if status == 429 and problem.get("title") == USAGE_CAPPED:
            period = str(problem.get("period") or "Monthly").lower()
            return AllowanceError(
                f"X refused {what}: the app's {period} usage cap is reached (429: {reason});"
                " it lifts when X's billing cycle turns",
                target=self.target,
                kind="usage_cap",
                pause_as="X usage cap reached",
            )
        if status == 403 and action == "find" and _not_enrolled(problem):
            return LookupRefusedError(
                f"the X app may not read posts (403 {problem.get('reason') or 'client-forbidden'}:"
                " its access level has no timeline reads)",
                target=self.target,
            )
        if status == 403 and action == "create" and _not_enrolled(problem):
            return AuthError(
                f"X refused {what} (403): the app may not post ({reason})",
                target=self.target,
                pause_as="the X app may not post",
                fix="attach the app to a project with posting access at developer.x.com",
            )
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


def _problem(response: requests.Response) -> dict[str, Any]:
    """X's problem body (``title``, ``type``, ``reason``, ...), or ``{}``."""
    try:
        body: Any = response.json()
    except ValueError:
        return {}
    return body if isinstance(body, dict) else {}


def _not_enrolled(problem: Mapping[str, Any]) -> bool:
    """X's answer to an app without access to the endpoint (legacy Free tier reads)."""
    return problem.get("reason") == NOT_ENROLLED or str(problem.get("type", "")).endswith(
        CLIENT_FORBIDDEN
    )


def _x_time(at: datetime) -> str:
    """X's time parameter form: ``YYYY-MM-DDTHH:mm:ssZ``, UTC."""
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _media_key(post: Post) -> str:
    """The memory key of the media a post was sent with: its text and image."""
    image = post.image.url if post.image is not None else ""
    digest = hashlib.sha256(f"{post.text}\0{image}".encode()).hexdigest()[:32]
    return f"media:{digest}"


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
