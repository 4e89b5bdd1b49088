"""uvicorn serving the web face on a thread of its own, beside the scheduler.

The socket is bound before anything else starts, so that a port in use is a clear error at
start-up, not a line in a log. The server has its own event loop on its own thread, and
reads the store from a small pool of worker threads (``app.BLOCKING_WORKERS``): however
many requests arrive, the scheduler's ticks keep their connections to the store.
"""

from __future__ import annotations

import logging
import socket
import threading
import time

import uvicorn

from bot.app import App
from bot.errors import ConfigError
from bot.loops import Loops
from bot.web.app import make_web_app
from bot.web.settings import WebSettings

log = logging.getLogger(__name__)

STARTUP_WAIT_S = 10.0
STOP_WAIT_S = 10.0


class WebServer:
    """``start()`` binds and serves; ``stop()`` finishes the requests in flight and ends."""

    def __init__(self, app: App, loops: Loops, settings: WebSettings) -> None:
        self.app = app
        self.loops = loops
        self.settings = settings
        self._socket: socket.socket | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def address(self) -> tuple[str, int]:
        """Where it listens (the port the system chose, for ``listen = "...:0"``)."""
        assert self._socket is not None, "not started"
        host, port = self._socket.getsockname()[:2]
        return str(host), int(port)

    def start(self) -> None:
        host, port = self.settings.address
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        try:
            self._socket = socket.create_server((host, port), family=family, backlog=128)
        except OSError as error:
            raise ConfigError(
                [f"web.listen: cannot listen on {self.settings.listen}: {error.strerror or error}"]
            ) from None
        config = uvicorn.Config(
            make_web_app(self.app, self.loops),
            lifespan="off",
            ws="none",
            log_config=None,
            access_log=False,
            server_header=False,
            timeout_graceful_shutdown=int(STOP_WAIT_S),
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(
            target=self._server.run,
            kwargs={"sockets": [self._socket]},
            name="web",
            daemon=True,
        )
        self._thread.start()
        deadline = time.monotonic() + STARTUP_WAIT_S
        while not self._server.started and self._thread.is_alive():
            if time.monotonic() > deadline:
                break
            time.sleep(0.01)
        shown_host = f"[{host}]" if ":" in host else host
        log.info("web: serving on http://%s:%d", shown_host, self.address[1])

    def stop(self) -> None:
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(STOP_WAIT_S)
        if self._thread.is_alive():
            self._server.force_exit = True
            self._thread.join(STOP_WAIT_S)
        if self._socket is not None:
            self._socket.close()
        self._server = None
        self._thread = None
        log.info("web: stopped")
