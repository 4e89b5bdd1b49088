"""A loopback fake of a Mastodon instance: the instance's description, the account, media,
statuses with ``Idempotency-Key``, the account's statuses, apps and OAuth.

Where each behaviour comes from:

- Instance: ``GET /api/v1/instance`` and ``GET /api/v2/instance`` (docs.joinmastodon.org,
  methods/instance and entities/Instance): ``version``, ``configuration.statuses``
  (``max_characters``, ``max_media_attachments``, ``characters_reserved_per_url``) and
  ``configuration.media_attachments``; v2 also ``api_versions``. Mastodon.py asks for both,
  with a trailing slash, to learn the version before its first upload (``media_post``
  picks ``/api/v2/media`` from version 3.1.4 on).
- Authentication: every API call but the instance's carries ``Authorization: Bearer``; a
  wrong token answers 401 ``{"error": "The access token is invalid"}``, a token without the
  scope 403 ``{"error": "This action is outside the authorized scopes"}`` (Mastodon's
  ``Api::BaseController``, and the Error entity: ``{"error": ...}``).
- Rate limits: every answer has ``X-RateLimit-Limit`` (300), ``-Remaining`` and ``-Reset``, an
  ISO 8601 time (docs.joinmastodon.org/api/rate-limits); over the limit, 429
  ``{"error": "Too many requests"}``.
- ``POST /api/v1/statuses`` (methods/statuses#create): form fields ``status``,
  ``media_ids[]``, ``spoiler_text``, ``visibility``, ``language``, ``sensitive``; 200 with the
  Status. ``Idempotency-Key``: the same key from the same account within an hour answers the
  first status again (the docs: "Idempotency keys are stored for up to 1 hour"; added in
  mastodon/mastodon#2419, a Redis key per account and key in ``PostStatusService``; stored
  only once the status exists, and since mastodon/mastodon#21840 right after it is created).
  422 ``Validation failed: Text character limit of 500 exceeded`` past
  the limit, counted as ``StatusLengthValidator`` does (content warning + text, graphemes,
  each URL with its protocol as 23); ``Validation failed: Text can't be blank`` without
  text or media; ``Cannot attach files that have not finished processing. Try again in a
  moment!`` for media still processing (``media_attachments.validations.not_ready``).
- The status's ``content`` is HTML as Mastodon's ``TextFormatter`` makes it: paragraphs,
  ``<br />`` for single line breaks, each link as an ``<a>`` whose text is split in
  ``invisible``/``ellipsis`` spans (the whole URL still in its text), hashtags as links.
- ``POST /api/v2/media`` (methods/media#v2): multipart ``file`` and ``description``; 200 with
  ``url`` when processed at once (small images), else 202 with ``url`` null;
  ``GET /api/v1/media/:id`` answers 206 while processing, then 200.
- ``GET /api/v1/accounts/verify_credentials``, ``GET /api/v1/accounts/:id/statuses``
  (newest first, ``limit`` up to 40, ``exclude_reblogs``), ``GET
  /api/v1/apps/verify_credentials`` (``scopes`` since 4.3).
- Apps and OAuth (methods/apps#create, methods/oauth): ``POST /api/v1/apps`` returns
  ``client_id`` and ``client_secret``; ``GET /oauth/authorize`` is the person's page (here
  it shows the code at once, as for ``urn:ietf:wg:oauth:2.0:oob``, or redirects with
  ``code`` and ``state``); ``POST /oauth/token`` (``grant_type=authorization_code``) returns
  ``access_token``, ``token_type`` Bearer and ``scope``. ``/.well-known/oauth-authorization-
  server`` (4.3+) names those endpoints.
"""

from __future__ import annotations

import html
import itertools
import re
import secrets
import sys
import threading
from collections import deque
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import regex

from tests.fakes.server import FakeServer, Request, Response

VERSION = "4.3.2"
IDEMPOTENCY_WINDOW = timedelta(hours=1)
URL_PLACEHOLDER = "x" * 23
_URL = re.compile(r"https?://[^\s<>\"]+[^\s<>\".,;:!?)\]'…]")
_TAG = re.compile(r"(?<![=/)\w])#(\w+)")
NOT_READY = "Cannot attach files that have not finished processing. Try again in a moment!"
ALL_SCOPES = ("read", "write", "follow", "push")


def status_length(text: str, spoiler_text: str = "", url_weight: int = 23) -> int:
    """``StatusLengthValidator``: graphemes of the content warning and of the text with
    each URL (with its protocol) as ``url_weight`` x's."""
    countable = _URL.sub("x" * url_weight, text)
    return len(regex.findall(r"\X", spoiler_text + countable))


def _link(url: str) -> str:
    """A URL as Mastodon's formatter links it (``TextFormatter.shortened_link``)."""
    scheme, rest = url.split("://", 1)
    visible, hidden = rest[:30], rest[30:]
    ellipsis = "ellipsis" if hidden else ""
    return (
        f'<a href="{html.escape(url)}" target="_blank" rel="nofollow noopener" translate="no">'
        f'<span class="invisible">{scheme}://</span><span class="{ellipsis}">'
        f'{html.escape(visible)}</span><span class="invisible">{html.escape(hidden)}</span></a>'
    )


def to_html(text: str, base: str) -> str:
    """Plain status text as Mastodon's ``TextFormatter`` renders it."""
    paragraphs = []
    for paragraph in re.split(r"\n\n+", text.strip()):
        parts, last = [], 0
        for found in _URL.finditer(paragraph):
            parts += [html.escape(paragraph[last : found.start()]), _link(found.group())]
            last = found.end()
        parts.append(html.escape(paragraph[last:]))
        body = "".join(parts)
        body = _TAG.sub(
            lambda m: (
                f'<a href="{base}/tags/{m.group(1).lower()}" class="mention hashtag"'
                f' rel="tag">#<span>{m.group(1)}</span></a>'
            ),
            body,
        )
        paragraphs.append("<p>" + body.replace("\n", "<br />") + "</p>")
    return "".join(paragraphs)


def error(status: int, message: str, headers: dict[str, str] | None = None) -> Response:
    return Response(status, {"error": message}, dict(headers or {}))


class FakeMastodon(FakeServer):
    """One instance with one account, whose token is ``access_token``."""

    def __init__(
        self,
        *,
        access_token: str,
        username: str = "feedrelay",
        max_characters: int = 500,
        url_weight: int = 23,
        scopes: tuple[str, ...] = ("read", "write"),
        processing_polls: int = 0,
        instant_media_bytes: int = 64 * 1024,
        now: Any = None,
    ) -> None:
        super().__init__()
        self.tokens: dict[str, tuple[str, ...]] = {access_token: scopes}
        self.username = username
        self.account_id = "109876543210987654"
        self.max_characters = max_characters
        self.url_weight = url_weight
        self.app_scopes: tuple[str, ...] | None = scopes
        # How many GETs of a media id answer 206 before 200 (beyond the upload's own 202).
        self.processing_polls = processing_polls
        self.instant_media_bytes = instant_media_bytes
        self.now = now or (lambda: datetime.now(UTC))
        self.statuses: list[dict[str, Any]] = []  # accepted through the API, oldest first
        self.timeline: list[dict[str, Any]] = []  # every status of the account, oldest first
        self.media: dict[str, dict[str, Any]] = {}
        self.idempotency: dict[tuple[str, str], tuple[datetime, dict[str, Any]]] = {}
        self.apps: dict[str, dict[str, Any]] = {}  # client_id -> the app
        self.codes: dict[str, dict[str, Any]] = {}  # code -> what it grants
        self.remaining = 300
        self._ids = itertools.count(113_000_000_000_000_001)
        self._next: deque[tuple[str, Response]] = deque()
        self._mutex = threading.Lock()
        self.route("GET", r"/api/v1/instance/?", self._instance_v1)
        self.route("GET", r"/api/v2/instance/?", self._instance_v2)
        self.route("GET", r"/api/v1/accounts/verify_credentials", self._verify)
        self.route("GET", r"/api/v1/apps/verify_credentials", self._app)
        self.route("GET", r"/api/v1/accounts/(?P<id>[^/]+)/statuses", self._account_statuses)
        self.route("POST", r"/api/v2/media", self._upload)
        self.route("GET", r"/api/v1/media/(?P<id>[^/]+)", self._media)
        self.route("POST", r"/api/v1/statuses", self._create)
        self.route("POST", r"/api/v1/apps", self._register)
        self.route("GET", r"/oauth/authorize", self._authorize)
        self.route("POST", r"/oauth/token", self._token)
        self.route("GET", r"/\.well-known/oauth-authorization-server", self._oauth_metadata)

    def start(self) -> FakeMastodon:
        if self._httpd is None:
            super().start()
            assert self._httpd is not None
            report = self._httpd.handle_error

            def handle_error(request: Any, client_address: Any) -> None:
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    report(request, client_address)

            self._httpd.handle_error = handle_error
        return self

    def __enter__(self) -> FakeMastodon:
        return self.start()

    # -- builders ----------------------------------------------------------------------
    def fail_next(
        self, status: int, message: str | None = None, headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next API request with Mastodon's error."""
        said = message or {
            401: "The access token is invalid",
            403: "This action is outside the authorized scopes",
            404: "Record not found",
            422: "Validation failed: Text character limit of 500 exceeded",
            429: "Too many requests",
            500: "We're sorry, but something went wrong on our end.",
            502: "Bad Gateway",
            503: "Service Unavailable",
        }.get(status, "Error")
        extra = dict(headers or {})
        if status == 429:
            reset = self.now() + timedelta(minutes=3)
            extra.setdefault("X-RateLimit-Remaining", "0")
            extra.setdefault("X-RateLimit-Reset", _iso(reset))
        self._next.append(("answer", error(status, said, extra)))

    def accept_then_fail_next(self, status: int = 503) -> None:
        """Make the next status, then answer with an error as if it had failed."""
        self._next.append(("after", error(status, "Service Unavailable")))

    def drop_next(self) -> None:
        self._next.append(("answer", Response(drop=True)))

    def drop_after_create_next(self) -> None:
        """Make the next status, then close the connection without an answer."""
        self._next.append(("after", Response(drop=True)))

    def delay_next(self, seconds: float) -> None:
        self._next.append(("delay", Response(delay=seconds)))

    def add_status(
        self, text: str, *, spoiler_text: str = "", created_at: datetime | None = None
    ) -> dict[str, Any]:
        """A status of the account made without the API (earlier, or by hand)."""
        return self._store(text, spoiler_text, "public", [], created_at or self.now())

    # -- dispatch ----------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        public = request.path.startswith(("/api/v1/instance", "/api/v2/instance"))
        oauth = request.path.startswith(("/oauth/", "/.well-known/")) or request.path == (
            "/api/v1/apps"
        )
        if not public and not oauth:
            scopes = self._scopes(request)
            if scopes is None:
                return self._limited(error(401, "The access token is invalid"))
        kind, injected = ("", None)
        if self._next and not oauth and not public:
            kind, injected = self._next.popleft()
        if injected is not None and kind == "answer":
            return self._limited(injected)
        if injected is not None and kind == "after":
            response = super().dispatch(request)
            return injected if response.status < 300 else response
        response = super().dispatch(request)
        if injected is not None and kind == "delay":
            response.delay = injected.delay
        return self._limited(response)

    def _limited(self, response: Response) -> Response:
        with self._mutex:
            self.remaining = max(self.remaining - 1, 0)
            remaining = self.remaining
        reset = self.now().replace(microsecond=0) + timedelta(minutes=5)
        response.headers.setdefault("X-RateLimit-Limit", "300")
        response.headers.setdefault("X-RateLimit-Remaining", str(remaining))
        response.headers.setdefault("X-RateLimit-Reset", _iso(reset))
        return response

    def _scopes(self, request: Request) -> tuple[str, ...] | None:
        header = request.header("Authorization")
        if not header.startswith("Bearer "):
            return None
        return self.tokens.get(header[len("Bearer ") :])

    def _allowed(self, request: Request, scope: str) -> bool:
        granted = self._scopes(request) or ()
        return scope in granted or scope.split(":")[0] in granted

    # -- the instance ------------------------------------------------------------------
    def _configuration(self) -> dict[str, Any]:
        return {
            "statuses": {
                "max_characters": self.max_characters,
                "max_media_attachments": 4,
                "characters_reserved_per_url": self.url_weight,
            },
            "media_attachments": {
                "supported_mime_types": ["image/jpeg", "image/png", "image/gif", "image/webp"],
                "image_size_limit": 16777216,
                "description_limit": 1500,
            },
        }

    def _host(self) -> str:
        return urlsplit(self.url).netloc

    def _instance_v1(self, request: Request) -> Response:
        return Response(
            200,
            {
                "uri": self._host(),
                "title": "Fake Mastodon",
                "version": VERSION,
                "configuration": self._configuration(),
            },
        )

    def _instance_v2(self, request: Request) -> Response:
        return Response(
            200,
            {
                "domain": self._host(),
                "title": "Fake Mastodon",
                "version": VERSION,
                "api_versions": {"mastodon": 2},
                "configuration": {"urls": {"streaming": ""}, **self._configuration()},
            },
        )

    def _account(self) -> dict[str, Any]:
        return {
            "id": self.account_id,
            "username": self.username,
            "acct": self.username,
            "display_name": "FeedRelay",
            "url": f"{self.url}/@{self.username}",
            "created_at": "2025-01-01T00:00:00.000Z",
        }

    def _verify(self, request: Request) -> Response:
        if not self._allowed(request, "read:accounts"):
            return error(403, "This action is outside the authorized scopes")
        return Response(200, {**self._account(), "source": {"privacy": "public"}})

    def _app(self, request: Request) -> Response:
        body: dict[str, Any] = {"name": "FeedRelay", "website": None}
        if self.app_scopes is not None:
            body["scopes"] = list(self.app_scopes)
        return Response(200, body)

    # -- media -------------------------------------------------------------------------
    def _upload(self, request: Request) -> Response:
        if not self._allowed(request, "write:media"):
            return error(403, "This action is outside the authorized scopes")
        fields = _multipart(request)
        file = fields.get("file")
        if not isinstance(file, tuple):
            return error(422, "Validation failed: File can't be blank")
        name, content_type, data = file
        if not content_type.startswith("image/"):
            return error(422, f"Validation failed: File content type is invalid ({content_type})")
        media_id = str(next(self._ids))
        done = len(data) <= self.instant_media_bytes and not self.processing_polls
        item = {
            "id": media_id,
            "type": "image",
            "url": f"{self.url}/system/media/{media_id}.png" if done else None,
            "preview_url": f"{self.url}/system/media/{media_id}-small.png",
            "description": fields.get("description") or None,
            "name": name,
            "size": len(data),
            "polls_left": 0 if done else self.processing_polls,
        }
        self.media[media_id] = item
        return Response(200 if done else 202, _public(item))

    def _media(self, request: Request) -> Response:
        assert request.match is not None
        item = self.media.get(request.match["id"])
        if item is None:
            return error(404, "Record not found")
        if item["url"] is None:
            if item["polls_left"] > 0:
                item["polls_left"] -= 1
                return Response(206, _public(item))
            item["url"] = f"{self.url}/system/media/{item['id']}.png"
        return Response(200, _public(item))

    # -- statuses ----------------------------------------------------------------------
    def _create(self, request: Request) -> Response:
        if not self._allowed(request, "write:statuses"):
            return error(403, "This action is outside the authorized scopes")
        fields = _form(request)
        text = str(fields.get("status", [""])[-1])
        spoiler = str(fields.get("spoiler_text", [""])[-1])
        media_ids = fields.get("media_ids[]", [])
        visibility = fields.get("visibility", ["public"])[-1]
        key = request.header("Idempotency-Key")
        now = self.now()
        if key:
            with self._mutex:
                earlier = self.idempotency.get((self.account_id, key))
            if earlier is not None and now - earlier[0] < IDEMPOTENCY_WINDOW:
                return Response(200, earlier[1])
        if not text.strip() and not media_ids:
            return error(422, "Validation failed: Text can't be blank")
        if status_length(text, spoiler, self.url_weight) > self.max_characters:
            return error(
                422, f"Validation failed: Text character limit of {self.max_characters} exceeded"
            )
        attached = []
        for media_id in media_ids:
            item = self.media.get(media_id)
            if item is None:
                return error(422, "Validation failed: Media attachments is invalid")
            if item["url"] is None:
                return error(422, NOT_READY)
            attached.append(_public(item))
        if visibility not in ("public", "unlisted", "private", "direct"):
            return error(422, "Validation failed: Visibility is not included in the list")
        status = self._store(text, spoiler, visibility, attached, now, fields)
        self.statuses.append(status)
        if key:
            with self._mutex:
                self.idempotency[(self.account_id, key)] = (now, status)
        return Response(200, status)

    def _store(
        self,
        text: str,
        spoiler: str,
        visibility: str,
        media: list[dict[str, Any]],
        created_at: datetime,
        fields: dict[str, list[str]] | None = None,
    ) -> dict[str, Any]:
        status_id = str(next(self._ids))
        fields = fields or {}
        status = {
            "id": status_id,
            "created_at": _iso(created_at),
            "uri": f"{self.url}/users/{self.username}/statuses/{status_id}",
            "url": f"{self.url}/@{self.username}/{status_id}",
            "visibility": visibility,
            "sensitive": fields.get("sensitive", ["false"])[-1] in ("true", "1", "True"),
            "spoiler_text": spoiler,
            "language": fields.get("language", [None])[-1],
            "content": to_html(text, self.url),
            "media_attachments": media,
            "account": self._account(),
            "reblog": None,
            "mentions": [],
            "tags": [],
            "emojis": [],
            "in_reply_to_id": None,
            "text": None,
        }
        with self._mutex:
            self.timeline.append(status)
        return status

    def _account_statuses(self, request: Request) -> Response:
        assert request.match is not None
        if request.match["id"] != self.account_id:
            return error(404, "Record not found")
        limit = min(int((request.query.get("limit") or ["20"])[-1]), 40)
        with self._mutex:
            newest_first = list(reversed(self.timeline))
        return Response(200, newest_first[:limit])

    # -- apps and OAuth ----------------------------------------------------------------
    def _register(self, request: Request) -> Response:
        fields = request.form()
        if not fields.get("client_name") or not fields.get("redirect_uris"):
            return error(422, "Validation failed: Application name can't be blank")
        number = len(self.apps) + 1
        app = {
            "id": str(number),
            "name": fields["client_name"],
            "website": fields.get("website"),
            "scopes": fields.get("scopes", "read").split(),
            "redirect_uri": fields["redirect_uris"],
            "redirect_uris": fields["redirect_uris"].split(),
            "client_id": f"client-id-{number}-{secrets.token_hex(4)}",
            "client_secret": f"client-secret-{number}-{secrets.token_hex(8)}",
        }
        self.apps[app["client_id"]] = app
        return Response(200, app)

    def _authorize(self, request: Request) -> Response:
        query = {k: v[-1] for k, v in request.query.items()}
        app = self.apps.get(query.get("client_id", ""))
        if app is None or query.get("redirect_uri") not in app["redirect_uris"]:
            return Response(400, "The redirect uri included is not valid.")
        code = f"code-{secrets.token_hex(6)}"
        scopes = query.get("scope", "read").split()
        self.codes[code] = {"client_id": app["client_id"], "scopes": scopes, **query}
        redirect = query["redirect_uri"]
        if redirect == "urn:ietf:wg:oauth:2.0:oob":
            page = f"<p>Copy this authorization code: <code>{code}</code></p>"
            return Response(200, page, {"Content-Type": "text/html; charset=utf-8"})
        target = redirect + "?" + urlencode({"code": code, "state": query.get("state", "")})
        return Response(302, b"", {"Location": target})

    def _token(self, request: Request) -> Response:
        fields = request.form()
        grant = self.codes.pop(fields.get("code", ""), None)
        if (
            grant is None
            or fields.get("grant_type") != "authorization_code"
            or fields.get("client_id") != grant["client_id"]
            or self.apps[grant["client_id"]]["client_secret"] != fields.get("client_secret")
            or fields.get("redirect_uri") != grant.get("redirect_uri")
        ):
            return Response(
                400,
                {
                    "error": "invalid_grant",
                    "error_description": "The provided authorization grant is invalid,"
                    " expired, revoked, does not match the redirection URI used in the"
                    " authorization request, or was issued to another client.",
                },
            )
        token = f"token-{secrets.token_hex(12)}"
        self.tokens[token] = tuple(grant["scopes"])
        self.issued = [*getattr(self, "issued", []), token]
        return Response(
            200,
            {
                "access_token": token,
                "token_type": "Bearer",
                "scope": " ".join(grant["scopes"]),
                "created_at": int(self.now().timestamp()),
            },
        )

    def _oauth_metadata(self, request: Request) -> Response:
        return Response(
            200,
            {
                "issuer": self.url + "/",
                "authorization_endpoint": self.url + "/oauth/authorize",
                "token_endpoint": self.url + "/oauth/token",
                "revocation_endpoint": self.url + "/oauth/revoke",
                "scopes_supported": [*ALL_SCOPES, "read:accounts", "read:statuses",
                                     "write:statuses", "write:media", "profile"],
                "response_types_supported": ["code"],
                "grant_types_supported": ["authorization_code", "client_credentials"],
                "code_challenge_methods_supported": ["S256"],
            },
        )  # fmt: skip


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + (
        f"{moment.microsecond // 1000:03d}Z"
    )


def _public(item: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in ("polls_left", "name", "size")}


def _form(request: Request) -> dict[str, list[str]]:
    """A form body's fields, each with all its values (``media_ids[]`` repeats)."""
    return parse_qs(request.body.decode(), keep_blank_values=True)


def _multipart(request: Request) -> dict[str, Any]:
    """A multipart body: plain fields as text, files as (name, content type, bytes)."""
    content_type = request.header("Content-Type")
    found = re.search(r'boundary="?([^";]+)"?', content_type)
    if not found:
        return {}
    boundary = b"--" + found.group(1).encode()
    fields: dict[str, Any] = {}
    for part in request.body.split(boundary)[1:]:
        if part.startswith(b"--"):
            break
        head, _, body = part.lstrip(b"\r\n").partition(b"\r\n\r\n")
        body = body.removesuffix(b"\r\n")
        headers = head.decode("utf-8", "replace")
        name = re.search(r'name="([^"]*)"', headers)
        if not name:
            continue
        filename = re.search(r'filename="([^"]*)"', headers)
        kind = re.search(r"Content-Type:\s*(\S+)", headers, re.IGNORECASE)
        if filename:
            fields[name.group(1)] = (filename.group(1), kind.group(1) if kind else "", body)
        else:
            fields[name.group(1)] = body.decode()
    return fields
