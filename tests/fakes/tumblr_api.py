"""A loopback fake of Tumblr API v2: NPF posts, post listings and user info, OAuth 1.0a.

Every request must carry ``Authorization: OAuth ...`` with the expected consumer key and a
signature; when the fake knows the secrets it checks the HMAC-SHA1 signature too.

It also plays www.tumblr.com's OAuth 1.0a flow under the same host: ``POST
/oauth/request_token``, ``GET /oauth/authorize?oauth_token=...`` (the person's step: a page
with the verifier, also kept in ``verifiers``), ``POST /oauth/access_token``, which issues a
new token and from then on checks signatures with its secret.

A listed post carries ``timestamp``, "the time of the post, in seconds since the epoch"
(tumblr/docs, api.md, "Posts" response fields), newest first.
"""

from __future__ import annotations

import itertools
import sys
import time
from collections import deque
from collections.abc import Iterable
from http import HTTPStatus
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlencode, urlsplit

from oauthlib.oauth1.rfc5849 import signature, utils

from tests.fakes.server import FakeServer, Request, Response

BLOCK_TYPES = {"text", "link", "image", "video", "audio", "paywall", "poll"}
STATES = {"published", "queue", "draft", "private"}
LISTED = {"": ("published", "private"), "queue": ("queue",), "draft": ("draft",)}
TITLES = {
    8001: ("Oh no! There was an error processing your request.", "Invalid NPF content"),
    8022: ("Queue is full", "You can't have more than 1,000 posts in your queue"),
    8023: ("Rate limit exceeded", "You've reached your daily post limit"),
}


def error_body(status: int, code: int = 0, title: str | None = None, detail: str = "") -> Any:
    """The body Tumblr sends with an error: ``meta`` plus a list of ``errors``."""
    msg = "Limit Exceeded" if status == 429 else HTTPStatus(status).phrase
    known_title, known_detail = TITLES.get(code, (msg, msg))
    return {
        "meta": {"status": status, "msg": msg},
        "response": [],
        "errors": [{"title": title or known_title, "code": code, "detail": detail or known_detail}],
    }


class FakeTumblr(FakeServer):
    """Tumblr for one user who owns ``blogs`` (names; ``urls`` maps a name to its own URL)."""

    def __init__(
        self,
        *,
        consumer_key: str,
        consumer_secret: str | None = None,
        token_secret: str | None = None,
        user: str = "feedrelay-user",
        blogs: Iterable[str] = ("feedrelay-test",),
        urls: dict[str, str] | None = None,
    ) -> None:
        super().__init__()
        self.consumer_key, self.consumer_secret, self.token_secret = (
            consumer_key,
            consumer_secret,
            token_secret,
        )
        self.user = user
        self.blogs = {name: (urls or {}).get(name, f"https://{name}.tumblr.com/") for name in blogs}
        self.posts: list[dict[str, Any]] = []  # accepted through the API, oldest first
        self.store: list[dict[str, Any]] = []  # everything on the blogs, oldest first
        self._ids = itertools.count(745_000_000_000_000_001)
        # ("answer", response) replaces the next answer; ("delay", response) only delays it.
        self._next: deque[tuple[str, Response]] = deque()
        self._after_accept: deque[Response] = deque()  # answers after the next accepted post
        self.day_remaining, self.hour_remaining = 5000, 1000
        self.request_tokens: dict[str, str] = {}  # request token -> its secret
        self.verifiers: dict[str, str] = {}  # request token -> the verifier shown
        self.issued: list[tuple[str, str]] = []  # tokens the flow gave out
        self._oauth_ids = itertools.count(1)
        self.route("POST", r"/v2/blog/(?P<blog>[^/]+)/posts", self._create)
        self.route("GET", r"/v2/blog/(?P<blog>[^/]+)/posts(?:/(?P<kind>queue|draft))?", self._list)
        self.route("GET", r"/v2/user/info", self._user_info)

    def start(self) -> FakeTumblr:
        """Start once: ``with start_fake() as fake`` must not start a second server."""
        if self._httpd is None:
            super().start()
            assert self._httpd is not None
            report = self._httpd.handle_error

            def handle_error(request: Any, client_address: Any) -> None:
                # A client that timed out and left is what delay_next is for: not an error.
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    report(request, client_address)

            self._httpd.handle_error = handle_error
        return self

    def __enter__(self) -> FakeTumblr:
        return self.start()

    # -- builders ----------------------------------------------------------------------
    def fail_next(
        self,
        status: int,
        code: int | None = None,
        title: str | None = None,
        headers: dict[str, str] | None = None,
        *,
        detail: str = "",
        body: Any = None,
    ) -> None:
        """Answer the next request with Tumblr's error (``body`` replaces the JSON body)."""
        if body is None:
            body = error_body(status, code or 0, title, detail)
        self._next.append(("answer", Response(status, body, dict(headers or {}))))

    def accept_then_fail_next(self, status: int, code: int | None = None) -> None:
        """Create the next post, then answer with an error as if the post had failed."""
        self._after_accept.append(Response(status, error_body(status, code or 0)))

    def drop_next(self) -> None:
        self._next.append(("answer", Response(drop=True)))

    def delay_next(self, seconds: float) -> None:
        """Answer the next request normally, but only after ``seconds``."""
        self._next.append(("delay", Response(delay=seconds)))

    def add_existing(
        self,
        *,
        slug: str = "",
        source_url: str = "",
        state: str = "published",
        blog: str | None = None,
        content: list[dict[str, Any]] | None = None,
    ) -> dict[str, Any]:
        """Put a post on a blog without going through the API (made earlier, or by hand)."""
        name = blog or next(iter(self.blogs))
        return self._store(name, content or [], state, "", source_url, slug)

    # -- routes ------------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        if request.path.startswith("/oauth/"):
            return self._oauth(request)
        refused = self._refuse_auth(request)
        if refused is not None:
            return refused
        kind, injected = self._next.popleft() if self._next else ("answer", None)
        if injected is not None and kind == "answer":
            return injected
        response = super().dispatch(request)
        response.delay = injected.delay if injected is not None else 0.0
        return response

    # -- www.tumblr.com's OAuth 1.0a flow ----------------------------------------------
    def _oauth(self, request: Request) -> Response:
        if request.method == "GET" and request.path == "/oauth/authorize":
            token = (request.query.get("oauth_token") or [""])[-1]
            if token not in self.request_tokens:
                return Response(400, "Invalid request token", {"Content-Type": "text/plain"})
            verifier = self.verifiers.setdefault(token, f"verifier-{next(self._oauth_ids)}-Tq")
            page = f"<p>Authorised. Your verifier: <code>{verifier}</code></p>"
            return Response(200, page, {"Content-Type": "text/html; charset=utf-8"})
        header = request.header("Authorization")
        try:
            params = {k: utils.unescape(v) for k, v in utils.parse_authorization_header(header)}
        except ValueError:
            params = {}
        if request.method == "POST" and request.path == "/oauth/request_token":
            if params.get("oauth_consumer_key") != self.consumer_key or not self._signed(
                request, params, ""
            ):
                return Response(401, "oauth_signature does not match expected value")
            number = next(self._oauth_ids)
            token, secret = f"tumblr-req-{number}", f"tumblr-req-secret-{number}"
            self.request_tokens[token] = secret
            return Response(
                200,
                urlencode(
                    {"oauth_token": token, "oauth_token_secret": secret,
                     "oauth_callback_confirmed": "true"}
                ),
            )  # fmt: skip
        if request.method == "POST" and request.path == "/oauth/access_token":
            token = params.get("oauth_token", "")
            secret = self.request_tokens.get(token)
            if secret is None or not self._signed(request, params, secret):
                return Response(401, "Invalid request token")
            if params.get("oauth_verifier") != self.verifiers.get(token):
                return Response(401, "Invalid oauth_verifier")
            del self.request_tokens[token], self.verifiers[token]
            number = next(self._oauth_ids)
            new_token, new_secret = f"tumblr-new-token-{number}", f"tumblr-new-secret-{number}"
            self.token_secret = new_secret
            self.issued.append((new_token, new_secret))
            return Response(
                200, urlencode({"oauth_token": new_token, "oauth_token_secret": new_secret})
            )
        return Response(404, "Not found")

    def _signed(self, request: Request, params: dict[str, str], token_secret: str) -> bool:
        if self.consumer_secret is None:
            return bool(params.get("oauth_signature"))
        host = request.header("Host")
        query = urlencode([(k, v) for k, values in request.query.items() for v in values])
        collected = signature.collect_parameters(uri_query=query, headers=request.headers)
        base = signature.signature_base_string(
            request.method,
            signature.base_string_uri(f"http://{host}{request.path}"),
            signature.normalize_parameters(collected),
        )
        secrets = SimpleNamespace(
            client_secret=self.consumer_secret, resource_owner_secret=token_secret
        )
        return bool(
            signature.sign_hmac_sha1_with_client(base, secrets) == params.get("oauth_signature")
        )

    def _refuse_auth(self, request: Request) -> Response | None:
        header = request.header("Authorization")
        if not header.startswith("OAuth "):
            return self._unauthorized("Missing OAuth Authorization header")
        params = {k: utils.unescape(v) for k, v in utils.parse_authorization_header(header)}
        if params.get("oauth_consumer_key") != self.consumer_key:
            return self._unauthorized("Unknown consumer key")
        if not params.get("oauth_signature"):
            return self._unauthorized("Missing oauth_signature")
        if self.consumer_secret is not None and self.token_secret is not None:
            host = request.header("Host")
            query = urlencode([(k, v) for k, values in request.query.items() for v in values])
            collected = signature.collect_parameters(uri_query=query, headers=request.headers)
            base = signature.signature_base_string(
                request.method,
                signature.base_string_uri(f"http://{host}{request.path}"),
                signature.normalize_parameters(collected),
            )
            secrets = SimpleNamespace(
                client_secret=self.consumer_secret, resource_owner_secret=self.token_secret
            )
            expected = signature.sign_hmac_sha1_with_client(base, secrets)
            if expected != params["oauth_signature"]:
                return self._unauthorized("Invalid OAuth signature")
        return None

    @staticmethod
    def _unauthorized(detail: str) -> Response:
        return Response(401, error_body(401, 0, "Unauthorized", detail))

    def _blog(self, identifier: str) -> str | None:
        for name, url in self.blogs.items():
            if identifier in (name, f"{name}.tumblr.com", urlsplit(url).hostname):
                return name
        return None

    def _create(self, request: Request) -> Response:
        name = self._blog(request.match["blog"] if request.match else "")
        if name is None:
            return Response(404, error_body(404))
        try:
            body = request.json()
        except ValueError:
            return self._invalid("Body is not JSON")
        problem = self._problem(body)
        if problem:
            return self._invalid(problem)
        state = body.get("state", "published")
        post = self._store(
            name, body["content"], state, body.get("tags", ""), body.get("source_url", ""),
            body.get("slug", ""),
        )  # fmt: skip
        self.posts.append(post)
        self.day_remaining -= 1
        self.hour_remaining -= 1
        if self._after_accept:
            return self._after_accept.popleft()
        return Response(
            201,
            {
                "meta": {"status": 201, "msg": "Created"},
                "response": {"id": str(post["id"]), "state": state, "display_text": "Posted"},
            },
            {
                "X-Ratelimit-Perday-Remaining": str(self.day_remaining),
                "X-Ratelimit-Perday-Reset": "86000",
                "X-Ratelimit-Perhour-Remaining": str(self.hour_remaining),
                "X-Ratelimit-Perhour-Reset": "3500",
            },
        )

    @staticmethod
    def _problem(body: Any) -> str:
        if not isinstance(body, dict):
            return "Body must be a JSON object"
        content = body.get("content")
        if not isinstance(content, list) or not content:
            return "content must be a non-empty list of blocks"
        for block in content:
            if not isinstance(block, dict) or block.get("type") not in BLOCK_TYPES:
                return f"Unknown block: {block!r}"
            if block["type"] == "text" and not isinstance(block.get("text"), str):
                return "A text block needs text"
            if block["type"] == "text" and len(block["text"]) > 4096:
                return "A text block holds at most 4096 characters"
            if block["type"] == "link" and not isinstance(block.get("url"), str):
                return "A link block needs a url"
        if sum(block["type"] == "link" for block in content) > 10:
            return "A post holds at most 10 link blocks"
        if body.get("state", "published") not in STATES:
            return f"Unknown state {body.get('state')!r}"
        if not isinstance(body.get("tags", ""), str):
            return "tags must be one comma-separated string"
        return ""

    @staticmethod
    def _invalid(detail: str) -> Response:
        return Response(400, error_body(400, 8001, detail=detail))

    def _store(
        self, blog: str, content: Any, state: str, tags: str, source_url: str, slug: str
    ) -> dict[str, Any]:
        post_id = next(self._ids)
        host = urlsplit(self.blogs[blog]).hostname
        post = {
            "id": post_id,
            "blog": blog,
            "content": content,
            "state": state,
            "tags": tags,
            "source_url": source_url,
            "slug": slug,
            "post_url": f"https://{host}/post/{post_id}" + (f"/{slug}" if slug else ""),
            "timestamp": int(time.time()),
        }
        with self._lock:
            self.store.append(post)
        return post

    def _list(self, request: Request) -> Response:
        assert request.match is not None
        name = self._blog(request.match["blog"])
        if name is None:
            return Response(404, error_body(404))
        states = LISTED[request.match["kind"] or ""]
        # "limit: the number of results to return: 1-20, inclusive"; "offset: post number
        # to start at" (tumblr/docs, api.md, /posts).
        limit = min(int(request.query.get("limit", ["20"])[-1]), 20)
        offset = int(request.query.get("offset", ["0"])[-1])
        mine = [p for p in reversed(self.store) if p["blog"] == name and p["state"] in states]
        posts = [
            {
                "object_type": "post",
                "type": "blocks",
                "id": p["id"],
                "id_string": str(p["id"]),
                "blog_name": name,
                "post_url": p["post_url"],
                "slug": p["slug"],
                "state": p["state"],
                "timestamp": p["timestamp"],
                "tags": [t for t in p["tags"].split(",") if t],
                "content": p["content"],
                **({"source_url": p["source_url"]} if p["source_url"] else {}),
            }
            for p in mine[offset : offset + limit]
        ]
        blog = {"name": name, "url": self.blogs[name]}
        return self._ok({"blog": blog, "posts": posts, "total_posts": len(mine)})

    def _user_info(self, request: Request) -> Response:
        blogs = [
            {"name": name, "url": url, "uuid": f"t:{name}-uuid", "admin": True}
            for name, url in self.blogs.items()
        ]
        return self._ok({"user": {"name": self.user, "blogs": blogs}})

    @staticmethod
    def _ok(response: dict[str, Any]) -> Response:
        return Response(200, {"meta": {"status": 200, "msg": "OK"}, "response": response})
