"""A loopback endpoint for the example echo platform (``examples/plugin-echo``).

The echo "service" is defined by that example itself (its client's docstring): ``POST``
a JSON post with ``Authorization: Bearer TOKEN`` answers ``{"id", "url"}``; ``GET ?link=``
lists the posts with that link; ``GET ?whoami=1`` names the account. This fake is that
service, with failures to arrange, as the other fakes have.
"""

from __future__ import annotations

import itertools
import threading
from typing import Any

from tests.fakes.server import FakeServer, Request, Response

PATH = "/hooks/posts"


class FakeEcho(FakeServer):
    def __init__(self, *, token: str, account: str = "echo-user") -> None:
        super().__init__()
        self.token = token
        self.account = account
        self.posts: list[dict[str, Any]] = []
        self._ids = itertools.count(1001)
        self._next: list[tuple[Response, bool]] = []
        self._state = threading.Lock()
        self.route("POST", PATH, self._create)
        self.route("GET", PATH, self._read)

    @property
    def endpoint(self) -> str:
        return self.url + PATH

    def fail_next(self, status: int, headers: dict[str, str] | None = None) -> None:
        """The next post is answered ``status`` (nothing created)."""
        body = {"error": f"refused with {status}"}
        self._next.append((Response(status, body, headers or {}), False))

    def delay_next(self, seconds: float) -> None:
        """The next post is created, and answered only after ``seconds``."""
        self._next.append((Response(delay=seconds), True))

    def drop_next(self) -> None:
        """The next post is created, and its connection closed without an answer."""
        self._next.append((Response(drop=True), True))

    def _refused(self, request: Request) -> Response | None:
        if request.header("authorization") != f"Bearer {self.token}":
            return Response(401, {"error": "bad token"})
        return None

    def _create(self, request: Request) -> Response:
        if (refused := self._refused(request)) is not None:
            return refused
        with self._state:
            injected, create = self._next.pop(0) if self._next else (None, True)
            if not create and injected is not None:
                return injected
            body = request.json()
            number = next(self._ids)
            post = {
                "id": str(number),
                "url": f"{self.url}/p/{number}",
                "text": body["text"],
                "link": body["link"],
                "title": body["title"],
            }
            self.posts.append(post)
        created = Response(201, {"id": post["id"], "url": post["url"]})
        if injected is not None:
            created.delay, created.drop = injected.delay, injected.drop
        return created

    def _read(self, request: Request) -> Response:
        if (refused := self._refused(request)) is not None:
            return refused
        if request.query.get("whoami"):
            return Response(200, {"account": self.account})
        link = (request.query.get("link") or [""])[-1]
        with self._state:
            found = [post for post in self.posts if post["link"] == link]
        return Response(200, {"posts": found})
