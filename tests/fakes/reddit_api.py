"""A loopback fake of the parts of Reddit's API that praw uses to post and to look back.

praw talks to it for real (``oauth_url`` and ``reddit_url`` both point here):

- ``POST /api/v1/access_token``: HTTP basic auth with the app's client id and secret, grant
  ``password`` or ``refresh_token``. Wrong app credentials: 401. Wrong password or refresh
  token: 200 with ``{"error": "invalid_grant"}`` (what Reddit does, and what prawcore
  expects: it raises ``OAuthException`` for an ``error`` key in a 200).
- ``POST /api/submit/``: form-encoded; errors come inside a 200 as
  ``{"json": {"errors": [[TYPE, message, field]]}}``, with Reddit's own strings.
- ``GET /api/v1/me`` and ``GET /user/{name}/submitted``.
- The code flow: ``GET /api/v1/authorize?client_id=...&redirect_uri=...&state=...`` is the
  person's step (signed in, they choose Allow): it answers 302 to ``redirect_uri`` with
  ``state`` and a ``code`` (``deny_next_authorize()``: ``error=access_denied``), and grant
  ``authorization_code`` on the token route trades the code for a refresh token.
- A subreddit's rules: ``GET /api/v1/{sub}/post_requirements`` (``is_flair_required`` ...)
  and ``GET /r/{sub}/about/`` (``submission_type`` ``any``, ``link`` or ``self``); set them
  with ``set_subreddit(...)``, and ``missing_subreddit(name)`` makes one 404.

Every answer carries ``x-ratelimit-remaining/used/reset``. The OAuth routes want
``Authorization: bearer <token>`` and answer 401 with ``www-authenticate`` otherwise.
"""

from __future__ import annotations

import base64
import itertools
import re
import time
from collections import deque
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import urlencode

from tests.fakes.server import FakeServer, Request, Response

# Reddit's own wording for the errors the adapter maps (type -> (message, field)).
API_ERRORS: dict[str, tuple[str, str]] = {
    "RATELIMIT": (
        "Looks like you've been doing that a lot. Take a break for 5 minutes before trying again.",
        "ratelimit",
    ),
    "ALREADY_SUB": ("that link has already been submitted", "url"),
    "SUBMIT_VALIDATION_FLAIR_REQUIRED": ("Your post must contain post flair.", "flair"),
    "NO_LINKS": ("This community only allows text posts.", "sr"),
    "NO_SELFS": ("This community doesn't allow text posts.", "sr"),
    "SUBREDDIT_NOTALLOWED": ("you aren't allowed to post there.", "sr"),
    "DOMAIN_BANNED": ("that domain is banned in this community", "url"),
    "BAD_URL": ("you should check that url", "url"),
    "TOO_LONG": ("this is too long (max: 300)", "title"),
}

# Which requests ``fail_next(..., on=...)`` can target.
ROUTES = {
    "token": "/api/v1/access_token",
    "submit": "/api/submit/",
    "me": "/api/v1/me",
    "submitted": "/user/[^/]+/submitted",
}


def _base36(number: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while number:
        number, rest = divmod(number, 36)
        out = digits[rest] + out
    return out or "0"


def _slug(title: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", title.lower()).strip("_")[:50] or "post"


@dataclass
class _Planned:
    response: Response | None = None  # None: the normal answer
    apply: bool = False  # let the request take effect first, then answer ``response``
    delay: float = 0.0


class FakeReddit(FakeServer):
    """Reddit for one script app and one account that posts to any subreddit."""

    def __init__(
        self,
        *,
        client_id: str = "fr-client-id",
        client_secret: str = "fr-client-secret",
        username: str = "feedrelaybot",
        password: str = "fr-password",
        refresh_token: str = "fr-refresh-token",
        access_token: str = "fr-access-token",
    ) -> None:
        super().__init__()
        self.client_id, self.client_secret = client_id, client_secret
        self.username, self.password = username, password
        self.refresh_token, self.access_token = refresh_token, access_token
        self.submissions: list[dict[str, Any]] = []  # accepted through the API, oldest first
        self.existing: list[dict[str, Any]] = []  # everything the user posted, oldest first
        self.ratelimit_remaining = 599
        self.ratelimit_reset = 300
        self._ids = itertools.count(int("1f0000", 36))
        self._planned: dict[str, deque[_Planned]] = {name: deque() for name in ROUTES}
        self._api_errors: deque[list[list[str]]] = deque()
        self.codes: dict[str, str] = {}  # code -> the redirect uri it was issued for
        self.deny_authorize = False
        self.rules: dict[str, dict[str, Any]] = {}
        self.flair_templates: dict[str, list[tuple[str, str]] | None] = {}
        self.missing: set[str] = set()
        self.route("GET", "/api/v1/authorize", self._authorize)
        self.route("GET", r"/api/v1/(?P<sub>[^/]+)/post_requirements/?", self._post_requirements)
        self.route("GET", r"/r/(?P<sub>[^/]+)/about/?", self._about)
        self.route("GET", r"/r/(?P<sub>[^/]+)/api/link_flair_v2/?", self._link_flair)
        self.route("POST", ROUTES["token"], self._token)
        self.route("POST", ROUTES["submit"], self._submit)
        self.route("GET", ROUTES["me"], self._me)
        self.route("GET", r"/user/(?P<name>[^/]+)/submitted", self._submitted)

    def start(self) -> FakeReddit:
        """Start once: ``with start_fake() as fake`` must not start a second server."""
        if self._httpd is None:
            super().start()
        return self

    def __enter__(self) -> FakeReddit:
        return self.start()

    # -- builders ----------------------------------------------------------------------
    def fail_next_submit(
        self, error_type: str, message: str | None = None, field: str | None = None
    ) -> None:
        """Answer the next submit with HTTP 200 and one Reddit API error (not applied)."""
        known_message, known_field = API_ERRORS.get(error_type, ("", ""))
        self._api_errors.append(
            [[error_type, known_message if message is None else message, field or known_field]]
        )

    def fail_next(
        self,
        status: int,
        body: Any = None,
        headers: dict[str, str] | None = None,
        *,
        on: str = "submit",
        times: int = 1,
    ) -> None:
        """Answer the next ``times`` requests to route ``on`` with ``status`` (not applied)."""
        for _ in range(times):
            self._planned[on].append(_Planned(self._error_response(status, body, headers)))

    def accept_then_fail_next(self, status: int = 500) -> None:
        """Record the next submission, then answer it with ``status`` all the same."""
        self._planned["submit"].append(_Planned(self._error_response(status), apply=True))

    def drop_next(self, *, on: str = "submit") -> None:
        """Close the connection on the next request to ``on`` without applying it."""
        self._planned[on].append(_Planned(Response(drop=True)))

    def delay_next(self, seconds: float, *, on: str = "submit") -> None:
        """Apply the next request to ``on`` as usual but answer it only after ``seconds``."""
        self._planned[on].append(_Planned(delay=seconds))

    def add_existing(
        self,
        *,
        title: str,
        url: str = "",
        selftext: str = "",
        subreddit: str = "feedrelaytest",
        author: str | None = None,
    ) -> dict[str, Any]:
        """Pre-seed a submission the account made earlier (not part of ``submissions``)."""
        form = {"sr": subreddit, "title": title, "kind": "link" if url else "self"}
        form.update({"url": url} if url else {"text": selftext})
        return self._record(form, author=author or self.username, accepted=False)

    def deny_next_authorize(self) -> None:
        """The person chooses Decline on the next authorise page."""
        self.deny_authorize = True

    def set_subreddit(
        self, name: str, *, submission_type: str = "any", flair_required: bool = False
    ) -> None:
        """A subreddit's rules: ``submission_type`` ``any``, ``link`` or ``self``."""
        self.rules[name.lower()] = {
            "submission_type": submission_type,
            "flair_required": flair_required,
        }

    def set_flair_templates(self, name: str, templates: list[tuple[str, str]]) -> None:
        """The subreddit's link-flair templates, as ``(id, text)``."""
        self.flair_templates[name.lower()] = templates

    def refuse_flair_templates(self, name: str) -> None:
        """``link_flair_v2`` answers 403 (a list only some accounts may read)."""
        self.flair_templates[name.lower()] = None

    def _link_flair(self, request: Request) -> Response:
        # GET /r/{sub}/api/link_flair_v2: a JSON list of templates, each with "id", "text",
        # "text_editable", "type", "mod_only", ... (praw's SubredditLinkFlairTemplates; a
        # template as a real answer shows it is quoted in ibid-11962/reddit-post-scheduler#1).
        if not self._authorized(request):
            return self._unauthorized()
        templates = self.flair_templates.get(request.match["sub"].lower(), [])  # type: ignore[index]
        if templates is None:
            return Response(403, {"message": "Forbidden", "error": 403})
        return Response(
            200,
            [
                {
                    "id": flair_id,
                    "text": text,
                    "text_editable": False,
                    "type": "text",
                    "mod_only": False,
                    "allowable_content": "all",
                    "css_class": "",
                    "richtext": [],
                }
                for flair_id, text in templates
            ],
        )

    def missing_subreddit(self, name: str) -> None:
        self.missing.add(name.lower())

    # -- plumbing ----------------------------------------------------------------------
    def _ratelimit_headers(self) -> dict[str, str]:
        used = 600 - self.ratelimit_remaining
        return {
            "x-ratelimit-remaining": f"{float(self.ratelimit_remaining):.1f}",
            "x-ratelimit-used": str(used),
            "x-ratelimit-reset": str(self.ratelimit_reset),
        }

    def _error_response(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> Response:
        if body is None:
            body = {"message": HTTPStatus(status).phrase, "error": status}
        extra = dict(headers or {})
        if status == 429:
            extra = {"x-ratelimit-remaining": "0.0", "x-ratelimit-used": "600", **extra}
        if status == 401:
            extra.setdefault("www-authenticate", 'Bearer realm="reddit", error="invalid_token"')
        return Response(status, body, extra)

    def dispatch(self, request: Request) -> Response:
        response = self._dispatch(request)
        response.headers = {**self._ratelimit_headers(), **response.headers}
        if request.header("Connection").lower() == "close":
            # prawcore's token request asks for it; FakeServer closes such a connection but
            # does not say so, and the client would then reuse the dead connection.
            response.headers["Connection"] = "close"
        return response

    def _dispatch(self, request: Request) -> Response:
        for name, pattern in ROUTES.items():
            if re.fullmatch(pattern, request.path) and self._planned[name]:
                planned = self._planned[name].popleft()
                answer = planned.response
                if answer is None or planned.apply:
                    normal = super().dispatch(request)
                    answer = answer or normal
                answer.delay = planned.delay
                return answer
        return super().dispatch(request)

    def _authorized(self, request: Request) -> bool:
        return request.header("Authorization") == f"bearer {self.access_token}"

    def _unauthorized(self) -> Response:
        return self._error_response(401, {"message": "Unauthorized", "error": 401})

    def _record(self, form: dict[str, str], *, author: str, accepted: bool) -> dict[str, Any]:
        ident = _base36(next(self._ids))
        subreddit = form.get("sr", "")
        permalink = f"/r/{subreddit}/comments/{ident}/{_slug(form.get('title', ''))}/"
        is_self = form.get("kind") == "self"
        submission = {
            "id": ident,
            "name": f"t3_{ident}",
            "kind": form.get("kind", ""),
            "title": form.get("title", ""),
            "url": f"https://www.reddit.com{permalink}" if is_self else form.get("url", ""),
            "selftext": form.get("text", ""),
            "flair_id": form.get("flair_id"),
            "flair_text": form.get("flair_text"),
            "nsfw": form.get("nsfw") == "True",
            "spoiler": form.get("spoiler") == "True",
            "sendreplies": form.get("sendreplies") == "True",
            "resubmit": form.get("resubmit") == "True",
            "subreddit": subreddit,
            "author": author,
            "permalink": permalink,
            "is_self": is_self,
            "created_utc": time.time(),
        }
        self.existing.append(submission)
        if accepted:
            self.submissions.append(submission)
        return submission

    # -- routes ------------------------------------------------------------------------
    def _token(self, request: Request) -> Response:
        expected = base64.b64encode(f"{self.client_id}:{self.client_secret}".encode()).decode()
        if request.header("Authorization") != f"Basic {expected}":
            return self._unauthorized()
        form = request.form()
        grant = form.get("grant_type")
        if grant == "authorization_code":
            issued_for = self.codes.pop(form.get("code", ""), None)
            if issued_for is None or issued_for != form.get("redirect_uri"):
                return Response(200, {"error": "invalid_grant"})
            return Response(
                200,
                {
                    "access_token": self.access_token,
                    "token_type": "bearer",
                    "expires_in": 86400,
                    "refresh_token": self.refresh_token,
                    "scope": form.get("scope", "identity submit read history flair"),
                },
            )
        if grant == "password":
            ok = form.get("username") == self.username and form.get("password") == self.password
        elif grant == "refresh_token":
            ok = form.get("refresh_token") == self.refresh_token
        else:
            return Response(200, {"error": "unsupported_grant_type"})
        if not ok:
            return Response(200, {"error": "invalid_grant"})
        return Response(
            200,
            {
                "access_token": self.access_token,
                "token_type": "bearer",
                "expires_in": 86400,
                "scope": "*",
            },
        )

    def _authorize(self, request: Request) -> Response:
        """The authorise page, after the person chose Allow (or Decline)."""
        query = {k: v[-1] for k, v in request.query.items()}
        if query.get("client_id") != self.client_id:
            return Response(400, "<p>invalid client id</p>", {"Content-Type": "text/html"})
        redirect = query.get("redirect_uri", "")
        if not redirect.startswith("http"):
            return Response(400, "<p>invalid redirect_uri parameter</p>")
        answer = {"state": query.get("state", "")}
        if self.deny_authorize:
            self.deny_authorize = False
            answer["error"] = "access_denied"
        else:
            code = f"code-{len(self.codes) + 1}-Zr8"
            self.codes[code] = redirect
            answer["code"] = code
        return Response(302, b"", {"Location": f"{redirect}?{urlencode(answer)}"})

    def _rules(self, name: str) -> dict[str, Any]:
        return self.rules.get(name.lower(), {"submission_type": "any", "flair_required": False})

    def _post_requirements(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        assert request.match is not None
        name = request.match["sub"]
        if name.lower() in self.missing:
            return Response(404, {"message": "Not Found", "error": 404})
        return Response(
            200,
            {
                "title_regexes": [],
                "body_blacklisted_strings": [],
                "title_blacklisted_strings": [],
                "body_text_max_length": None,
                "title_required_strings": [],
                "guidelines_text": None,
                "gallery_min_items": None,
                "domain_blacklist": [],
                "domain_whitelist": [],
                "title_text_max_length": None,
                "body_restriction_policy": "none",
                "link_restriction_policy": "none",
                "guidelines_display_policy": None,
                "body_required_strings": [],
                "title_text_min_length": None,
                "gallery_captions_requirement": "none",
                "is_flair_required": self._rules(name)["flair_required"],
                "gallery_max_items": None,
                "gallery_urls_requirement": "none",
                "body_regexes": [],
                "link_repost_age": None,
                "body_text_min_length": None,
            },
        )

    def _about(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        assert request.match is not None
        name = request.match["sub"]
        if name.lower() in self.missing:
            return Response(404, {"message": "Not Found", "error": 404})
        data = {
            "display_name": name,
            "display_name_prefixed": f"r/{name}",
            "name": "t5_2qh0y",
            "id": "2qh0y",
            "subreddit_type": "public",
            "submission_type": self._rules(name)["submission_type"],
            "user_is_banned": False,
            "over18": False,
        }
        return Response(200, {"kind": "t5", "data": data})

    def _submit(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        form = request.form()
        errors: list[list[str]] = []
        if self._api_errors:
            errors = self._api_errors.popleft()
        elif form.get("flair_text") and not form.get("flair_id"):
            # Reddit needs flair_id whenever flair_text is sent, and answers a bare 400
            # otherwise (praw's submit docstring; praw-dev/asyncpraw#66).
            return Response(400, b"")
        elif len(form.get("title", "")) > 300:
            errors = [["TOO_LONG", *API_ERRORS["TOO_LONG"]]]
        elif form.get("kind") == "link" and form.get("resubmit") != "True" and self._already(form):
            errors = [["ALREADY_SUB", *API_ERRORS["ALREADY_SUB"]]]
        if errors:
            return Response(200, {"json": {"errors": errors}})
        submission = self._record(form, author=self.username, accepted=True)
        data = {
            "url": f"https://www.reddit.com{submission['permalink']}",
            "drafts_count": 0,
            "id": submission["id"],
            "name": submission["name"],
        }
        return Response(200, {"json": {"errors": [], "data": data}})

    def _already(self, form: dict[str, str]) -> bool:
        return any(
            s["kind"] == "link"
            and s["url"] == form.get("url")
            and s["subreddit"].lower() == form.get("sr", "").lower()
            for s in self.existing
        )

    def _me(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        return Response(
            200,
            {
                "name": self.username,
                "id": "1abcde",
                "created_utc": 1_700_000_000.0,
                "link_karma": 1,
                "comment_karma": 0,
                "is_suspended": False,
                "has_verified_email": True,
            },
        )

    def _submitted(self, request: Request) -> Response:
        if not self._authorized(request):
            return self._unauthorized()
        assert request.match is not None
        name = request.match["name"]
        # "limit: the maximum number of items desired (default: 25, maximum: 100)"
        # (reddit.com/dev/api, listings).
        limit = min(int(request.query.get("limit", ["25"])[-1]), 100)
        mine = [s for s in reversed(self.existing) if s["author"].lower() == name.lower()]
        children = [{"kind": "t3", "data": self._listed(s)} for s in mine[:limit]]
        return Response(
            200,
            {
                "kind": "Listing",
                "data": {
                    "after": None,
                    "before": None,
                    "dist": len(children),
                    "children": children,
                },
            },
        )

    @staticmethod
    def _listed(submission: dict[str, Any]) -> dict[str, Any]:
        return {
            "id": submission["id"],
            "name": submission["name"],
            "title": submission["title"],
            "url": submission["url"],
            "selftext": submission["selftext"],
            "is_self": submission["is_self"],
            "subreddit": submission["subreddit"],
            "subreddit_name_prefixed": f"r/{submission['subreddit']}",
            "permalink": submission["permalink"],
            "author": submission["author"],
            "over_18": submission["nsfw"],
            "spoiler": submission["spoiler"],
            "link_flair_template_id": submission["flair_id"],
            "created_utc": submission["created_utc"],
        }
