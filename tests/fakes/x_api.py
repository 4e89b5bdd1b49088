"""A loopback fake of the parts of X's API v2 that FeedRelay uses.

Routes: ``POST /2/tweets``, ``GET /2/users/me``, ``GET /2/users/:id/tweets`` (the account's
timeline, newest first), ``POST /2/media/upload`` (multipart), ``POST /2/media/metadata``, and
the OAuth 1.0a PIN flow: ``POST /oauth/request_token`` (``oauth_callback=oob``), ``GET
/oauth/authorize?oauth_token=...`` (the person's step: a page showing the PIN, which the fake
also keeps in ``pins``), ``POST /oauth/access_token`` (``oauth_verifier`` = the PIN), which
issues new access tokens and from then on expects them. Every user-context answer carries
``x-access-level`` (``read-write``; ``read_only()`` makes it ``read`` and refuses posts).
As X does, the timeline shows a post's text HTML-escaped and with every URL replaced by a
``https://t.co/<code>`` link, listed in ``entities.urls`` with its ``expanded_url``. Bodies
and headers follow X's real answers, including the duplicate-content 403 and the rate-limit
headers (a 15-minute window plus 24-hour user and app windows, enforced).

What X's plans do, from sources nobody here wrote:

- ``tier="free"``: X's legacy Free tier posts, uploads media and answers ``GET /2/users/me``,
  and refuses every other v2 read with 403, problem type ``.../problems/client-forbidden``
  and ``"reason": "client-not-enrolled"`` (X's OpenAPI spec, xdevplatform/xdk
  ``specs/openapi.json``, ``ClientForbiddenProblem``; the body as quoted in many public
  projects' notes, e.g. "App is NOT enrolled in API v2 (403 client-not-enrolled)").
- ``credits``: pay-per-use credits, in posts and reads billed (None: unlimited). Out of
  credits every billed call answers **402**, in one of the two bodies seen in real answers:
  title ``CreditsDepleted`` with type ``.../problems/credits`` ("Your enrolled account ... does
  not have any credits to fulfill this request."), or title ``Payment Required`` with type
  ``https://api.x.com/2/problems/credits-depleted`` and detail "credits depleted" (both
  quoted in public projects handling X's answers).
- ``usage_cap``: billed calls allowed in the cycle; past it X answers **429** with
  ``UsageCapExceeded``, ``period: "Monthly"``, while ``x-rate-limit-remaining`` still looks
  fine (xdevplatform/xdk issue #25 quotes the body and headers).
- Reads are billed per post returned (``reads_billed``), so a lookup of 5 costs 5 reads.
- The timeline takes ``start_time`` (``YYYY-MM-DDTHH:mm:ssZ``), ``max_results`` 5 to 100 and
  ``pagination_token`` (``meta.next_token`` while more posts match), as X's API reference
  for ``GET /2/users/:id/tweets`` says.
- An upload's media id works for ``expires_after_secs`` (86400), then ``POST /2/tweets``
  refuses it as an invalid media id.

Every request needs an ``Authorization: OAuth ...`` header for the expected consumer key (and
access token). Given the two secrets as well, the fake checks the HMAC-SHA1 signature the way
X does, over ``https://api.twitter.com`` + path: the adapter's host rewrite must leave the
signature valid for the real host.
"""

from __future__ import annotations

import base64
import copy
import email.parser
import email.policy
import hashlib
import hmac
import html
import itertools
import sys
import threading
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from oauthlib.oauth1.rfc5849 import signature, utils

from adapters.twitter.text import find_urls
from tests.fakes.server import FakeServer, Request, Response

SIGNED_HOST = "https://api.twitter.com"
MEDIA_CATEGORIES = frozenset(
    [
        "tweet_image",
        "tweet_gif",
        "tweet_video",
        "amplify_video",
        "dm_image",
        "dm_gif",
        "dm_video",
        "subtitles",
    ]
)
DUPLICATE_DETAIL = "You are not allowed to create a Tweet with duplicate content."

UNAUTHORIZED_BODY = {
    "title": "Unauthorized",
    "type": "about:blank",
    "status": 401,
    "detail": "Unauthorized",
}
BODIES: dict[int, dict[str, Any]] = {
    400: {
        "errors": [
            {
                "parameters": {"text": ["x" * 300]},
                "message": "Tweet text is too long.",
            }
        ],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    },
    401: UNAUTHORIZED_BODY,
    403: {
        "detail": "You are not permitted to perform this action.",
        "type": "about:blank",
        "title": "Forbidden",
        "status": 403,
    },
    404: {"title": "Not Found Error", "detail": "Not Found", "type": "about:blank", "status": 404},
    429: {
        "title": "Too Many Requests",
        "detail": "Too Many Requests",
        "type": "about:blank",
        "status": 429,
    },
    500: {
        "title": "Internal Server Error",
        "detail": "Internal Server Error",
        "type": "about:blank",
        "status": 500,
    },
    503: {
        "title": "Service Unavailable",
        "detail": "Service Unavailable",
        "type": "about:blank",
        "status": 503,
    },
}
NOT_ENROLLED_BODY = {
    "client_id": "29123456",
    "detail": "When authenticating requests to the Twitter API v2 endpoints, you must use keys"
    " and tokens from a Twitter developer App that is attached to a Project. You can create a"
    " project via the developer portal.",
    "registration_url": "https://developer.twitter.com/en/docs/projects/overview",
    "title": "Client Forbidden",
    "required_enrollment": "Appropriate Level of API Access",
    "reason": "client-not-enrolled",
    "type": "https://api.twitter.com/2/problems/client-forbidden",
}
CREDITS_BODIES = [
    {
        "title": "CreditsDepleted",
        "detail": "Your enrolled account [1600000000000000001] does not have any credits to"
        " fulfill this request.",
        "type": "https://api.twitter.com/2/problems/credits",
    },
    {
        "detail": "credits depleted",
        "status": 402,
        "title": "Payment Required",
        "type": "https://api.x.com/2/problems/credits-depleted",
    },
]
USAGE_CAP_BODY = {
    "account_id": "1600000000000000001",
    "product_name": "standard-basic",
    "title": "UsageCapExceeded",
    "period": "Monthly",
    "scope": "Product",
    "detail": "Usage cap exceeded: Monthly product cap",
    "type": "https://api.twitter.com/2/problems/usage-capped",
}
MEDIA_EXPIRES_AFTER_S = 86400

DUPLICATE_BODY = {
    "detail": DUPLICATE_DETAIL,
    "title": "Forbidden",
    "status": 403,
    "type": "about:blank",
}


def invalid_request(parameter: str, value: Any, message: str) -> dict[str, Any]:
    """X's 400 body for one bad parameter."""
    return {
        "errors": [{"parameters": {parameter: [value]}, "message": message}],
        "title": "Invalid Request",
        "detail": "One or more parameters to your request was invalid.",
        "type": "https://api.twitter.com/2/problems/invalid-request",
    }


class _Window:
    """One rate-limit window: ``limit`` calls per ``seconds``."""

    def __init__(self, limit: int, seconds: int, now: float) -> None:
        self.limit = limit
        self.seconds = seconds
        self.used = 0
        self.reset = int(now) + seconds

    def roll(self, now: float) -> None:
        if now >= self.reset:
            self.used = 0
            self.reset = int(now) + self.seconds

    @property
    def remaining(self) -> int:
        return max(self.limit - self.used, 0)


class FakeX(FakeServer):
    """X's API v2 for one account. Builder methods arrange answers; lists record what X got."""

    def __init__(
        self,
        *,
        consumer_key: str = "fake-consumer-key",
        consumer_secret: str | None = None,
        access_token: str | None = None,
        access_token_secret: str | None = None,
        user_id: str = "1600000000000000001",
        username: str = "feedrelay_bot",
        name: str = "FeedRelay Bot",
        window_limit: int = 100,
        user_daily_limit: int = 2400,
        app_daily_limit: int = 10000,
        clock: Callable[[], float] = time.time,
        tier: str = "basic",
        credits: int | None = None,
        credits_body: int = 0,
        usage_cap: int | None = None,
    ) -> None:
        super().__init__()
        self.consumer_key = consumer_key
        self.consumer_secret = consumer_secret
        self.access_token = access_token
        self.access_token_secret = access_token_secret
        self.user = {"id": user_id, "name": name, "username": username}
        self.clock = clock
        # What X accepted, oldest first.
        self.tweets: list[dict[str, Any]] = []
        # Uploaded media by id: {"id", "media_key", "data", "mime_type", "filename",
        # "media_category", "alt"}.
        self.media: dict[str, dict[str, Any]] = {}
        now = clock()
        self._window = _Window(window_limit, 15 * 60, now)
        self._user_day = _Window(user_daily_limit, 24 * 3600, now)
        self._app_day = _Window(app_daily_limit, 24 * 3600, now)
        self._ids = itertools.count(1880028106020515840, 1024)
        self._state = threading.Lock()
        self._tweet_failures: list[tuple[Response, bool]] = []
        self._media_failures: list[Response] = []
        self._metadata_failures: list[Response] = []
        self._me_failures: list[Response] = []
        self._timeline_failures: list[Response] = []
        self._created_at: dict[str, str] = {}
        self.access_level = "read-write"
        self.tier = tier  # "basic": reads allowed; "free": the legacy Free tier, no reads
        self.credits = credits
        self.credits_body = credits_body  # which of X's two 402 bodies
        self.usage_cap = usage_cap
        self.usage = 0  # billed calls this cycle: posts, and posts read
        self.reads_billed = 0
        self.timeline_reads: list[dict[str, list[str]]] = []  # each lookup's query
        # The PIN flow: request token -> its secret; request token -> the PIN shown.
        self.request_tokens: dict[str, str] = {}
        self.pins: dict[str, str] = {}
        self.issued: list[tuple[str, str]] = []  # access tokens the PIN flow gave out
        self._oauth_ids = itertools.count(1)
        self.route("POST", "/oauth/request_token", self._request_token)
        self.route("GET", "/oauth/authorize", self._authorize)
        self.route("POST", "/oauth/access_token", self._access_token)
        self.route("POST", "/2/tweets", self._create_tweet)
        self.route("GET", "/2/users/me", self._users_me)
        self.route("GET", r"/2/users/(?P<id>\d+)/tweets", self._users_tweets)
        self.route("POST", "/2/media/upload", self._media_upload)
        self.route("POST", "/2/media/metadata", self._media_metadata)

    def start(self) -> FakeX:
        # Idempotent: the contract suite enters (and so starts) a fake start_fake() started.
        if self._httpd is not None:
            return self
        super().start()
        assert self._httpd is not None
        default_handle_error = self._httpd.handle_error

        def handle_error(request: Any, client_address: Any) -> None:
            # A client that timed out has gone before a delayed answer: expected, not noise.
            if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
                default_handle_error(request, client_address)

        self._httpd.handle_error = handle_error  # type: ignore[method-assign]
        return self

    # -- builders ----------------------------------------------------------------------
    def fail_next(
        self,
        status: int,
        body: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        *,
        reset_in: int = 15 * 60,
    ) -> FakeX:
        """The next ``POST /2/tweets`` answers ``status`` with X's real body for it.

        A 429 without ``headers`` carries the rate-limit headers of an exhausted 15-minute
        window resetting in ``reset_in`` seconds; pass ``headers`` to send exactly those.
        """
        if headers is None:
            headers = self._limit_headers()
            if status == 429:
                headers["x-rate-limit-remaining"] = "0"
                headers["x-rate-limit-reset"] = str(int(self.clock()) + reset_in)
        response = Response(status, copy.deepcopy(body or BODIES[status]), dict(headers))
        with self._state:
            self._tweet_failures.append((response, False))
        return self

    def accept_then_fail_next(self, status: int = 503) -> FakeX:
        """The next post is created, but X answers ``status`` (5xx): the ambiguous case."""
        with self._state:
            self._tweet_failures.append((Response(status, copy.deepcopy(BODIES[status])), True))
        return self

    def drop_next(self, *, accept: bool = True) -> FakeX:
        """The next post's connection closes without an answer (after creating it if
        ``accept``)."""
        with self._state:
            self._tweet_failures.append((Response(drop=True), accept))
        return self

    def delay_next(self, seconds: float, *, accept: bool = True) -> FakeX:
        """The next post is answered (201, created if ``accept``) only after ``seconds``."""
        with self._state:
            self._tweet_failures.append((Response(delay=seconds), accept))
        return self

    def drip_next(self, seconds_per_byte: float, *, accept: bool = True) -> FakeX:
        """The next post is answered (201, created if ``accept``) one body byte at a time."""
        with self._state:
            self._tweet_failures.append((Response(drip=seconds_per_byte), accept))
        return self

    def fail_media_next(self, status: int, body: dict[str, Any] | None = None) -> FakeX:
        """The next ``POST /2/media/upload`` answers ``status``."""
        with self._state:
            self._media_failures.append(Response(status, copy.deepcopy(body or BODIES[status])))
        return self

    def fail_metadata_next(self, status: int, body: dict[str, Any] | None = None) -> FakeX:
        """The next ``POST /2/media/metadata`` (alt text) answers ``status``."""
        with self._state:
            self._metadata_failures.append(Response(status, copy.deepcopy(body or BODIES[status])))
        return self

    def fail_me_next(self, status: int, body: dict[str, Any] | None = None) -> FakeX:
        """The next ``GET /2/users/me`` answers ``status``."""
        with self._state:
            self._me_failures.append(Response(status, copy.deepcopy(body or BODIES[status])))
        return self

    def fail_timeline_next(
        self, status: int, body: bytes | str | dict[str, Any] | None = None
    ) -> FakeX:
        """The next ``GET /2/users/:id/tweets`` answers ``status`` (with ``body``, e.g. one
        that is not JSON, else X's body for the status)."""
        with self._state:
            self._timeline_failures.append(
                Response(status, copy.deepcopy(body if body is not None else BODIES[status]))
            )
        return self

    def top_up(self, credits: int | None = None) -> FakeX:
        """Credits bought (``None``: unlimited again)."""
        with self._state:
            self.credits = credits
        return self

    def new_cycle(self) -> FakeX:
        """X's billing cycle turns: the usage cap counts from zero."""
        with self._state:
            self.usage = 0
        return self

    def read_only(self) -> FakeX:
        """The app has Read permission only: ``x-access-level: read``, posts refused (403)."""
        self.access_level = "read"
        return self

    def seed_tweet(self, text: str) -> dict[str, Any]:
        """A post already on the account (made earlier, or by an attempt whose answer was
        lost)."""
        with self._state:
            return self._accept(text, [])

    def exhaust_user_window(self, *, reset_in: int = 6 * 3600) -> FakeX:
        """Use up the account's 24-hour posting allowance; it resets in ``reset_in``."""
        with self._state:
            self._user_day.used = self._user_day.limit
            self._user_day.reset = int(self.clock()) + reset_in
        return self

    def exhaust_app_window(self, *, reset_in: int = 6 * 3600) -> FakeX:
        """Use up the app's 24-hour posting allowance; it resets in ``reset_in``."""
        with self._state:
            self._app_day.used = self._app_day.limit
            self._app_day.reset = int(self.clock()) + reset_in
        return self

    # -- handlers ----------------------------------------------------------------------
    def _create_tweet(self, request: Request) -> Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        if "write" not in self.access_level:
            return Response(403, copy.deepcopy(BODIES[403]), self._limit_headers())
        with self._state:
            if not self._tweet_failures:
                return self._validate_and_accept(request)
            injected, accept = self._tweet_failures.pop(0)
            if not accept:
                return injected
            created = self._validate_and_accept(request)
            if created.status != 201:
                return created  # nothing was created: answer as X would
            if injected.delay or injected.drip:
                created.delay = injected.delay  # created, answered late
                created.drip = injected.drip  # or slowly
                return created
            return injected  # created, then the connection drops or X answers 5xx

    def _allowance_refusal(self, cost: int = 1) -> Response | None:
        """402 out of credits, or 429 over the usage cap, before anything is done."""
        if self.credits is not None and self.credits < cost:
            return Response(402, copy.deepcopy(CREDITS_BODIES[self.credits_body]))
        if self.usage_cap is not None and self.usage + cost > self.usage_cap:
            headers = self._limit_headers()  # the rate limit looks fine (xdk#25)
            return Response(429, copy.deepcopy(USAGE_CAP_BODY), headers)
        return None

    def _bill(self, cost: int) -> None:
        self.usage += cost
        if self.credits is not None:
            self.credits -= cost

    def _validate_and_accept(self, request: Request) -> Response:
        if (refused := self._allowance_refusal()) is not None:
            return refused
        now = self.clock()
        for window in (self._window, self._user_day, self._app_day):
            window.roll(now)
        if min(self._window.remaining, self._user_day.remaining, self._app_day.remaining) == 0:
            return Response(429, copy.deepcopy(BODIES[429]), self._limit_headers())
        try:
            payload = request.json()
        except ValueError:
            return Response(400, invalid_request("body", "", "Request body is not valid JSON."))
        if not isinstance(payload, dict):
            return Response(400, invalid_request("body", "", "Request body is not an object."))
        text = payload.get("text")
        media_ids = [str(m) for m in (payload.get("media") or {}).get("media_ids", [])]
        for media_id in media_ids:
            expired = media_id in self.media and now > self.media[media_id]["expires_at"]
            if media_id not in self.media or expired:
                return Response(
                    400, invalid_request("media.media_ids", media_id, "Your media IDs are invalid.")
                )
        if not text and not media_ids:
            return Response(
                400, invalid_request("text", "", "Tweet needs to have either text or media.")
            )
        if text and any(tweet["text"] == text for tweet in self.tweets):
            return Response(403, copy.deepcopy(DUPLICATE_BODY), self._limit_headers())
        for window in (self._window, self._user_day, self._app_day):
            window.used += 1
        self._bill(1)
        tweet = self._accept(text or "", media_ids)
        body = {
            "data": {
                "id": tweet["id"],
                "text": tweet["text"],
                "edit_history_tweet_ids": [tweet["id"]],
            }
        }
        return Response(201, body, self._limit_headers())

    def _accept(self, text: str, media_ids: list[str]) -> dict[str, Any]:
        tweet = {"id": str(next(self._ids)), "text": text, "media_ids": media_ids}
        self._created_at[tweet["id"]] = time.strftime(
            "%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(self.clock())
        )
        self.tweets.append(tweet)
        return tweet

    def _users_me(self, request: Request) -> Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        with self._state:
            if self._me_failures:
                return self._me_failures.pop(0)
        return Response(200, {"data": dict(self.user)}, self._limit_headers())

    def _users_tweets(self, request: Request) -> Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        with self._state:
            self.timeline_reads.append(dict(request.query))
            if self._timeline_failures:
                return self._timeline_failures.pop(0)
            if self.tier == "free":
                return Response(403, copy.deepcopy(NOT_ENROLLED_BODY))
            if (refused := self._allowance_refusal()) is not None:
                return refused
            tweets = list(reversed(self.tweets))
        assert request.match is not None
        if request.match["id"] != self.user["id"]:
            return Response(
                200,
                {
                    "errors": [
                        {
                            "value": request.match["id"],
                            "detail": f"Could not find user with id: [{request.match['id']}].",
                            "title": "Not Found Error",
                            "resource_type": "user",
                            "parameter": "id",
                            "type": "https://api.twitter.com/2/problems/resource-not-found",
                        }
                    ]
                },
            )
        raw_max = (request.query.get("max_results") or ["10"])[-1]
        if not raw_max.isdigit() or not 5 <= int(raw_max) <= 100:
            return Response(
                400, invalid_request("max_results", raw_max, "must be between 5 and 100")
            )
        start_time = (request.query.get("start_time") or [""])[-1]
        if start_time:
            try:
                since = time.strptime(start_time, "%Y-%m-%dT%H:%M:%SZ")
            except ValueError:
                return Response(
                    400, invalid_request("start_time", start_time, "Invalid start_time.")
                )
            tweets = [t for t in tweets if self._created_at[t["id"]] >= _x_time(since)]
        offset = int((request.query.get("pagination_token") or ["0"])[-1] or 0)
        page = tweets[offset : offset + int(raw_max)]
        fields = set(",".join(request.query.get("tweet.fields", [])).split(","))
        shown = [self._as_shown(tweet, fields) for tweet in page]
        with self._state:
            self.reads_billed += len(shown)
            self._bill(len(shown))
        meta: dict[str, Any] = {"result_count": len(shown)}
        if offset + len(page) < len(tweets):
            meta["next_token"] = str(offset + len(page))
        if shown:
            meta.update(newest_id=shown[0]["id"], oldest_id=shown[-1]["id"])
            return Response(200, {"data": shown, "meta": meta}, self._limit_headers())
        return Response(200, {"meta": meta}, self._limit_headers())

    def _as_shown(self, tweet: dict[str, Any], fields: set[str]) -> dict[str, Any]:
        """A post as X's timeline shows it: escaped, every URL a t.co link."""
        text = html.escape(tweet["text"], quote=False)
        urls: list[dict[str, Any]] = []
        shown = ""
        last = 0
        for start, end in find_urls(text):
            original = html.unescape(text[start:end])
            short = "https://t.co/" + hashlib.sha1(original.encode()).hexdigest()[:10]
            shown += text[last:start]
            urls.append(
                {
                    "start": len(shown),
                    "end": len(shown) + len(short),
                    "url": short,
                    "expanded_url": original if "://" in original else f"http://{original}",
                    "display_url": original.split("://", 1)[-1][:26],
                }
            )
            shown += short
            last = end
        shown += text[last:]
        if tweet.get("media_ids"):
            # X appends the media's own link to a post with media: a t.co link whose entity
            # carries ``media_key`` and an expanded_url ending /photo/1 (tweepy's recorded
            # cassette test_client_get_users_tweets.yaml).
            short = "https://t.co/" + hashlib.sha1(str(tweet["id"]).encode()).hexdigest()[:10]
            shown += " " if shown else ""
            urls.append(
                {
                    "start": len(shown),
                    "end": len(shown) + len(short),
                    "url": short,
                    "expanded_url": f"https://x.com/{self.user['username']}/status/{tweet['id']}/photo/1",
                    "display_url": f"pic.x.com/{short[-10:]}",
                    "media_key": f"3_{tweet['media_ids'][0]}",
                }
            )
            shown += short
        data: dict[str, Any] = {
            "id": tweet["id"],
            "text": shown,
            "edit_history_tweet_ids": [tweet["id"]],
        }
        if "created_at" in fields:
            data["created_at"] = self._created_at.get(tweet["id"], "")
        if "entities" in fields and urls:
            data["entities"] = {"urls": urls}
        return data

    def _media_upload(self, request: Request) -> Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        with self._state:
            if self._media_failures:
                return self._media_failures.pop(0)
        fields = _multipart(request)
        if "media" not in fields:
            return Response(400, invalid_request("media", "", "The media field is required."))
        category = fields.get("media_category", ("", b"", ""))[1].decode()
        if category and category not in MEDIA_CATEGORIES:
            return Response(
                400, invalid_request("media_category", category, "Invalid media_category.")
            )
        filename, data, mime_type = fields["media"]
        with self._state:
            media_id = str(next(self._ids))
            self.media[media_id] = {
                "id": media_id,
                "media_key": f"3_{media_id}",
                "data": data,
                "mime_type": mime_type,
                "filename": filename,
                "media_category": category,
                "alt": "",
                "expires_at": self.clock() + MEDIA_EXPIRES_AFTER_S,
            }
        body = {
            "data": {
                "id": media_id,
                "media_key": f"3_{media_id}",
                "size": len(data),
                "expires_after_secs": MEDIA_EXPIRES_AFTER_S,
                "image": {"image_type": mime_type, "w": 1, "h": 1},
            }
        }
        return Response(200, body)

    def _media_metadata(self, request: Request) -> Response:
        if (denied := self._check_auth(request)) is not None:
            return denied
        with self._state:
            if self._metadata_failures:
                return self._metadata_failures.pop(0)
        payload = request.json()
        media_id = str((payload or {}).get("id", ""))
        alt = ((payload or {}).get("metadata") or {}).get("alt_text", {}).get("text")
        if media_id not in self.media:
            return Response(400, invalid_request("id", media_id, "Invalid media id."))
        if not isinstance(alt, str) or len(alt) > 1000:
            return Response(400, invalid_request("alt_text", alt, "Invalid alt text."))
        with self._state:
            self.media[media_id]["alt"] = alt
        body = {"data": {"id": media_id, "associated_metadata": {"alt_text": {"text": alt}}}}
        return Response(200, body)

    # -- the PIN flow ------------------------------------------------------------------
    def _oauth_params(self, request: Request) -> dict[str, str]:
        try:
            pairs = utils.parse_authorization_header(request.header("Authorization"))
        except ValueError:
            return {}
        return {k: utils.unescape(v) for k, v in pairs}

    def _oauth_refused(self, message: str) -> Response:
        # X's own words for a refused token request (code 32 or a plain text reason).
        return Response(401, {"errors": [{"code": 32, "message": message}]})

    def _request_token(self, request: Request) -> Response:
        params = self._oauth_params(request)
        if params.get("oauth_consumer_key") != self.consumer_key or not self._signature_ok(
            request, request.header("Authorization"), params.get("oauth_signature", ""), ""
        ):
            return self._oauth_refused("Could not authenticate you.")
        if params.get("oauth_callback") != "oob":
            return self._oauth_refused("Callback URL not approved for this client application.")
        number = next(self._oauth_ids)
        token, secret = f"req-{number}-Kf93hQ", f"req-secret-{number}-p0Zt"
        with self._state:
            self.request_tokens[token] = secret
        body = urlencode(
            {"oauth_token": token, "oauth_token_secret": secret, "oauth_callback_confirmed": "true"}
        )
        return Response(200, body, {"Content-Type": "text/html; charset=utf-8"})

    def _authorize(self, request: Request) -> Response:
        """The person, signed in, authorises the app: X shows a PIN."""
        token = (request.query.get("oauth_token") or [""])[-1]
        if token not in self.request_tokens:
            return Response(
                400, "<p>This page is no longer valid.</p>", {"Content-Type": "text/html"}
            )
        with self._state:
            pin = self.pins.setdefault(token, f"{4_900_000 + next(self._oauth_ids)}")
        page = f"<p>You've granted access. Enter this PIN to complete: <code>{pin}</code></p>"
        return Response(200, page, {"Content-Type": "text/html; charset=utf-8"})

    def _access_token(self, request: Request) -> Response:
        params = self._oauth_params(request)
        token = params.get("oauth_token", "")
        secret = self.request_tokens.get(token)
        if secret is None or not self._signature_ok(
            request, request.header("Authorization"), params.get("oauth_signature", ""), secret
        ):
            return Response(401, "Invalid request token.", {"Content-Type": "text/plain"})
        if params.get("oauth_verifier") != self.pins.get(token):
            return Response(
                401,
                "Error processing your OAuth request: Invalid oauth_verifier parameter",
                {"Content-Type": "text/plain"},
            )
        with self._state:
            del self.request_tokens[token]
            del self.pins[token]
            number = next(self._oauth_ids)
            self.access_token = f"{self.user['id']}-newAt{number}Qw"
            self.access_token_secret = f"new-ats-{number}-Lx7"
            self.issued.append((self.access_token, self.access_token_secret))
        body = urlencode(
            {
                "oauth_token": self.access_token,
                "oauth_token_secret": self.access_token_secret,
                "user_id": self.user["id"],
                "screen_name": self.user["username"],
            }
        )
        return Response(200, body, {"Content-Type": "text/html; charset=utf-8"})

    # -- helpers -----------------------------------------------------------------------
    def _limit_headers(self) -> dict[str, str]:
        headers = {
            "x-access-level": self.access_level,
            "x-rate-limit-limit": str(self._window.limit),
            "x-rate-limit-remaining": str(self._window.remaining),
            "x-rate-limit-reset": str(self._window.reset),
        }
        for prefix, window in (
            ("x-user-limit-24hour", self._user_day),
            ("x-app-limit-24hour", self._app_day),
        ):
            headers[f"{prefix}-limit"] = str(window.limit)
            headers[f"{prefix}-remaining"] = str(window.remaining)
            headers[f"{prefix}-reset"] = str(window.reset)
        return headers

    def _check_auth(self, request: Request) -> Response | None:
        header = request.header("Authorization")
        try:
            params = {k: utils.unescape(v) for k, v in utils.parse_authorization_header(header)}
        except ValueError:
            params = {}
        ok = params.get("oauth_consumer_key") == self.consumer_key
        if ok and self.access_token is not None:
            ok = params.get("oauth_token") == self.access_token
        if ok and self.consumer_secret is not None:
            ok = self._signature_ok(request, header, params.get("oauth_signature", ""))
        if ok:
            return None
        return Response(401, copy.deepcopy(UNAUTHORIZED_BODY))

    def _signature_ok(
        self, request: Request, header: str, given: str, token_secret: str | None = None
    ) -> bool:
        collected = signature.collect_parameters(
            uri_query=urlencode(request.query, doseq=True),
            body=request.form() if "urlencoded" in request.header("Content-Type") else None,
            headers={"Authorization": header},
        )
        base = signature.signature_base_string(
            request.method,
            signature.base_string_uri(SIGNED_HOST + request.path),
            signature.normalize_parameters(collected),
        )
        if self.consumer_secret is None:
            return True  # the fake was not told the secrets: it checks the keys only
        if token_secret is None:
            token_secret = self.access_token_secret or ""
        secrets = (self.consumer_secret, token_secret)
        key = "&".join(utils.escape(secret) for secret in secrets)
        digest = hmac.digest(key.encode(), base.encode(), "sha1")
        return hmac.compare_digest(base64.b64encode(digest).decode(), given)


def _x_time(at: time.struct_time) -> str:
    """X's ``created_at`` form, which sorts as time does."""
    return time.strftime("%Y-%m-%dT%H:%M:%S.000Z", at)


def _multipart(request: Request) -> dict[str, tuple[str, bytes, str]]:
    """Parse a multipart/form-data body: name -> (filename, bytes, content type)."""
    content_type = request.header("Content-Type")
    if not content_type.startswith("multipart/form-data"):
        return {}
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + request.body
    )
    fields: dict[str, tuple[str, bytes, str]] = {}
    for part in message.iter_parts():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        data = part.get_payload(decode=True) or b""
        fields[str(name)] = (
            str(part.get_filename() or ""),
            data,
            part.get_content_type() if part.get("Content-Type") else "",
        )
    return fields
