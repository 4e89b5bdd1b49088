"""Reddit: link or self posts to one subreddit through praw.

Thread safety: praw is not thread-safe, so one ``RedditAdapter`` must be used from one
thread at a time (the core dispatches serially). The praw instance is built on first use.

What this module changes in praw/prawcore's behaviour, and why:

- prawcore retries every request, submits included, on connection errors, read timeouts and
  5xx, sleeping up to 6 s in between: a submit could be applied twice behind our back. The
  adapter never retries or sleeps (``bot.errors``), so prawcore's sessions get a retry
  strategy that never retries; a failed submit surfaces as ``OutcomeUnknownError`` and the
  core reconciles with ``find_existing``.
- praw 8.0.3 never hands its ``timeout`` setting to prawcore, and prawcore's ``Session``
  passes a fixed 16 s to every request. ``_Requestor`` sends every request with the
  session's own (connect, read) timeout instead.
- praw sleeps and re-sends on a ``RATELIMIT`` shorter than ``ratelimit_seconds`` (a wait in
  milliseconds counts as 0 s, so even ``0`` sleeps); ``-1`` turns that off.
- prawcore sleeps before a request when Reddit's ``x-ratelimit-*`` headers say the quota is
  spent; the adapter raises ``RateLimitedError`` instead of waiting more than a few seconds.
"""

from __future__ import annotations

import html
import logging
import re
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any, ClassVar, Literal
from urllib.parse import parse_qs, urlsplit

import praw
import prawcore
import requests
from praw.exceptions import RedditAPIException
from prawcore.sessions import RetryStrategy

from adapters.base import (
    CONNECT_TIMEOUT_S,
    READ_TIMEOUT_S,
    Limits,
    header_time,
    make_session,
    request_error,
    scrub,
)
from adapters.reddit.spec import LIMITS
from bot import __version__
from bot.errors import (
    AuthError,
    DuplicatePostError,
    LookupIncompleteError,
    OutcomeUnknownError,
    PostRejectedError,
    PublishError,
    RateLimitedError,
    TransientError,
)
from bot.model import MediaFile, Post, Published

log = logging.getLogger(__name__)

PUBLIC_URL = "https://www.reddit.com"
TOKEN_PATH = "/api/v1/access_token"
DEFAULT_RATELIMIT_WAIT = timedelta(minutes=10)  # a RATELIMIT whose wait we cannot read
DEFAULT_429_WAIT = timedelta(seconds=60)
MAX_PACING_SLEEP_S = 10.0  # prawcore may pause this long between requests; longer -> raise
RECENT_SUBMISSIONS = 100  # a listing's most (reddit.com/dev/api): one request
KINDS = ("link", "self")

_UNIT_SECONDS = {"millisecond": 0.001, "second": 1, "minute": 60, "hour": 3600, "day": 86400}
_WAIT = re.compile(r"(\d+(?:\.\d+)?)\s*(millisecond|second|minute|hour|day)s?\b", re.IGNORECASE)

Action = Literal["submit", "verify", "find"]


def parse_ratelimit_wait(message: str) -> timedelta | None:
    """The wait in a ``RATELIMIT`` message ("Take a break for 5 minutes ...", "Try again
    in 6 seconds.", "... 9 minutes and 30 seconds ..."), or ``None`` if it names none."""
    parts = _WAIT.findall(message)
    if not parts:
        return None
    return timedelta(seconds=sum(float(n) * _UNIT_SECONDS[u.lower()] for n, u in parts))


class _NoRetry(RetryStrategy):
    """A prawcore retry strategy that sends each request once and never sleeps."""

    def _sleep_seconds(self) -> float | None:
        return None

    def consume_available_retry(self) -> _NoRetry:
        return self

    def should_retry_on_failure(self) -> bool:
        return False


class _Requestor(prawcore.Requestor):
    """Sends every request with this requestor's timeout, whatever prawcore passes."""

    def request(self, *args: Any, timeout: Any = None, **kwargs: Any) -> requests.Response:
        return super().request(*args, **kwargs)


class RedditAdapter:
    """Posts to one subreddit as one account (script app password grant or refresh token).

    Use one instance from one thread only: praw is not thread-safe.
    """

    limits: ClassVar[Limits] = LIMITS

    def __init__(
        self,
        *,
        target: str,
        subreddit: str,
        client_id: str,
        client_secret: str,
        username: str | None = None,
        password: str | None = None,
        refresh_token: str | None = None,
        user_agent: str | None = None,
        kind: str = "link",
        flair_id: str | None = None,
        flair_text: str | None = None,
        nsfw: bool = False,
        spoiler: bool = False,
        send_replies: bool = False,
        api_base: str | None = None,
        session: requests.Session | None = None,
    ) -> None:
        if kind not in KINDS:
            raise ValueError(f"reddit kind must be 'link' or 'self', not {kind!r}")
        if not refresh_token and not (username and password):
            raise ValueError("reddit needs username + password or a refresh_token")
        self.target = target
        self.subreddit = subreddit.removeprefix("/").removeprefix("r/")
        self.kind = kind
        self.flair_id, self.flair_text = flair_id, flair_text
        self._resolved_flair: str | None = None
        self.nsfw, self.spoiler, self.send_replies = nsfw, spoiler, send_replies
        self._username = username if (username and password) else None
        self._credentials = {
            "client_id": client_id,
            "client_secret": client_secret,
            "username": self._username,
            "password": password if self._username else None,
            "refresh_token": None if self._username else refresh_token,
        }
        self._secrets = [s for s in (client_id, client_secret, password, refresh_token) if s]
        by = f" (by /u/{username})" if username else ""
        self.user_agent = user_agent or f"python:feedrelay:{__version__}{by}"
        self._api_base = (api_base or "").rstrip("/") or None
        self._session = session or make_session(user_agent=self.user_agent)
        self._timeout = getattr(self._session, "timeout", (CONNECT_TIMEOUT_S, READ_TIMEOUT_S))
        self._praw: praw.Reddit | None = None
        # At DEBUG prawcore logs request data; keep it quiet whatever the app configured.
        prawcore_log = logging.getLogger("prawcore")
        if prawcore_log.getEffectiveLevel() < logging.INFO:
            prawcore_log.setLevel(logging.INFO)

    # -- the Adapter protocol ----------------------------------------------------------
    def publish(self, post: Post, media: MediaFile | None = None) -> Published:
        """Submit ``post`` (``media`` is ignored: Reddit shows the link's own preview)."""
        flair_id = self._flair_id()
        with self._translate("submit"):
            subreddit = self._reddit().subreddit(self.subreddit)
            options: dict[str, Any] = {
                "flair_id": flair_id,
                "flair_text": self.flair_text,
                "nsfw": self.nsfw,
                "spoiler": self.spoiler,
                "send_replies": self.send_replies,
                "resubmit": False,
            }
            # A link target posts an entry without a link as a self post (``no_link``).
            if self.kind == "link" and post.link:
                submission = subreddit.submit(post.title, url=post.link, **options)
            else:
                submission = subreddit.submit(post.title, selftext=post.body, **options)
            # praw builds the Submission from the submit answer (id, name); reading other
            # attributes would fetch it, so the URL is built here (Reddit accepts it).
            remote_id = str(vars(submission)["id"]).removeprefix("t3_")
        url = f"{PUBLIC_URL}/r/{self.subreddit}/comments/{remote_id}/"
        log.debug("reddit %s: submitted %s", self.target, url)
        return Published(remote_id=remote_id, url=url)

    def verify(self) -> str:
        """The account's name, ``u/<name>``; raises ``AuthError`` for bad credentials."""
        with self._translate("verify"):
            return f"u/{self._me(self._reddit())}"

    def problems(self) -> list[str]:
        """What the subreddit's rules say about this target's posts: flair required and none
        set (``post_requirements``), or link or text posts not allowed (``submission_type``
        in ``/r/{name}/about``)."""
        where = f"[targets.{self.target}]"
        sub = f"r/{self.subreddit}"
        with self._translate("verify"):
            subreddit = self._reddit().subreddit(self.subreddit)
            try:
                requirements = subreddit.post_requirements()
                allowed = str(getattr(subreddit, "submission_type", "any") or "any")
            except (prawcore.NotFound, prawcore.Redirect):
                return [f"{sub} does not exist (or was banned): check subreddit in {where}"]
            except prawcore.Forbidden:
                return [
                    f"{sub} is private or the account is banned there: ask its moderators,"
                    f" or choose another subreddit in {where}"
                ]
        found = []
        if self.flair_text and not self.flair_id:
            try:
                self._flair_id()
            except PostRejectedError as error:
                found.append(f"{error} (in {where})")
        if requirements.get("is_flair_required") and not (self.flair_id or self.flair_text):
            found.append(
                f"{sub} requires post flair and this target sets none: set flair_text (or"
                f" flair_id) in {where} to one of the flairs its post form offers"
            )
        if allowed == "self" and self.kind == "link":
            found.append(f'{sub} allows only text posts: set kind = "self" in {where}')
        if allowed == "link" and self.kind == "self":
            found.append(f'{sub} allows only link posts: set kind = "link" in {where}')
        return found

    def _flair_id(self) -> str | None:
        """The link-flair template to submit with: ``flair_id`` as set, or the subreddit's one
        template whose text is ``flair_text`` (case-insensitive), looked up once. Reddit
        refuses ``flair_text`` without ``flair_id`` (400: praw's ``submit`` docstring,
        praw-dev/asyncpraw#66). No such template, two of them, or a list the account may not
        read, is a ``PostRejectedError`` saying what to set."""
        if self.flair_id or not self.flair_text:
            return self.flair_id
        if self._resolved_flair is None:
            sub = f"r/{self.subreddit}"
            with self._translate("verify"):
                subreddit = self._reddit().subreddit(self.subreddit)
                try:
                    templates = list(subreddit.flair.link_templates)
                except prawcore.Forbidden:
                    raise PostRejectedError(
                        f"reddit {sub} does not let this account read its flairs, so"
                        f" flair_text {self.flair_text!r} cannot be matched: set flair_id (the"
                        " flair's id, from the subreddit's post form)",
                        target=self.target,
                    ) from None
            wanted = self.flair_text.strip().casefold()
            matching = [t for t in templates if str(t.get("text", "")).strip().casefold() == wanted]
            offered = ", ".join(f"{t.get('text')!r} (flair_id {t.get('id')})" for t in templates)
            if len(matching) != 1:
                how = "none of" if not matching else "more than one of"
                raise PostRejectedError(
                    f"reddit {sub}: flair_text {self.flair_text!r} matches {how} its flairs:"
                    f" {offered or 'it has none'}; set flair_id to the one to use",
                    target=self.target,
                )
            self._resolved_flair = str(matching[0]["id"])
        return self._resolved_flair

    def find_existing(self, post: Post, *, since: datetime | None = None) -> Published | None:
        """The account's recent submission to this subreddit with the post's URL (link
        posts) or title (self posts, and posts without a link); ``None`` if there is none.
        Raises ``LookupIncompleteError`` when all of the last ``RECENT_SUBMISSIONS`` were
        made after ``since`` (the first attempt): the post may be further back."""
        with self._translate("find"):
            reddit = self._reddit()
            name = self._username or self._me(reddit)
            listing = list(reddit.redditor(name).submissions.new(limit=RECENT_SUBMISSIONS))
            for submission in listing:
                data = vars(submission)
                if str(data.get("subreddit", "")).lower() != self.subreddit.lower():
                    continue
                if post.link and data.get("url") != post.link:
                    continue
                if not post.link and data.get("title") != post.title:
                    continue
                remote_id = str(data["id"])
                permalink = data.get("permalink") or f"/r/{self.subreddit}/comments/{remote_id}/"
                return Published(remote_id=remote_id, url=PUBLIC_URL + permalink)
        oldest = vars(listing[-1]).get("created_utc") if listing else None
        if len(listing) >= RECENT_SUBMISSIONS and since and oldest and oldest >= since.timestamp():
            raise LookupIncompleteError(
                f"the account has more than {RECENT_SUBMISSIONS} submissions since the"
                " attempt, and a lookup reads no more",
                target=self.target,
            )
        return None

    def close(self) -> None:
        self._session.close()

    # -- praw --------------------------------------------------------------------------
    def _reddit(self) -> praw.Reddit:
        if self._praw is None:
            hosts = {
                "oauth_url": self._api_base or "https://oauth.reddit.com",
                "reddit_url": self._api_base or PUBLIC_URL,
            }
            reddit = praw.Reddit(
                site_name="DEFAULT",
                user_agent=self.user_agent,
                check_for_updates=False,
                ratelimit_seconds=-1,
                requestor_class=_Requestor,
                requestor_kwargs={"session": self._session, "timeout": self._timeout},
                **hosts,
                **self._credentials,
            )
            for core in {reddit._core, reddit._authorized_core, reddit._read_only_core}:
                if core is not None and hasattr(core, "_retry_strategy_class"):
                    core._retry_strategy_class = _NoRetry
            self._praw = reddit
        self._check_pacing(self._praw)
        return self._praw

    def _me(self, reddit: praw.Reddit) -> str:
        me = reddit.user.me()  # cached by praw after the first call
        if me is None:  # only in read-only mode, which __init__ rules out
            raise AuthError("reddit: not logged in", target=self.target)
        return str(me.name)

    def _check_pacing(self, reddit: praw.Reddit) -> None:
        """Raise instead of letting prawcore sleep until Reddit's request quota resets."""
        limiter = getattr(reddit._core, "rate_limiter", None)
        next_ns = getattr(limiter, "next_request_timestamp_ns", None)
        if next_ns is None:
            return
        wait_s = (next_ns - time.monotonic_ns()) / 1e9
        if wait_s > MAX_PACING_SLEEP_S:
            raise RateLimitedError(
                f"reddit: request quota used up for {wait_s:.0f} s",
                target=self.target,
                retry_at=datetime.now(UTC) + timedelta(seconds=wait_s),
            )

    # -- errors ------------------------------------------------------------------------
    @contextmanager
    def _translate(self, action: Action) -> Iterator[None]:
        """Turn praw/prawcore exceptions into ``PublishError``s for this target."""
        try:
            yield
        except PublishError:
            raise
        except RedditAPIException as e:
            error = self._api_error(e)
            raise self._for_action(error, action) from e
        except prawcore.PrawcoreException as e:
            error = self._transport_error(e, action)
            raise self._for_action(error, action) from e

    def _for_action(self, error: PublishError, action: Action) -> PublishError:
        # Looking for an earlier post: any failure means "cannot tell", try again later.
        if action == "find" and not isinstance(error, RateLimitedError | TransientError):
            return TransientError(f"cannot look for earlier posts: {error}", target=self.target)
        return error

    def _api_error(self, e: RedditAPIException) -> PublishError:
        items = list(e.items)
        said = "; ".join(f"{i.error_type}: {i.message}" for i in items)
        said = self._scrub(said + self._fields(items))
        for item in items:
            if item.error_type == "RATELIMIT":
                wait = parse_ratelimit_wait(item.message or "") or DEFAULT_RATELIMIT_WAIT
                return RateLimitedError(
                    f"reddit: {said}", target=self.target, retry_at=datetime.now(UTC) + wait
                )
        if any(i.error_type == "ALREADY_SUB" for i in items):
            return DuplicatePostError(f"reddit r/{self.subreddit}: {said}", target=self.target)
        return PostRejectedError(
            f"reddit r/{self.subreddit} refused the post: {said}", target=self.target
        )

    @staticmethod
    def _fields(items: list[Any]) -> str:
        fields = sorted({i.field for i in items if i.field})
        return f" (field {', '.join(fields)})" if fields else ""

    def _transport_error(self, e: prawcore.PrawcoreException, action: Action) -> PublishError:
        target = self.target
        if isinstance(e, prawcore.RequestException):
            token = _is_token_url(e.request_args[1] if len(e.request_args) > 1 else "")
            creates = action == "submit" and not token
            original = e.original_exception
            if isinstance(original, requests.RequestException):
                return request_error(
                    original,
                    service="Reddit",
                    target=target,
                    creates=creates,
                    secrets=self._secrets,
                )
            reason = self._scrub(str(original))
            if not creates:
                return TransientError(f"reddit: cannot reach Reddit: {reason}", target=target)
            return OutcomeUnknownError(
                f"reddit: the submit to r/{self.subreddit} may have gone through: {reason}",
                target=target,
            )
        if isinstance(e, prawcore.OAuthException):
            return AuthError(self._login_refused(e), target=target)
        if isinstance(e, prawcore.InvalidInvocation):
            return AuthError(f"reddit: {self._scrub(str(e))}", target=target)
        if not isinstance(e, prawcore.ResponseException):
            return TransientError(f"reddit: {self._scrub(str(e))}", target=target)

        response = e.response
        status = response.status_code
        said = self._said(response)
        token = _is_token_url(response.url)
        if isinstance(e, prawcore.TooManyRequests) or status == 429:
            return RateLimitedError(
                f"reddit: too many requests (429){said}",
                target=target,
                retry_at=_retry_at(response, now=datetime.now(UTC)),
            )
        if isinstance(e, prawcore.InvalidToken):
            # prawcore has dropped the token; the next attempt fetches a new one, and bad
            # credentials then fail at the token request with an AuthError.
            return TransientError(f"reddit: access token rejected (401){said}", target=target)
        if token and status < 500:
            return AuthError(
                f"reddit refused the app credentials ({status}){said}: check the app's id and"
                " secret at reddit.com/prefs/apps (a new app also waits for Reddit's approval)",
                target=target,
            )
        if isinstance(e, prawcore.Forbidden | prawcore.InsufficientScope) or status == 403:
            where = f" to post in r/{self.subreddit}" if action == "submit" else ""
            return AuthError(
                f"reddit: the account may not{where or ' do this'} (403: banned, private "
                f"subreddit or missing scope){said}",
                target=target,
            )
        if status == 401:
            return AuthError(f"reddit: unauthorized (401){said}", target=target)
        if action != "submit" or token:
            return TransientError(f"reddit: HTTP {status}{said}", target=target)
        if isinstance(e, prawcore.NotFound):
            return PostRejectedError(
                f"reddit: subreddit not found: r/{self.subreddit} (404){said}", target=target
            )
        if status >= 500 or 200 <= status < 300:  # 5xx, or an answer we could not read
            return OutcomeUnknownError(
                f"reddit: the submit to r/{self.subreddit} may have gone through: "
                f"HTTP {status}{said}",
                target=target,
            )
        return PostRejectedError(
            f"reddit r/{self.subreddit} refused the post: HTTP {status}{said}", target=target
        )

    def _login_refused(self, e: prawcore.OAuthException) -> str:
        """Reddit's token answer in words: ``invalid_grant`` alone says only "no"."""
        said = e.error + (f": {e.description}" if e.description else "")
        if e.error != "invalid_grant":
            return f"reddit refused the credentials ({said})"
        if self._username is None:
            return (
                f"reddit refused the refresh token ({said}): it was revoked (the account"
                " removed the app's access) or made for another app; make a new one with"
                " `feedrelay auth reddit --refresh-token`"
            )
        return (
            f"reddit refused the login of u/{self._username} ({said}); the likely causes:"
            " a wrong password (or username); two-factor authentication on the account (a"
            " script app cannot log in with the password then: use `feedrelay auth reddit"
            " --refresh-token`); an account that is not a developer of the app"
            " (reddit.com/prefs/apps); or an app Reddit has not approved yet"
        )

    def _said(self, response: requests.Response) -> str:
        """Reddit's own words from an error answer, as `` - <message>``."""
        try:
            body = response.json()
        except ValueError:
            text = response.text.strip()[:200]
        else:
            if isinstance(body, dict):
                text = str(body.get("message") or body.get("reason") or body.get("error") or "")
            else:
                text = str(body)[:200]
        return f" - {self._scrub(text)}" if text else ""

    def _scrub(self, text: str) -> str:
        return scrub(text, self._secrets)


def _is_token_url(url: object) -> bool:
    return urlsplit(str(url)).path.endswith(TOKEN_PATH)


def _retry_at(response: requests.Response, *, now: datetime) -> datetime:
    """When a 429 ends: ``retry-after``, else ``x-ratelimit-reset`` (seconds until the
    quota resets), else in a minute."""
    for name in ("retry-after", "x-ratelimit-reset"):
        when = header_time(response.headers, name, now=now)
        if when is not None and when > now:
            return when
    return now + DEFAULT_429_WAIT


# -- feedrelay auth reddit ----------------------------------------------------------------
# Reddit's code flow with a loopback redirect: a refresh token for ``feedrelay auth reddit``.
#
# ``CodeFlow.start()`` binds a one-shot HTTP server on 127.0.0.1 (the app's redirect uri must
# be exactly ``redirect_uri``) and returns praw's authorise address
# (``reddit.auth.url(scopes, state, "permanent")``); the person opens it and allows the app;
# Reddit sends the browser to the loopback server with ``?state=...&code=...``; ``wait()``
# takes the code (refusing a wrong ``state``) and ``finish(code)`` trades it for the refresh
# token (``reddit.auth.authorize(code)``). A refresh token lasts until it is revoked.
#
# A script app with username and password needs none of this: ``verify`` on the adapter
# checks those (the password grant).


__all__ = ["SCOPES", "CodeFlow"]

# What the adapter uses: who am I, submit, read a subreddit's rules, the account's posts.
SCOPES = ("identity", "submit", "read", "history", "flair")
DONE_PAGE = (
    "<!DOCTYPE html><title>FeedRelay</title><p>FeedRelay has what it needs: you can close"
    " this tab and go back to the terminal.</p>"
)


class CodeFlow:
    """One run of the code flow for one app (``api_base``: a fake or proxy instead of
    Reddit). Use as a context manager, or ``close()`` it: it holds a listening socket."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        user_agent: str | None = None,
        api_base: str | None = None,
        host: str = "127.0.0.1",
        port: int = 8080,
    ) -> None:
        self._secrets = [client_id, client_secret]
        self._client = (client_id, client_secret)
        self.user_agent = user_agent or f"python:feedrelay:{__version__}"
        self._api_base = (api_base or "").rstrip("/") or None
        self._server = HTTPServer((host, port), _Handler)
        self._server.result = None  # type: ignore[attr-defined]
        bound_host, bound_port = self._server.server_address[:2]
        self.redirect_uri = f"http://{bound_host!s}:{bound_port}/"
        self.state = secrets.token_urlsafe(16)
        self._reddit: praw.Reddit | None = None

    def __enter__(self) -> CodeFlow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> str:
        """The address where the person allows the app (permanent: a refresh token)."""
        base = self._api_base
        self._reddit = praw.Reddit(
            client_id=self._client[0],
            client_secret=self._client[1],
            redirect_uri=self.redirect_uri,
            user_agent=self.user_agent,
            check_for_updates=False,
            oauth_url=base or "https://oauth.reddit.com",
            reddit_url=base or PUBLIC_URL,
            requestor_kwargs={"session": make_session(user_agent=self.user_agent)},
        )
        return str(
            self._reddit.auth.url(scopes=list(SCOPES), state=self.state, duration="permanent")
        )

    def wait(self, timeout: float = 300.0) -> str:
        """The code Reddit sent to the loopback address; ``AuthError`` if the person
        declined, the state is wrong, or nothing came within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AuthError(
                    f"no answer from Reddit at {self.redirect_uri} within {timeout:.0f} s: run"
                    " `feedrelay auth reddit --refresh-token` again, open the address it shows"
                    " and choose Allow"
                )
            self._server.timeout = left
            self._server.handle_request()
            query: dict[str, list[str]] | None = self._server.result  # type: ignore[attr-defined]
            if query is None:
                continue  # a favicon or another path: not Reddit's answer
            if query.get("state", [""])[0] != self.state:
                raise AuthError(
                    "the answer at the loopback address has the wrong state (not from this"
                    " run): run `feedrelay auth reddit --refresh-token` again"
                )
            if "error" in query:
                error = query["error"][0]
                fix = (
                    "you declined: run it again and choose Allow"
                    if error == "access_denied"
                    else f"check that the app's redirect uri is exactly {self.redirect_uri}"
                )
                raise AuthError(f"Reddit answered {error!r}: {fix}")
            return query.get("code", [""])[0]

    def finish(self, code: str) -> str:
        """Trade ``code`` for the refresh token."""
        assert self._reddit is not None, "start() first"
        try:
            token = self._reddit.auth.authorize(code)
        except prawcore.OAuthException as e:
            said = scrub(f"{e.error}: {e.description or ''}".strip(": "), self._secrets)
            raise AuthError(
                f"Reddit refused the code ({said}): check the app's id and secret and that"
                f" its redirect uri is exactly {self.redirect_uri}, then run it again"
            ) from None
        except prawcore.ResponseException as e:
            status = e.response.status_code
            if status in (400, 401, 403):
                raise AuthError(
                    f"Reddit refused the app's id and secret ({status}): check them at"
                    " reddit.com/prefs/apps"
                ) from None
            raise TransientError(f"Reddit failed on the code ({status}); try again") from None
        except prawcore.RequestException as e:
            raise TransientError(
                f"could not reach Reddit: {scrub(str(e.original_exception), self._secrets)}"
            ) from None
        if not token:
            raise AuthError(
                "Reddit gave no refresh token (a temporary grant): run it again and allow"
                " permanent access"
            )
        return str(token)

    def close(self) -> None:
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        server: Any = self.server
        if parts.path != "/" or not ({"code", "error"} & set(query)):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        server.result = query
        body = DONE_PAGE.encode() if "code" in query else (
            f"<!DOCTYPE html><p>Reddit said: {html.escape(query['error'][0])}."
            " See the terminal.</p>"
        ).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the query holds the code: never logged
