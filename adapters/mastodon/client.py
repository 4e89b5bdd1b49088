"""Mastodon adapter: statuses and media through Mastodon.py, on our session.

Posting is ``POST /api/v1/statuses`` (``Mastodon.status_post``) with an ``Idempotency-Key``
header (the post's ``slug``, made when the delivery was queued): the instance answers a
repeated request of the same account and key, within about an hour, with the status it
made the first time instead of a new one. Past that window, or when the core reconciles an
unknown outcome, ``find_existing`` reads the account's recent statuses (the key is not shown
on a status) and matches the text, the content warning and the time. (The key is stored
once the status exists: a 5xx from a proxy before that, as in mastodon/mastodon#21840, can
leave a status the key does not know; the look-up finds it.)

An image goes up first (``POST /api/v2/media`` with its ``description``, the alt text). The
instance answers 200 when it processed it at once, else 202, and ``GET /api/v1/media/:id``
answers 206 until it is done; a status naming unprocessed media is refused with 422, so the
adapter waits for it, up to ``media_deadline`` seconds. An image the instance refuses, or
one still processing at the deadline, never blocks the post: it goes out without it, and a
warning says why.

The text limit is the instance's own: ``GET /api/v2/instance`` is read once per adapter
(and kept a day in the target's ``Memory``), and a status over the instance's limit is
refused before it is sent, saying what the instance allows.

Mastodon.py runs with ``ratelimit_method="throw"`` (it never sleeps) and without its version
check; every request goes through our session (timeouts and a total deadline). Its errors
are translated here; a 429's reset time is read from ``X-RateLimit-Reset`` (an ISO time).
"""

from __future__ import annotations

import io
import json
import logging
import threading
import time
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar, Literal
from urllib.parse import urlsplit

import requests
from mastodon import Mastodon
from mastodon.errors import (
    MastodonAPIError,
    MastodonError,
    MastodonIllegalArgumentError,
    MastodonNetworkError,
    MastodonRatelimitError,
)

from adapters.api import (
    WORD_JOINER,
    AuthError,
    Limits,
    LocalMemory,
    LookupIncompleteError,
    MediaFile,
    Memory,
    OutcomeUnknownError,
    Post,
    PostRejectedError,
    Published,
    PublishError,
    RateLimitedError,
    TransientError,
    graphemes,
    html_to_text,
    make_session,
    request_error,
    scrub,
)
from adapters.mastodon.render import rendered_at
from adapters.mastodon.spec import DEFAULT_MAX_CHARACTERS, LIMITS, SPEC
from adapters.mastodon.text import URL_WEIGHT, status_length

# Mastodon.py is imported only here: ``feedrelay auth mastodon`` (auth.py) takes it from here.
__all__ = [
    "Mastodon",
    "MastodonAdapter",
    "MastodonError",
    "MastodonIllegalArgumentError",
    "MastodonNetworkError",
]

log = logging.getLogger(__name__)

Action = Literal["post", "media", "read"]

MAX_ALT_TEXT = 1500  # MediaAttachment::MAX_DESCRIPTION_LENGTH
MEDIA_DEADLINE_S = 60.0
MEDIA_POLL_S = 1.0
DEFAULT_RATE_LIMIT_WAIT = timedelta(minutes=5)  # Mastodon's window: 300 requests per 5 min
INSTANCE_KEY = "instance"
ACCOUNT_KEY = "account"
INSTANCE_MAX_AGE = timedelta(days=1)
STATUSES_PAGE = 40  # the most GET /api/v1/accounts/:id/statuses returns at once
# A status older than the delivery's render time by more than this is not its post.
CLOCK_SKEW = timedelta(minutes=10)
NOT_READY = "not finished processing"  # media_attachments.validations.not_ready
WRITE_SCOPES = ("write:statuses", "write:media")
READ_SCOPES = ("read:accounts", "read:statuses")  # verify, and look for earlier statuses


class MastodonAdapter:
    """One Mastodon account (a target) on one instance, with a user access token."""

    limits: ClassVar[Limits] = LIMITS
    resend_is_safe: ClassVar[bool] = SPEC.resend_is_safe

    def __init__(
        self,
        *,
        target: str,
        instance: str,
        access_token: str,
        visibility: str = "public",
        language: str | None = None,
        sensitive: bool = False,
        max_characters: int = DEFAULT_MAX_CHARACTERS,
        session: requests.Session | None = None,
        memory: Memory | None = None,
        media_deadline: float = MEDIA_DEADLINE_S,
        media_poll: float = MEDIA_POLL_S,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.target = target
        self.instance = instance.rstrip("/")
        self.host = urlsplit(self.instance).netloc
        self.visibility = visibility
        self.language = language
        self.sensitive = sensitive
        self.max_characters = max_characters
        self._memory: Memory = memory if memory is not None else LocalMemory()
        self._secrets = (access_token,)
        self._media_deadline, self._media_poll = media_deadline, media_poll
        self._sleep, self._clock = sleep, clock
        self._session = session if session is not None else make_session()
        # The last answer of this thread: Mastodon.py's 429 error carries neither the
        # instance's words nor its headers.
        self._last = threading.local()
        self._session.hooks["response"].append(self._keep_answer)
        timeout = float(getattr(self._session, "read_timeout", 0) or 30.0)
        self._client = Mastodon(
            access_token=access_token,
            api_base_url=self.instance,
            session=self._session,
            ratelimit_method="throw",
            request_timeout=timeout,
            version_check_mode="none",
            user_agent=str(self._session.headers.get("User-Agent") or "feedrelay"),
        )
        self._limits: tuple[int, int] | None = None
        self._account: dict[str, str] | None = None

    def __repr__(self) -> str:
        return f"MastodonAdapter(target={self.target!r}, instance={self.instance!r})"

    # -- Adapter protocol --------------------------------------------------------------
    def publish(self, post: Post, media: MediaFile | None = None) -> Published:
        self._check_length(post)
        media_ids = []
        if media is not None:
            media_id = self._upload(media, post)
            if media_id is not None:
                media_ids.append(media_id)
        with self._errors("post"):
            status: Any = self._client.status_post(
                post.text,
                media_ids=media_ids or None,
                sensitive=self.sensitive and bool(media_ids),
                visibility=self.visibility,
                spoiler_text=post.title or None,
                language=self.language,
                idempotency_key=post.slug or None,
            )
        status_id = _field(status, "id")
        if not status_id:
            raise OutcomeUnknownError(
                "mastodon answered the status without its id", target=self.target
            )
        url = str(_field(status, "url") or _field(status, "uri") or "")
        log.debug("target %s: posted %s", self.target, url)
        return Published(remote_id=str(status_id), url=url)

    def verify(self) -> str:
        account = self._me()
        return f"@{account['acct']}@{self.host}" if "@" not in account["acct"] else account["acct"]

    def problems(self) -> list[str]:
        """What would stop this target's posts: a token without the write scopes (as far as
        the instance tells: ``GET /api/v1/apps/verify_credentials``, scopes since 4.3), and an
        instance whose limit is below the target's ``max_characters``."""
        found: list[str] = []
        with self._errors("read"):
            app: Any = self._client.app_verify_credentials()
        scopes = _field(app, "scopes")
        if isinstance(scopes, list):
            granted = {str(s) for s in scopes}
            missing = [s for s in WRITE_SCOPES if s not in granted and "write" not in granted]
            if missing:
                found.append(
                    f"the token may not {' or '.join(missing)} (its app has the scopes"
                    f" {' '.join(sorted(granted)) or 'none'}): make a new one with"
                    " `feedrelay auth mastodon`, which asks for write:statuses and write:media"
                )
            unread = [s for s in READ_SCOPES if s not in granted and "read" not in granted]
            if unread:
                found.append(
                    f"the token may not {' or '.join(unread)}: after a lost answer FeedRelay"
                    " cannot look for the status, and such a post waits for `feedrelay"
                    " resolve`; make a new token with `feedrelay auth mastodon`"
                )
        max_characters, _ = self._instance_limits(fresh=True)
        if max_characters < self.max_characters:
            found.append(
                f"{self.host} allows {max_characters} characters per status, less than the"
                f" target's max_characters ({self.max_characters}): lower it to"
                f" {max_characters}"
            )
        return found

    def find_existing(self, post: Post) -> Published | None:
        """The account's recent status with ``post``'s text and content warning, made after
        the post was rendered (its key says when), or ``None`` if there is none among the
        last 40. Raises ``LookupIncompleteError`` when all 40 are newer than that,
        ``RateLimitedError`` or ``TransientError`` when it cannot tell."""
        since = rendered_at(post.slug)
        wanted, warning = _comparable(post.text), _comparable(post.title)
        try:
            account_id = self._me()["id"]
            with self._errors("read"):
                statuses: Any = self._client.account_statuses(
                    account_id, limit=STATUSES_PAGE, exclude_reblogs=True
                )
            statuses = list(statuses or [])
            oldest = _when(_field(statuses[-1], "created_at")) if statuses else None
            for status in statuses:
                created = _when(_field(status, "created_at"))
                if since is not None and created is not None and created < since - CLOCK_SKEW:
                    continue
                if _comparable(str(_field(status, "spoiler_text") or "")) != warning:
                    continue
                if _comparable(html_to_text(str(_field(status, "content") or ""))) == wanted:
                    url = str(_field(status, "url") or _field(status, "uri") or "")
                    return Published(remote_id=str(_field(status, "id")), url=url)
        except PublishError as error:
            if isinstance(error, RateLimitedError | TransientError):
                raise
            raise TransientError(
                f"cannot look for earlier statuses: {error}", target=self.target
            ) from error
        except (AttributeError, KeyError, TypeError, ValueError) as e:
            raise TransientError(
                f"unreadable statuses from {self.host}: {type(e).__name__}: {e}",
                target=self.target,
            ) from e
        if len(statuses) >= STATUSES_PAGE and since and oldest and oldest >= since - CLOCK_SKEW:
            # All of the page is newer than the render: the post may be further back.
            raise LookupIncompleteError(
                f"the account has more than {STATUSES_PAGE} statuses since the post was"
                " rendered, and a lookup reads no more",
                target=self.target,
            )
        return None

    def close(self) -> None:
        hooks = self._session.hooks["response"]
        if self._keep_answer in hooks:
            hooks.remove(self._keep_answer)
        self._session.close()

    # -- the account and the instance --------------------------------------------------
    def _me(self) -> dict[str, str]:
        """The account's id and name: this adapter's, else the memory's, else the instance's."""
        if self._account is None:
            kept = _load(self._memory.get(ACCOUNT_KEY))
            if kept.get("id") and kept.get("acct"):
                self._account = {"id": str(kept["id"]), "acct": str(kept["acct"])}
        if self._account is None:
            with self._errors("read"):
                account: Any = self._client.account_verify_credentials()
            account_id, acct = _field(account, "id"), _field(account, "acct")
            if not account_id or not acct:
                raise TransientError(
                    f"{self.host} named no account for the token", target=self.target
                )
            self._account = {"id": str(account_id), "acct": str(acct)}
            old = self._memory.get(ACCOUNT_KEY)
            self._memory.swap(ACCOUNT_KEY, old, json.dumps(self._account))
        return self._account

    def _instance_limits(self, *, fresh: bool = False) -> tuple[int, int]:
        """The instance's ``max_characters`` and ``characters_reserved_per_url``: read once
        (``/api/v2/instance``, else ``/api/v1/instance``), kept a day in the memory. An
        instance that does not say gets Mastodon's defaults."""
        if self._limits is not None and not fresh:
            return self._limits
        old = self._memory.get(INSTANCE_KEY)
        kept = _load(old)
        read_at = _when(kept.get("read_at"))
        now = datetime.now(UTC)
        if not fresh and read_at is not None and now - read_at < INSTANCE_MAX_AGE:
            self._limits = (int(kept["max_characters"]), int(kept["url_weight"]))
            return self._limits
        statuses: dict[str, Any] = {}
        answered = False
        for read in (self._client.instance_v2, self._client.instance_v1):
            try:
                with self._errors("read"):
                    info: Any = read()
            except (PostRejectedError, TransientError):
                continue  # a server without this version of the endpoint, or none at all
            answered = True
            configuration = _field(info, "configuration") or {}
            found = _field(configuration, "statuses")
            if isinstance(found, dict) and found.get("max_characters"):
                statuses = found
                break
        limits = (
            int(statuses.get("max_characters") or DEFAULT_MAX_CHARACTERS),
            int(statuses.get("characters_reserved_per_url") or URL_WEIGHT),
        )
        if not answered:
            # Not known now: the instance checks the status itself; ask again next time.
            return limits
        self._limits = limits
        value = {"max_characters": limits[0], "url_weight": limits[1], "read_at": now.isoformat()}
        self._memory.swap(INSTANCE_KEY, old, json.dumps(value))
        return limits

    def _check_length(self, post: Post) -> None:
        max_characters, url_weight = self._instance_limits()
        used = status_length(post.text, url_weight=url_weight) + len(graphemes(post.title))
        if used > max_characters:
            raise PostRejectedError(
                f"the status is {used} characters as {self.host} counts them (every URL"
                f" {url_weight}), over the instance's limit of {max_characters}: set"
                f" max_characters = {max_characters} in [targets.{self.target}] (or a shorter"
                " template) and queue it again",
                target=self.target,
            )

    # -- media -------------------------------------------------------------------------
    def _upload(self, media: MediaFile, post: Post) -> str | None:
        """Upload one image with its alt text and wait until the instance has processed
        it; ``None`` (and a warning) when the instance refuses it or is not done in time."""
        alt = (media.alt or (post.image.alt if post.image else "")).strip()[:MAX_ALT_TEXT]
        try:
            with self._errors("media"):
                attachment: Any = self._client.media_post(
                    io.BytesIO(media.data),
                    mime_type=media.mime_type,
                    description=alt or None,
                    file_name=media.filename,
                )
                media_id = str(_field(attachment, "id") or "")
                if not media_id:
                    raise TransientError(
                        f"{self.host} answered the upload without a media id", target=self.target
                    )
                deadline = self._clock() + self._media_deadline
                while not _field(attachment, "url"):
                    if self._clock() >= deadline:
                        log.warning(
                            "target %s: %s still processing the image after %.0f s;"
                            " posting without it",
                            self.target,
                            self.host,
                            self._media_deadline,
                        )
                        return None
                    self._sleep(self._media_poll)
                    attachment = self._client.media(media_id)
        except PostRejectedError as error:
            log.warning("target %s: image refused, posting without it: %s", self.target, error)
            return None
        return media_id

    # -- errors ------------------------------------------------------------------------
    def _keep_answer(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        self._last.response = response

    @contextmanager
    def _errors(self, action: Action) -> Iterator[None]:
        """Mastodon.py's and requests' exceptions as ``PublishError`` subclasses. Only a
        status (``post``) may exist after a failure: there a lost answer or a 5xx is
        ``OutcomeUnknownError``; elsewhere nothing was made, and it is transient."""
        self._last.response = None
        creates = action == "post"
        try:
            yield
        except MastodonRatelimitError as e:
            raise self._rate_limited() from e
        except MastodonNetworkError as e:
            cause = e.__context__
            if isinstance(cause, requests.RequestException):
                raise request_error(
                    cause,
                    service=f"mastodon ({self.host})",
                    target=self.target,
                    creates=creates,
                    secrets=self._secrets,
                ) from e
            failed = OutcomeUnknownError if creates else TransientError
            raise failed(self._scrub(f"mastodon ({self.host}): {e}"), target=self.target) from e
        except MastodonAPIError as e:
            raise self._from_error(e, action) from e
        except MastodonIllegalArgumentError as e:
            raise PostRejectedError(self._scrub(f"mastodon: {e}"), target=self.target) from e
        except MastodonError as e:
            failed = OutcomeUnknownError if creates else TransientError
            raise failed(self._scrub(f"mastodon ({self.host}): {e}"), target=self.target) from e

    def _scrub(self, text: str) -> str:
        return scrub(text, self._secrets)

    def _rate_limited(self) -> RateLimitedError:
        response: requests.Response | None = getattr(self._last, "response", None)
        now = datetime.now(UTC)
        said = _said(response) if response is not None else ""
        reset = _when(response.headers.get("X-RateLimit-Reset")) if response is not None else None
        retry_at = max(reset, now) if reset is not None else now + DEFAULT_RATE_LIMIT_WAIT
        return RateLimitedError(
            self._scrub(
                f"mastodon rate limit reached on {self.host} (429: {said or 'Too many requests'});"
                f" it takes more at {retry_at:%Y-%m-%d %H:%M:%S} UTC"
            ),
            target=self.target,
            retry_at=retry_at,
        )

    def _from_error(self, error: MastodonAPIError, action: Action) -> PublishError:
        args = error.args
        if len(args) < 4 or not isinstance(args[1], int):
            # A 2xx answer Mastodon.py could not read (not JSON).
            failed = OutcomeUnknownError if action == "post" else TransientError
            return failed(
                self._scrub(f"unreadable answer from {self.host}: {error}"), target=self.target
            )
        status, reason, said = args[1], str(args[2] or ""), str(args[3] or args[2] or "")
        said = self._scrub(said)
        what = {"post": "the status", "media": "the image", "read": "the request"}[action]
        message = f"mastodon ({self.host}) refused {what}: {status} {said}".rstrip()
        if status == 429:
            return self._rate_limited()
        if status in (401, 403):
            hint = " (check MASTODON_ACCESS_TOKEN, or make one: `feedrelay auth mastodon`)"
            return AuthError(message + hint, target=self.target)
        if status == 422 and NOT_READY in said:
            return TransientError(message, target=self.target)
        if status == 404 and action != "media":
            return PostRejectedError(
                message + f" (is {self.instance} a Mastodon instance?)", target=self.target
            )
        if 400 <= status < 500:
            return PostRejectedError(message, target=self.target)
        if action == "post":
            return OutcomeUnknownError(
                f"mastodon ({self.host}) failed while taking the status ({status} {reason}:"
                f" {said}); it may exist",
                target=self.target,
            )
        return TransientError(message, target=self.target)


def _field(value: Any, name: str) -> Any:
    """A field of an answer (Mastodon.py's ``AttribAccessDict``, or a plain dict)."""
    if isinstance(value, dict):
        return value.get(name)
    return getattr(value, name, None)


def _load(text: str | None) -> dict[str, Any]:
    try:
        value = json.loads(text) if text else {}
    except ValueError:
        return {}
    return value if isinstance(value, dict) else {}


def _when(value: object) -> datetime | None:
    """An aware UTC time from a datetime or an ISO string (``2026-12-07T18:15:00.000Z``)."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            return None
    if not isinstance(value, datetime):
        return None
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).astimezone(UTC)


def _said(response: requests.Response) -> str:
    """Mastodon's words in an error answer: ``{"error": "..."}``."""
    try:
        body = response.json()
    except ValueError:
        return ""
    if isinstance(body, dict) and isinstance(body.get("error"), str):
        return str(body["error"])
    return ""


def _comparable(text: str) -> str:
    """A text for comparing: NFC, no word joiners (a neutralised mention), whitespace runs
    as one space (Mastodon makes paragraphs and line breaks HTML)."""
    text = unicodedata.normalize("NFC", text).replace(WORD_JOINER, "")
    return " ".join(text.split())
