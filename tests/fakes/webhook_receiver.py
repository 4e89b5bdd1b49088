"""A loopback webhook receiver that checks every delivery as the Standard Webhooks spec
says (standard-webhooks/standard-webhooks, ``spec/standard-webhooks.md``), written from the
spec and not with the sender's signing library, so that the two check each other:

- ``webhook-id``, ``webhook-timestamp`` (integer epoch seconds) and ``webhook-signature`` are
  all there;
- the timestamp is within the tolerance of now (5 minutes, as the reference libraries use);
- one of the space-separated signatures is ``v1,`` + base64 HMAC-SHA256 of
  ``msg_id.timestamp.payload`` under the secret (the bytes after ``whsec_``, base64-decoded),
  compared in constant time;
- a repeated ``webhook-id`` is dropped (answered as before, recorded in ``repeats`` with
  whether its body was the same bytes).

A delivery that fails a check is answered 401 and kept in ``refused`` with why.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import json
import time
from collections import deque
from typing import Any

from tests.fakes.server import FakeServer, Request, Response

TOLERANCE_S = 5 * 60


def expected_signature(secret: str, msg_id: str, timestamp: str, body: bytes) -> str:
    """``v1,`` + base64 HMAC-SHA256 of ``msg_id.timestamp.body`` (the spec's scheme)."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = msg_id.encode() + b"." + timestamp.encode() + b"." + body
    return "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()


class FakeReceiver(FakeServer):
    """One webhook endpoint at ``path``, which wants ``secret``'s signature and, if given,
    these ``headers`` (an ``Authorization`` token)."""

    def __init__(
        self,
        *,
        secret: str,
        path: str = "/hooks/blog",
        headers: dict[str, str] | None = None,
        answer_id: bool = True,
        answer_url: bool = True,
    ) -> None:
        super().__init__()
        self.secret = secret
        self.path = path
        self.wanted_headers = {k.lower(): v for k, v in (headers or {}).items()}
        self.answer_id = answer_id
        self.answer_url = answer_url
        self.head_status = 405  # a POST-only endpoint
        self.accepted: list[dict[str, Any]] = []  # deliveries taken, each once, oldest first
        self.repeats: list[dict[str, Any]] = []  # deliveries dropped as repeats
        self.refused: list[tuple[Request, str]] = []  # deliveries that failed a check
        self._answers: dict[str, Response] = {}  # webhook-id -> the answer it got
        self._ids = itertools.count(1)
        self._next: deque[tuple[str, Response]] = deque()
        self.route("POST", path, self._deliver)
        self.route(
            "HEAD", path, lambda request: Response(self.head_status, headers={"Allow": "POST"})
        )

    def start(self) -> FakeReceiver:
        super().start()
        return self

    def __enter__(self) -> FakeReceiver:
        return self.start()

    # -- builders ----------------------------------------------------------------------
    def fail_next(
        self, status: int, body: Any = None, headers: dict[str, str] | None = None
    ) -> None:
        """Answer the next delivery with ``status``, without taking it."""
        answer = Response(status, body if body is not None else {"error": f"status {status}"})
        answer.headers.update(headers or {})
        self._next.append(("refuse", answer))

    def drop_next(self) -> None:
        """Close the connection on the next delivery, without taking it."""
        self._next.append(("refuse", Response(drop=True)))

    def accept_then_drop_next(self) -> None:
        """Take the next delivery, then close the connection without answering."""
        self._next.append(("accept", Response(drop=True)))

    def delay_next(self, seconds: float) -> None:
        """Take the next delivery, and answer only after ``seconds``."""
        self._next.append(("delay", Response(delay=seconds)))

    def accept_then_fail_next(self, status: int) -> None:
        """Take the next delivery, then answer ``status`` as if it had failed."""
        self._next.append(("accept", Response(status, {"error": f"status {status}"})))

    # -- the endpoint ------------------------------------------------------------------
    def _head(self, request: Request) -> Response:
        return Response(self.head_status, headers={"Allow": "POST"})

    def problem(self, request: Request) -> str:
        """Why ``request`` is not a valid delivery ("" when it is)."""
        msg_id = request.header("webhook-id")
        timestamp = request.header("webhook-timestamp")
        signatures = request.header("webhook-signature")
        if not (msg_id and timestamp and signatures):
            return "missing webhook-id, webhook-timestamp or webhook-signature"
        if not timestamp.isdigit():
            return "webhook-timestamp is not an integer"
        if abs(time.time() - int(timestamp)) > TOLERANCE_S:
            return "webhook-timestamp is too old or too new"
        expected = expected_signature(self.secret, msg_id, timestamp, request.body).encode()
        if not any(hmac.compare_digest(expected, s.encode()) for s in signatures.split(" ")):
            return "no matching signature"
        for name, value in self.wanted_headers.items():
            if not hmac.compare_digest(request.header(name).encode(), value.encode()):
                return f"wrong {name} header"
        if not request.header("content-type").startswith("application/json"):
            return "not application/json"
        return ""

    def _deliver(self, request: Request) -> Response:
        kind, injected = self._next.popleft() if self._next else ("accept", None)
        if kind == "refuse" and injected is not None:
            return injected
        problem = self.problem(request)
        if problem:
            with self._lock:
                self.refused.append((request, problem))
            return Response(401, {"error": problem})
        msg_id = request.header("webhook-id")
        with self._lock:
            if msg_id in self._answers:
                first = next(a for a in self.accepted if a["webhook_id"] == msg_id)
                self.repeats.append(
                    {
                        "webhook_id": msg_id,
                        "body": request.json(),
                        "same_body": request.body == first["raw"],
                    }
                )
                answer = self._answers[msg_id]
            else:
                number = next(self._ids)
                received = {
                    "id": f"rcv_{number}",
                    "webhook_id": msg_id,
                    "timestamp": int(request.header("webhook-timestamp")),
                    "headers": dict(request.headers),
                    "raw": request.body,
                    "body": json.loads(request.body),
                }
                self.accepted.append(received)
                reply: dict[str, Any] = {}
                if self.answer_id:
                    reply["id"] = received["id"]
                if self.answer_url:
                    reply["url"] = f"https://automation.example.org/runs/{received['id']}"
                answer = Response(200, reply) if reply else Response(204)
                self._answers[msg_id] = answer
        if kind == "delay" and injected is not None:
            return Response(answer.status, answer.body, dict(answer.headers), delay=injected.delay)
        if injected is not None:
            return injected
        return answer

    def links(self) -> list[str]:
        """The entry link of every delivery taken (each once)."""
        return [str(a["body"]["data"]["link"]) for a in self.accepted]
