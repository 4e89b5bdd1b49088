"""Bluesky adapter: AT Protocol XRPC through MarshalX's ``atproto`` SDK (its httpx client).

**The session.** ``com.atproto.server.createSession`` is limited per account (30 per 5
minutes, 300 a day: ``createSession.ts`` in bluesky-social/atproto; the entryway has been seen
to enforce about 100 a day), so the adapter never logs in per post. The session (access and
refresh JWT, the account's DID, handle and PDS) is kept in the target's ``Memory``, in the
store, shared by every runner (daemon, cron runs, ``post`` by hand). Before a call the access
token's ``exp`` is read; within ``REFRESH_MARGIN`` of it the session is refreshed
(``refreshSession`` with the refresh JWT) and the new one is swapped into the store against
the old one. The PDS rotates the refresh token on every refresh, so a runner whose swap fails
lost a race: it uses what the winner stored and never refreshes with a token already used.
A refresh token the PDS refuses (``ExpiredToken``, ``InvalidToken``) means logging in again.
The SDK's own refresh (15 minutes before expiry, in ``Client._invoke``) never runs: the SDK
is given no session of its own, every call carries its ``Authorization`` header.

**Exactly once.** The record key (``rkey``) is FeedRelay's, a TID fixed when the post was
rendered (``Post.slug``), so a re-send can never create a second record: the PDS refuses an
existing key, today with a bare 500 (bluesky-social/atproto#3718, #4725), not a clear
refusal. A 5xx answer to ``createRecord`` is therefore settled by reading the record back
(``getRecord`` with that key): there, the post went out; not there, the outcome stays unknown
and the core looks again (``find_existing``, the same read) before anything is sent again.

**The card.** Bluesky makes no link preview on the server: the card (``app.bsky.embed.external``)
is built here, its thumbnail uploaded first (``uploadBlob``) and kept to the lexicon's
``maxSize`` of 1,000,000 bytes (``adapters.bluesky.thumb``), which the PDS checks only when
the record is created. A failed or oversized image never fails the post: the card goes
without a thumbnail.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, NoReturn, TypeVar

import httpx
from atproto_client import Client, models
from atproto_client.client.session import get_session_pds_endpoint
from atproto_client.exceptions import (
    BadRequestError,
    NetworkError,
    RateLimitExceededError,
    RequestErrorBase,
    UnauthorizedError,
)
from atproto_client.models.common import XrpcError
from atproto_client.request import Request
from atproto_core.exceptions import AtProtocolError

from adapters.api import (
    USER_AGENT,
    AuthError,
    Limits,
    MediaFile,
    Memory,
    OutcomeUnknownError,
    Post,
    PostRejectedError,
    Published,
    PublishError,
    RateLimitedError,
    TransientError,
    retry_at,
    scrub,
)
from adapters.base import CONNECT_TIMEOUT_S, READ_TIMEOUT_S
from adapters.bluesky.render import facets, is_tid
from adapters.bluesky.spec import LIMITS

log = logging.getLogger(__name__)

POST_COLLECTION = "app.bsky.feed.post"
SESSION_KEY = "session"
# Which refresh token a runner has claimed to refresh with (a digest of it): set by
# compare-and-swap before refreshing, so that of several runners holding one stored session
# exactly one refreshes it. The refresh token changes on every refresh.
REFRESH_CLAIM_KEY = "session-refresh"
# Refresh this long before the access token expires (the PDS gives it 2 hours).
REFRESH_MARGIN = timedelta(minutes=5)
# How long to wait after a 429 without a readable reset: logins are counted per 5 minutes.
DEFAULT_WAIT = timedelta(minutes=5)
# The answers that mean the session's token is no longer good (auth-verifier.ts: 400s).
_TOKEN_ERRORS = frozenset({"ExpiredToken", "InvalidToken"})

T = TypeVar("T")


def _error_of(error: RequestErrorBase) -> tuple[int, str, str]:
    """The status, and Bluesky's own ``error`` and ``message`` of a failed call."""
    response = error.response
    if response is None:
        return 0, "", ""
    content = response.content
    if isinstance(content, XrpcError):
        return response.status_code, content.error or "", content.message or ""
    if isinstance(content, dict):
        return response.status_code, str(content.get("error", "")), str(content.get("message", ""))
    return response.status_code, "", ""


def _jwt_expiry(token: str) -> datetime | None:
    """The ``exp`` of a JWT, read without checking its signature (the PDS checks it)."""
    try:
        payload = token.split(".")[1]
        data = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
        return datetime.fromtimestamp(float(data["exp"]), UTC)
    except (IndexError, ValueError, KeyError, TypeError, OverflowError):
        return None


def post_url(handle: str, rkey: str) -> str:
    """The post's web address on bsky.app."""
    return f"https://bsky.app/profile/{handle}/post/{rkey}"


class _Session:
    """A stored session: what ``Memory`` keeps, as JSON."""

    def __init__(self, data: dict[str, str]) -> None:
        self.data = data

    @classmethod
    def parse(cls, raw: str | None, *, service: str, login: str) -> _Session | None:
        if not raw:
            return None
        try:
            data = json.loads(raw)
        except ValueError:
            return None
        wanted = ("service", "login", "did", "handle", "access", "refresh", "pds")
        if not isinstance(data, dict) or not all(isinstance(data.get(k), str) for k in wanted):
            return None
        if data["service"] != service or data["login"] != login:
            return None  # the target now names another account or host
        return cls(data)

    @classmethod
    def of(cls, answer: Any, *, service: str, login: str) -> _Session:
        pds = get_session_pds_endpoint(answer) or service
        return cls(
            {
                "service": service,
                "login": login,
                "did": answer.did,
                "handle": answer.handle,
                "access": answer.access_jwt,
                "refresh": answer.refresh_jwt,
                "pds": pds.rstrip("/").removesuffix("/xrpc"),
            }
        )

    def encode(self) -> str:
        return json.dumps(self.data, sort_keys=True)

    @property
    def did(self) -> str:
        return self.data["did"]

    @property
    def handle(self) -> str:
        return self.data["handle"]

    @property
    def access(self) -> str:
        return self.data["access"]

    @property
    def refresh(self) -> str:
        return self.data["refresh"]

    @property
    def pds(self) -> str:
        return self.data["pds"]

    def expired(self, now: datetime) -> bool:
        expiry = _jwt_expiry(self.access)
        return expiry is None or expiry <= now

    def fresh(self, now: datetime) -> bool:
        expiry = _jwt_expiry(self.access)
        return expiry is not None and expiry - REFRESH_MARGIN > now


class BlueskyAdapter:
    """One Bluesky account: posts with a link card, its session kept in ``memory``."""

    limits: ClassVar[Limits] = LIMITS

    def __init__(
        self,
        *,
        target: str,
        handle: str,
        app_password: str,
        service: str = "https://bsky.social",
        langs: tuple[str, ...] = (),
        memory: Memory,
        connect_timeout: float = CONNECT_TIMEOUT_S,
        read_timeout: float = READ_TIMEOUT_S,
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.target = target
        self.handle = handle
        self.service = service.rstrip("/")
        self.langs = langs
        self._password = app_password
        self._memory = memory
        self._clock = clock or (lambda: datetime.now(UTC))
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._client = Client(base_url=self.service, request=Request(timeout=timeout))
        self._client.request.add_additional_header("User-Agent", USER_AGENT)
        self._session: _Session | None = None
        self._stored: str | None = None  # what the store held when the session was read

    # -- the adapter --------------------------------------------------------------------
    def publish(self, post: Post, media: MediaFile | None = None) -> Published:
        """Create the post under its own record key (``post.slug``), with its facets and
        link card."""
        rkey = post.slug
        if not is_tid(rkey):
            raise PostRejectedError(
                f"bluesky: the post has no valid record key ({rkey!r}); re-queue it"
                " (`feedrelay post --force`) so that it is rendered again",
                target=self.target,
            )
        session = self._ensure_session()
        record = models.AppBskyFeedPost.Record(
            text=post.text,
            created_at=self._clock().isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            facets=self._facets(post) or None,
            embed=self._card(post, media),
            langs=list(self.langs) or None,
        )
        data = models.ComAtprotoRepoCreateRecord.Data(
            repo=session.did, collection=POST_COLLECTION, rkey=rkey, record=record
        )
        try:
            answer = self._call(
                "post",
                lambda auth: self._client.com.atproto.repo.create_record(data, headers=auth),
                creates=True,
            )
        except _ServerError as error:
            try:
                found = self._read_back(rkey)
            except PublishError:
                found = None  # the outcome stays unknown: the core looks again later
            if found is None:
                raise error.translated from error.__cause__
            log.info(
                "bluesky: %s answered %s, but record %s is there: the post went out",
                self.target,
                error.status,
                rkey,
            )
            return found
        uri = str(answer.uri)
        return Published(
            remote_id=uri, url=post_url(self._current().handle, uri.rsplit("/", 1)[-1])
        )

    def find_existing(self, post: Post) -> Published | None:
        """The record under the post's key (``getRecord``); without a key, the account's
        last 50 posts are searched for its link."""
        if is_tid(post.slug):
            return self._read_back(post.slug)
        if not post.link:
            return None
        session = self._ensure_session()
        params = models.ComAtprotoRepoListRecords.Params(
            repo=session.did, collection=POST_COLLECTION, limit=50
        )
        listing = self._call(
            "list posts",
            lambda auth: self._client.com.atproto.repo.list_records(params, headers=auth),
        )
        for item in listing.records:
            value = item.value
            embed = getattr(value, "embed", None)
            external = getattr(embed, "external", None)
            if getattr(external, "uri", None) == post.link or post.link in str(
                getattr(value, "text", "")
            ):
                uri = str(item.uri)
                return Published(
                    remote_id=uri, url=post_url(self._current().handle, uri.rsplit("/", 1)[-1])
                )
        return None

    def verify(self) -> str:
        """Log in (or reuse the stored session) and name the account: its handle."""
        self._ensure_session()
        answer = self._call(
            "check the session",
            lambda auth: self._client.com.atproto.server.get_session(headers=auth),
        )
        return f"@{answer.handle}"

    def problems(self) -> list[str]:
        """What would stop posts: an account that is not active, a handle that moved."""
        self._ensure_session()
        answer = self._call(
            "check the session",
            lambda auth: self._client.com.atproto.server.get_session(headers=auth),
        )
        found: list[str] = []
        if answer.active is False:
            found.append(
                f"the account @{answer.handle} is not active"
                f" ({answer.status or 'no reason given'}): Bluesky takes no posts from it;"
                " reactivate it on bsky.app"
            )
        if not self.handle.startswith("did:") and answer.handle != self.handle:
            found.append(
                f"the account's handle is now @{answer.handle}, not {self.handle}: set handle in"
                f" [targets.{self.target}] to it"
            )
        return found

    def close(self) -> None:
        self._client.request.close()

    # -- the card -------------------------------------------------------------------------
    def _facets(self, post: Post) -> list[models.AppBskyRichtextFacet.Main]:
        made: list[models.AppBskyRichtextFacet.Main] = []
        for facet in facets(post.text, post.link, post.tags):
            feature: Any
            if facet.kind == "link":
                feature = models.AppBskyRichtextFacet.Link(uri=facet.value)
            else:
                feature = models.AppBskyRichtextFacet.Tag(tag=facet.value)
            made.append(
                models.AppBskyRichtextFacet.Main(
                    features=[feature],
                    index=models.AppBskyRichtextFacet.ByteSlice(
                        byte_start=facet.byte_start, byte_end=facet.byte_end
                    ),
                )
            )
        return made

    def _card(self, post: Post, media: MediaFile | None) -> models.AppBskyEmbedExternal.Main | None:
        if not post.link:
            return None
        return models.AppBskyEmbedExternal.Main(
            external=models.AppBskyEmbedExternal.External(
                uri=post.link,
                title=post.title,
                description=post.description,
                thumb=self._thumb(media) if media is not None else None,
            )
        )

    def _thumb(self, media: MediaFile) -> Any:
        """The uploaded thumbnail's blob, or ``None`` (said in the log) when the image cannot
        be made small enough or the upload fails: the card then goes without it."""
        from adapters.bluesky.thumb import MAX_THUMB_BYTES, thumbnail

        made = thumbnail(media.data, media.mime_type)
        if made is None:
            log.warning(
                "bluesky: %s: the image (%d bytes, %s) cannot be made a thumbnail of at most"
                " %s bytes; the card goes without one",
                self.target,
                len(media.data),
                media.mime_type,
                f"{MAX_THUMB_BYTES:,}",
            )
            return None
        data, mime = made
        try:
            answer = self._call(
                "upload the thumbnail",
                lambda auth: self._client.com.atproto.repo.upload_blob(
                    data, headers={**auth, "Content-Type": mime}
                ),
            )
        except PublishError as error:
            log.warning("bluesky: %s: the card goes without its thumbnail: %s", self.target, error)
            return None
        if answer.blob.size > MAX_THUMB_BYTES:  # the PDS would refuse the record for it
            log.warning("bluesky: %s: the uploaded thumbnail is too big; left out", self.target)
            return None
        return answer.blob

    # -- reading back -------------------------------------------------------------------------
    def _read_back(self, rkey: str) -> Published | None:
        """The post under ``rkey``, ``None`` if the PDS has no such record."""
        session = self._ensure_session()
        params = models.ComAtprotoRepoGetRecord.Params(
            repo=session.did, collection=POST_COLLECTION, rkey=rkey
        )
        try:
            answer = self._call(
                "look up the post",
                lambda auth: self._client.com.atproto.repo.get_record(params, headers=auth),
                not_found=True,
            )
        except _NotFound:
            return None
        return Published(remote_id=str(answer.uri), url=post_url(self._current().handle, rkey))

    # -- the session ------------------------------------------------------------------------
    def _current(self) -> _Session:
        assert self._session is not None
        return self._session

    def _ensure_session(self, *, stale: bool = False) -> _Session:
        """A session good for a call: the stored one, refreshed when near its expiry (or
        ``stale``: the PDS refused its access token), else a new login."""
        now = self._clock()
        raw = self._memory.get(SESSION_KEY)
        found = _Session.parse(raw, service=self.service, login=self.handle)
        if found is None:
            found = self._login(raw)
        elif stale and raw == self._stored:
            found = self._refresh(raw, found)
        elif not found.fresh(now):
            try:
                found = self._refresh(raw, found)
            except TransientError:
                if found.expired(now):
                    raise
                # Bluesky could not be reached to refresh; the token still works a while.
                self._stored = raw
        else:
            self._stored = raw
        self._use(found)
        return found

    def _use(self, session: _Session) -> None:
        self._session = session
        self._client.update_base_url(session.pds)

    def _keep(self, old: str | None, new: _Session) -> _Session:
        """Store ``new`` in place of ``old``; if another runner changed it meanwhile, theirs
        is the session to use."""
        encoded = new.encode()
        if self._memory.swap(SESSION_KEY, old, encoded):
            self._stored = encoded
            return new
        raw = self._memory.get(SESSION_KEY)
        theirs = _Session.parse(raw, service=self.service, login=self.handle)
        if theirs is None:  # gone, or another account's: ours is good
            if self._memory.swap(SESSION_KEY, raw, encoded):
                self._stored = encoded
            return new
        log.info("bluesky: %s: another runner renewed the session first; using theirs", self.target)
        self._stored = raw
        return theirs

    def _refresh(self, raw: str | None, session: _Session) -> _Session:
        claim = hashlib.sha256(session.refresh.encode()).hexdigest()[:32]
        claimed = self._memory.get(REFRESH_CLAIM_KEY)
        if claimed == claim or not self._memory.swap(REFRESH_CLAIM_KEY, claimed, claim):
            # Another runner refreshes (or refreshed) with this token: never a second time.
            current = self._memory.get(SESSION_KEY)
            theirs = _Session.parse(current, service=self.service, login=self.handle)
            if current != raw and theirs is not None:
                self._stored = current
                return theirs
            if not session.expired(self._clock()):
                self._stored = raw
                return session  # its access token still works while theirs is on the way
            log.info(
                "bluesky: %s: the session ended while another runner renewed it; logging in",
                self.target,
            )
            return self._login(current)
        self._client.update_base_url(session.pds)
        auth = {"Authorization": f"Bearer {session.refresh}"}
        try:
            with self._errors("refresh the session", creates=False):
                answer = self._client.com.atproto.server.refresh_session(headers=auth)
        except (_TokenRefused, AuthError):
            current = self._memory.get(SESSION_KEY)
            if current != raw:  # another runner refreshed with this token first
                theirs = _Session.parse(current, service=self.service, login=self.handle)
                if theirs is not None:
                    self._stored = current
                    return theirs
            log.info("bluesky: %s: the stored session ended; logging in again", self.target)
            return self._login(current)
        log.debug("bluesky: %s: session refreshed", self.target)
        return self._keep(raw, _Session.of(answer, service=self.service, login=self.handle))

    def _login(self, raw: str | None) -> _Session:
        self._client.update_base_url(self.service)
        data = models.ComAtprotoServerCreateSession.Data(
            identifier=self.handle, password=self._password
        )
        with self._errors("log in", creates=False, login=True):
            answer = self._client.com.atproto.server.create_session(data)
        log.info("bluesky: %s: logged in as @%s (a new session)", self.target, answer.handle)
        return self._keep(raw, _Session.of(answer, service=self.service, login=self.handle))

    # -- calls ------------------------------------------------------------------------------
    def _call(
        self,
        action: str,
        call: Callable[[dict[str, str]], T],
        *,
        creates: bool = False,
        not_found: bool = False,
    ) -> T:
        """``call`` with the session's ``Authorization``; once more with a renewed session
        if the PDS says the access token expired (it checks auth before any write)."""
        for attempt in (1, 2):
            session = self._current()
            try:
                with self._errors(action, creates=creates, not_found=not_found):
                    return call({"Authorization": f"Bearer {session.access}"})
            except _ServerError as error:
                if creates:
                    raise
                raise error.translated from error.__cause__
            except _TokenRefused:
                if attempt == 2:
                    raise AuthError(
                        f"bluesky {action}: the PDS refuses the new session's token too",
                        target=self.target,
                    ) from None
                self._ensure_session(stale=True)
        raise AssertionError("unreachable")

    @contextmanager
    def _errors(
        self, action: str, *, creates: bool, login: bool = False, not_found: bool = False
    ) -> Iterator[None]:
        """Translate the SDK's and httpx's exceptions into FeedRelay's, with Bluesky's own
        ``error`` and ``message``; secrets never appear in them."""
        try:
            yield
        except RequestErrorBase as e:
            if e.response is None:
                self._no_answer(e.__cause__ or e, action, creates, e)
            status, name, message = _error_of(e)
            said = self._scrub(
                f"bluesky {action}: {status} {name or 'error'}: {message}".rstrip(": ")
            )
            if isinstance(e, RateLimitExceededError):
                now = self._clock()
                when = retry_at(
                    e.response.headers,
                    now=now,
                    default=DEFAULT_WAIT,
                    waits=("Retry-After",),
                    resets=("RateLimit-Reset",),
                )
                if login:
                    said += (
                        f" (logins are limited per account: 30 every 5 minutes, 300 a day);"
                        f" waiting until {when:%Y-%m-%d %H:%M:%S} UTC"
                    )
                raise RateLimitedError(said, target=self.target, retry_at=when) from e
            if name in _TOKEN_ERRORS and not login:
                raise _TokenRefused(said) from e
            if (
                not_found
                and status == 400
                and (name == "RecordNotFound" or message.startswith("Could not locate record"))
            ):
                raise _NotFound(said) from e
            if isinstance(e, UnauthorizedError):
                if login:
                    said += (
                        f": check handle in [targets.{self.target}] and its app password"
                        " (bsky.app: Settings > Privacy and security > App passwords)"
                    )
                raise AuthError(said, target=self.target) from e
            if status >= 500 or (isinstance(e, NetworkError) and status not in (409, 413)):
                failed = OutcomeUnknownError if creates else TransientError
                maybe = "; it may have been applied" if creates else ""
                raise _ServerError(status, failed(said + maybe, target=self.target)) from e
            if isinstance(e, BadRequestError) or 400 <= status < 500:
                raise PostRejectedError(said, target=self.target) from e
            raise TransientError(said, target=self.target) from e
        except httpx.HTTPError as e:
            self._no_answer(e, action, creates, e)
        except AtProtocolError as e:  # an answer the SDK could not read
            failed = OutcomeUnknownError if creates else TransientError
            said = self._scrub(f"bluesky {action}: unreadable answer: {type(e).__name__}: {e}")
            raise failed(said, target=self.target) from e
        except ValueError as e:  # pydantic: an answer without its required fields
            failed = OutcomeUnknownError if creates else TransientError
            said = self._scrub(f"bluesky {action}: unreadable answer: {type(e).__name__}")
            raise failed(said, target=self.target) from e

    def _no_answer(
        self, cause: BaseException, action: str, creates: bool, raised: BaseException
    ) -> NoReturn:
        service = f"bluesky {action} ({self._client._base_url})"
        said = self._scrub(f"{type(cause).__name__}: {cause}")
        if isinstance(cause, (httpx.ConnectError, httpx.ConnectTimeout)):
            raise TransientError(
                f"could not reach {service}: {said}", target=self.target
            ) from raised
        failed = OutcomeUnknownError if creates else TransientError
        maybe = "; it may have been applied" if creates else ""
        if isinstance(cause, httpx.TimeoutException):
            raise failed(f"{service} did not answer in time{maybe}", target=self.target) from raised
        raise failed(
            f"connection to {service} lost after sending: {said}{maybe}", target=self.target
        ) from raised

    def _scrub(self, text: str) -> str:
        secrets = [self._password]
        if self._session is not None:
            secrets += [self._session.access, self._session.refresh]
        return scrub(text, secrets)


class _TokenRefused(PublishError):
    """The PDS refused the session's token (``ExpiredToken``, ``InvalidToken``): renew it."""


class _NotFound(PublishError):
    """``getRecord``: no such record."""


class _ServerError(PublishError):
    """A 5xx answer: ``translated`` is what it means, unless a read-back settles it."""

    def __init__(self, status: int, translated: PublishError) -> None:
        super().__init__(str(translated), target=translated.target)
        self.status = status
        self.translated = translated
