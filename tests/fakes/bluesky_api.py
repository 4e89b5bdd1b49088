"""A loopback fake of a Bluesky PDS: the XRPC methods FeedRelay uses, answered as the real
one answers them. Where each behaviour comes from (bluesky-social/atproto, at the commit the
lexicons were read from):

- ``com.atproto.server.createSession``: ``lexicons/com/atproto/server/createSession.json``;
  a wrong password is 401 ``AuthenticationRequired`` "Invalid identifier or password"
  (``packages/pds/src/account-manager/account-manager.ts``); logins are rate limited per
  account (30 per 5 minutes, 300 a day: ``api/com/atproto/server/createSession.ts``), a 429
  ``RateLimitExceeded`` with ``RateLimit-Limit/-Remaining/-Reset/-Policy`` and
  ``Retry-After`` (``packages/xrpc-server/src/rate-limiter-http.ts``). The answer carries the
  account's DID document, whose ``#atproto_pds`` service names the PDS (this fake).
- ``com.atproto.server.refreshSession``: the refresh JWT as bearer; the token is rotated on
  every refresh (``account-manager.ts`` ``rotateRefreshToken``). A rotated token is refused
  with 400 ``ExpiredToken`` "Token has been revoked" (``refreshSession.ts``). The real PDS
  still honours a rotated token for a 2-hour grace period (``REFRESH_GRACE_MS``); the fake
  does not, so that a second refresh with one token shows up in a test.
- Access tokens: a JWT whose ``exp`` is ``access_ttl`` from issue (120 minutes by default,
  ``helpers/auth.ts``); an expired one is 400 ``ExpiredToken`` "Token has expired", an
  unknown one 400 ``InvalidToken`` "Token could not be verified", none 401
  ``AuthMissing`` (``packages/pds/src/auth-verifier.ts``).
- ``com.atproto.server.getSession``: handle, DID, ``active`` (``getSession.ts``).
- ``com.atproto.repo.uploadBlob``: any bytes; the blob ref is ``{$type: blob, ref: {$link},
  mimeType, size}`` (``uploadBlob.json``).
- ``com.atproto.repo.createRecord``: the record validated as the lexicons say
  (``app/bsky/feed/post.json``: text at most 300 graphemes and 3,000 bytes, ``createdAt``,
  ``langs`` at most 3; ``richtext/facet.json``: byte slices; ``embed/external.json``: the
  thumb's ``maxSize`` 1,000,000, refused as 400 ``BlobTooLarge`` "This file is too large..."
  (``actor-store/blob/transactor.ts`` before #4408)); an invalid record is 400
  ``InvalidRequest`` "Invalid app.bsky.feed.post record: ..." (``repo/prepare.ts``). The key
  of a post must be a TID (``"key": "tid"``). An existing key is answered 500
  ``InternalServerError`` "Internal Server Error" (issue #3718, #4725), the record untouched.
  A create costs 3 points of 5,000 an hour (``createRecord.ts``), shown in the headers.
- ``com.atproto.repo.getRecord``: the record, or 400 ``RecordNotFound`` "Could not locate
  record: URI" (``getRecord.ts``); ``listRecords``: newest key first, ``limit``, ``cursor``.
"""

from __future__ import annotations

import base64
import hashlib
import itertools
import json
import re
import sys
import time
from collections import deque
from typing import Any

import regex

from tests.fakes.server import FakeServer, Request, Response

POST = "app.bsky.feed.post"
TID = re.compile(r"[234567abcdefghij][234567abcdefghijklmnopqrstuvwxyz]{12}")
ACCESS_TTL_S = 120 * 60
THUMB_MAX_SIZE = 1_000_000
HOUR_POINTS = 5000
CREATE_POINTS = 3
LOGINS_PER_5_MIN = 30
CREATE = "com.atproto.repo.createRecord"


def xrpc_error(
    status: int, error: str, message: str = "", headers: dict[str, str] | None = None
) -> Response:
    body: dict[str, Any] = {"error": error}
    if message:
        body["message"] = message
    return Response(status, body, dict(headers or {}))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _cid(data: bytes) -> str:
    """A CID-looking string (base32 of a sha256), unique per content."""
    return (
        "bafyrei"
        + base64.b32encode(hashlib.sha256(data).digest()).decode().lower().rstrip("=")[:52]
    )


class FakeBluesky(FakeServer):
    """One account on one PDS (this fake), reached at ``url``."""

    def __init__(
        self,
        *,
        handle: str = "feedrelay.bsky.social",
        did: str = "did:plc:feedrelaytest2bsky7kq3",
        app_password: str = "abcd-efgh-ijkl-mnop",
        access_ttl: float = ACCESS_TTL_S,
        login_limit: int = LOGINS_PER_5_MIN,
    ) -> None:
        super().__init__()
        self.handle, self.did, self.app_password = handle, did, app_password
        self.access_ttl = access_ttl
        self.login_limit = login_limit
        self.active = True
        self.records: dict[str, dict[str, Any]] = {}  # rkey -> {uri, cid, value}
        self.created: list[dict[str, Any]] = []  # accepted through createRecord, oldest first
        self.blobs: dict[str, dict[str, Any]] = {}  # cid -> {mimeType, size, data}
        self.logins = 0
        self.refreshes: list[str] = []  # the refresh tokens used, in order
        self.access_tokens: dict[str, float] = {}  # token -> exp (epoch seconds)
        self.refresh_tokens: dict[str, bool] = {}  # token -> still good
        self.hour_remaining = HOUR_POINTS
        self._ids = itertools.count(1)
        self._next: deque[tuple[str, Response]] = deque()  # (method, answer)
        self._after_accept: deque[Response] = deque()
        base = r"/xrpc/"
        self.route("POST", base + r"com\.atproto\.server\.createSession", self._create_session)
        self.route("POST", base + r"com\.atproto\.server\.refreshSession", self._refresh_session)
        self.route("GET", base + r"com\.atproto\.server\.getSession", self._get_session)
        self.route("POST", base + r"com\.atproto\.repo\.uploadBlob", self._upload_blob)
        self.route("POST", base + r"com\.atproto\.repo\.createRecord", self._create_record)
        self.route("GET", base + r"com\.atproto\.repo\.getRecord", self._get_record)
        self.route("GET", base + r"com\.atproto\.repo\.listRecords", self._list_records)

    def start(self) -> FakeBluesky:
        if self._httpd is None:
            super().start()
            assert self._httpd is not None
            report = self._httpd.handle_error

            def handle_error(request: Any, client_address: Any) -> None:
                if not isinstance(sys.exc_info()[1], ConnectionError):
                    report(request, client_address)

            self._httpd.handle_error = handle_error  # type: ignore[method-assign]
        return self

    def __enter__(self) -> FakeBluesky:
        return self.start()

    # -- builders ----------------------------------------------------------------------
    def fail_next(
        self,
        status: int,
        error: str = "",
        message: str = "",
        *,
        method: str = CREATE,
        headers: dict[str, str] | None = None,
        body: Any = None,
    ) -> None:
        """Answer the next call of ``method`` with Bluesky's error (``body`` replaces it)."""
        answer = (
            Response(status, body, dict(headers or {}))
            if body is not None
            else xrpc_error(status, error or "InternalServerError", message, headers)
        )
        self._next.append((method, answer))

    def drop_next(self, method: str = CREATE) -> None:
        self._next.append((method, Response(drop=True)))

    def delay_next(self, seconds: float, method: str = CREATE) -> None:
        self._next.append((method, Response(delay=seconds, status=-1)))

    def accept_then_fail_next(self, status: int = 500, error: str = "InternalServerError") -> None:
        """Create the next record, then answer with an error as if it had failed."""
        self._after_accept.append(xrpc_error(status, error, "Internal Server Error"))

    def add_existing(self, rkey: str, text: str = "made by hand", link: str = "") -> dict[str, Any]:
        """A post in the repository that did not come through this fake's API."""
        value: dict[str, Any] = {
            "$type": POST,
            "text": text,
            "createdAt": "2025-06-01T00:00:00.000Z",
        }
        if link:
            value["embed"] = {
                "$type": "app.bsky.embed.external",
                "external": {"uri": link, "title": "", "description": ""},
            }
        return self._store(rkey, value)

    def expire_access_tokens(self) -> None:
        """Every access token given out so far expires now."""
        for token in self.access_tokens:
            self.access_tokens[token] = 0

    def revoke_refresh_tokens(self) -> None:
        for token in self.refresh_tokens:
            self.refresh_tokens[token] = False

    # -- dispatch -----------------------------------------------------------------------
    def dispatch(self, request: Request) -> Response:
        method = request.path.removeprefix("/xrpc/")
        for index, (wanted, answer) in enumerate(self._next):
            if wanted == method:
                del self._next[index]
                if answer.status == -1:  # delay only
                    response = super().dispatch(request)
                    response.delay = answer.delay
                    return response
                return answer
        return super().dispatch(request)

    # -- sessions -----------------------------------------------------------------------
    def _jwt(self, scope: str, ttl: float) -> tuple[str, float]:
        now = time.time()
        exp = now + ttl
        header = _b64(json.dumps({"typ": "at+jwt", "alg": "ES256K"}).encode())
        claims = {"scope": scope, "sub": self.did, "aud": "did:web:fake.pds", "iat": int(now),
                  "exp": int(exp), "jti": f"{scope}-{next(self._ids)}"}  # fmt: skip
        payload = _b64(json.dumps(claims).encode())
        return f"{header}.{payload}.{_b64(hashlib.sha256(payload.encode()).digest())}", exp

    def _session_body(self) -> dict[str, Any]:
        access, exp = self._jwt("com.atproto.appPass", self.access_ttl)
        refresh, _ = self._jwt("com.atproto.refresh", 90 * 86400)
        self.access_tokens[access] = exp
        self.refresh_tokens[refresh] = True
        return {
            "accessJwt": access,
            "refreshJwt": refresh,
            "handle": self.handle,
            "did": self.did,
            "didDoc": self._did_doc(),
            "email": "bot@example.org",
            "emailConfirmed": True,
            "active": self.active,
        }

    def _did_doc(self) -> dict[str, Any]:
        return {
            "@context": ["https://www.w3.org/ns/did/v1"],
            "id": self.did,
            "alsoKnownAs": [f"at://{self.handle}"],
            "service": [
                {
                    "id": "#atproto_pds",
                    "type": "AtprotoPersonalDataServer",
                    "serviceEndpoint": self.url,
                }
            ],
        }

    def _create_session(self, request: Request) -> Response:
        body = request.json() or {}
        identifier = str(body.get("identifier", "")).lower()
        if self.logins >= self.login_limit:
            reset = int(time.time()) + 300
            headers = {
                "RateLimit-Limit": str(self.login_limit),
                "RateLimit-Remaining": "0",
                "RateLimit-Reset": str(reset),
                "RateLimit-Policy": f"{self.login_limit};w=300",
                "Retry-After": "300",
            }
            return xrpc_error(429, "RateLimitExceeded", "Rate Limit Exceeded", headers)
        self.logins += 1
        if identifier not in (self.handle, self.did) or body.get("password") != self.app_password:
            return xrpc_error(401, "AuthenticationRequired", "Invalid identifier or password")
        return Response(200, self._session_body())

    def _bearer(self, request: Request) -> str:
        header = request.header("Authorization")
        return header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""

    def _refresh_session(self, request: Request) -> Response:
        token = self._bearer(request)
        if not token:
            return xrpc_error(401, "AuthMissing", "Authentication Required")
        self.refreshes.append(token)
        if token not in self.refresh_tokens:
            return xrpc_error(400, "InvalidToken", "Token could not be verified")
        if not self.refresh_tokens[token]:
            return xrpc_error(400, "ExpiredToken", "Token has been revoked")
        self.refresh_tokens[token] = False
        return Response(200, self._session_body())

    def _refused(self, request: Request) -> Response | None:
        token = self._bearer(request)
        if not token:
            return xrpc_error(401, "AuthMissing", "Authentication Required")
        if token not in self.access_tokens:
            return xrpc_error(400, "InvalidToken", "Token could not be verified")
        if self.access_tokens[token] <= time.time():
            return xrpc_error(400, "ExpiredToken", "Token has expired")
        return None

    def _get_session(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = {
            "handle": self.handle,
            "did": self.did,
            "didDoc": self._did_doc(),
            "email": "bot@example.org",
            "emailConfirmed": True,
            "active": self.active,
        }
        if not self.active:
            body["status"] = "deactivated"
        return Response(200, body)

    # -- the repository -----------------------------------------------------------------
    def _upload_blob(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        mime = request.header("Content-Type") or "application/octet-stream"
        cid = _cid(request.body)
        self.blobs[cid] = {"mimeType": mime, "size": len(request.body), "data": request.body}
        return Response(
            200,
            {
                "blob": {
                    "$type": "blob",
                    "ref": {"$link": cid},
                    "mimeType": mime,
                    "size": len(request.body),
                }
            },
        )

    def _create_record(self, request: Request) -> Response:
        refused = self._refused(request)
        if refused is not None:
            return refused
        body = request.json()
        if not isinstance(body, dict) or not {"repo", "collection", "record"} <= set(body):
            return xrpc_error(
                400, "InvalidRequest", "Input must have the properties repo, collection, record"
            )
        if body["repo"] not in (self.did, self.handle):
            return xrpc_error(401, "AuthenticationRequired", "Authentication Required")
        record = body["record"]
        rkey = body.get("rkey") or self._next_tid()
        if (
            body["collection"] != POST
            or not isinstance(record, dict)
            or record.get("$type") != POST
        ):
            return xrpc_error(400, "InvalidRequest", "Invalid $type: expected app.bsky.feed.post")
        if not TID.fullmatch(rkey):
            return xrpc_error(
                400, "InvalidRequest", f"Invalid record key for {POST}: must be a TID"
            )
        problem = self._problem(record)
        if problem:
            status, error, message = problem
            return xrpc_error(status, error, message)
        if rkey in self.records:
            # bluesky-social/atproto#3718, #4725: an existing key is a bare 500.
            return xrpc_error(500, "InternalServerError", "Internal Server Error")
        stored = self._store(rkey, record)
        self.created.append({"id": stored["uri"], **stored})
        self.hour_remaining -= CREATE_POINTS
        if self._after_accept:
            return self._after_accept.popleft()
        answer = {
            "uri": stored["uri"],
            "cid": stored["cid"],
            "commit": {"cid": _cid(stored["cid"].encode()), "rev": rkey},
            "validationStatus": "valid",
        }
        headers = {
            "RateLimit-Limit": str(HOUR_POINTS),
            "RateLimit-Remaining": str(self.hour_remaining),
            "RateLimit-Reset": str(int(time.time()) + 3600),
            "RateLimit-Policy": f"{HOUR_POINTS};w=3600",
        }
        return Response(200, answer, headers)

    def _problem(self, record: dict[str, Any]) -> tuple[int, str, str] | None:
        def invalid(what: str) -> tuple[int, str, str]:
            return 400, "InvalidRequest", f"Invalid {POST} record: {what}"

        text = record.get("text")
        if not isinstance(text, str):
            return invalid("Record/text must be a string")
        if len(text.encode()) > 3000:
            return invalid("Record/text must not be longer than 3000 characters")
        if len(regex.findall(r"\X", text)) > 300:
            return invalid("Record/text must not be longer than 300 graphemes")
        if not isinstance(record.get("createdAt"), str):
            return invalid('Record must have the property "createdAt"')
        langs = record.get("langs", [])
        if not isinstance(langs, list) or len(langs) > 3:
            return invalid("Record/langs must not have more than 3 elements")
        size = len(text.encode())
        for facet in record.get("facets") or []:
            index = facet.get("index", {})
            start, end = index.get("byteStart"), index.get("byteEnd")
            if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end <= size):
                return invalid("Record/facets/index must be a byte slice of the text")
            for feature in facet.get("features") or []:
                kind = feature.get("$type")
                if kind not in ("app.bsky.richtext.facet#link", "app.bsky.richtext.facet#tag",
                                "app.bsky.richtext.facet#mention"):  # fmt: skip
                    return invalid(f"Record/facets/features has an unknown type {kind}")
                if kind.endswith("#tag") and len(regex.findall(r"\X", feature.get("tag", ""))) > 64:
                    return invalid(
                        "Record/facets/features/tag must not be longer than 64 graphemes"
                    )
        embed = record.get("embed")
        if embed is not None:
            if embed.get("$type") != "app.bsky.embed.external":
                return invalid("Record/embed: only app.bsky.embed.external in this fake")
            external = embed.get("external") or {}
            if not all(isinstance(external.get(k), str) for k in ("uri", "title", "description")):
                return invalid(
                    'Record/embed/external must have the properties "uri", "title", "description"'
                )
            thumb = external.get("thumb")
            if thumb is not None:
                cid = (thumb.get("ref") or {}).get("$link")
                blob = self.blobs.get(cid)
                if blob is None:
                    return 400, "InvalidRequest", f"Could not find blob: {cid}"
                if blob["size"] > THUMB_MAX_SIZE:
                    size = f"{blob['size'] / 1e6:.2f}MB"
                    why = f"This file is too large. It is {size} but the maximum size is 1MB."
                    return 400, "BlobTooLarge", why
                if not str(blob["mimeType"]).startswith("image/"):
                    return (
                        400,
                        "InvalidMimeType",
                        f"Wrong type of file. It is {blob['mimeType']} but it must match image/*.",
                    )
        return None

    def _next_tid(self) -> str:
        """A TID the PDS picks when the client gives no key (the TID syntax spec)."""
        value = ((time.time_ns() // 1000 + next(self._ids)) << 10) | 7
        alphabet = "234567abcdefghijklmnopqrstuvwxyz"
        return "".join(alphabet[(value >> shift) & 31] for shift in range(60, -1, -5))

    def _store(self, rkey: str, value: dict[str, Any]) -> dict[str, Any]:
        uri = f"at://{self.did}/{POST}/{rkey}"
        stored = {
            "uri": uri,
            "cid": _cid(json.dumps(value, sort_keys=True).encode()),
            "value": value,
        }
        with self._lock:
            self.records[rkey] = stored
        return stored

    def _get_record(self, request: Request) -> Response:
        query = {k: v[-1] for k, v in request.query.items()}
        missing = [k for k in ("repo", "collection", "rkey") if not query.get(k)]
        if missing:
            return xrpc_error(
                400, "InvalidRequest", f'Params must have the property "{missing[0]}"'
            )
        uri = f"at://{query['repo']}/{query['collection']}/{query['rkey']}"
        found = self.records.get(query["rkey"])
        if (
            query["repo"] not in (self.did, self.handle)
            or query["collection"] != POST
            or found is None
        ):
            return xrpc_error(400, "RecordNotFound", f"Could not locate record: {uri}")
        return Response(200, found)

    def _list_records(self, request: Request) -> Response:
        query = {k: v[-1] for k, v in request.query.items()}
        limit = int(query.get("limit", "50"))
        keys = sorted(self.records, reverse=True)
        if query.get("cursor"):
            keys = [k for k in keys if k < query["cursor"]]
        page = keys[:limit]
        body: dict[str, Any] = {"records": [self.records[k] for k in page]}
        if len(keys) > limit:
            body["cursor"] = page[-1]
        return Response(200, body)
