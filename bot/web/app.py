"""The Starlette application: its routes, the body cap, and what every handler shares.

Handlers are coroutines on the server's event loop; anything that reads or writes the
store runs on a worker thread (``Web.run``), at most ``BLOCKING_WORKERS`` at once.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import datetime
from typing import Any, TypeVar

import anyio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from bot.app import App
from bot.loops import Loops
from bot.web import api, pages, websub
from bot.web.guard import SESSION_COOKIE, bearer_ok, session_ok
from bot.web.settings import WebSettings

T = TypeVar("T")

# Bodies larger than this are refused (413) before they are read: forms and JSON actions
# are small. WebSub notifications carry a whole feed: their route allows [bot]
# max_feed_bytes.
MAX_BODY_BYTES = 64 * 1024
BLOCKING_WORKERS = 4


class Web:
    """What the handlers share: the app, the scheduler's loops, the worker threads."""

    def __init__(self, app: App, loops: Loops) -> None:
        self.app = app
        self.loops = loops
        self._limiter: anyio.CapacityLimiter | None = None

    @property
    def settings(self) -> WebSettings:
        """The current ``[web]`` (a reload may change the token)."""
        settings = self.app.config.web
        assert settings is not None, "the web face runs only with [web]"
        return settings

    def now(self) -> datetime:
        return self.app.clock()

    async def run(self, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """``func`` on a worker thread (the store blocks), never more than a few at once."""
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(BLOCKING_WORKERS)
        call = functools.partial(func, *args, **kwargs)
        return await anyio.to_thread.run_sync(call, limiter=self._limiter)

    def logged_in(self, request: Request) -> bool:
        return session_ok(self.settings, request.cookies.get(SESSION_COOKIE), self.now())

    def may_read(self, request: Request) -> bool:
        """Pages and ``GET /api/...``: anyone on a loopback address; else the token, as a
        Bearer header or a login cookie."""
        return (
            self.settings.open_to_read
            or bearer_ok(self.settings, request.headers.get("authorization"))
            or self.logged_in(request)
        )


def make_web_app(app: App, loops: Loops) -> Starlette:
    web = Web(app, loops)
    websub_callback = Route(
        "/websub/{callback_id}",
        websub.endpoint(web),
        methods=["GET", "POST"],
        max_body_size=app.config.bot.max_feed_bytes,  # a notification carries the feed
    )
    routes = [websub_callback, *api.routes(web), *pages.routes(web)]
    return Starlette(routes=routes, max_body_size=MAX_BODY_BYTES)
