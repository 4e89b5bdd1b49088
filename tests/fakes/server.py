"""A tiny loopback HTTP server that fake platforms build on.

Each fake registers routes; every request it receives is recorded so tests can assert on
exactly what the real client library sent. Only loopback is ever bound: 127.0.0.1, or
``FakeServer(host="::1")``.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import ssl
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass
class Request:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: bytes
    match: re.Match[str] | None = None

    def json(self) -> Any:
        return json.loads(self.body or b"null")

    def form(self) -> dict[str, str]:
        return {k: v[-1] for k, v in parse_qs(self.body.decode(), keep_blank_values=True).items()}

    def header(self, name: str) -> str:
        return self.headers.get(name.lower(), "")


@dataclass
class Response:
    status: int = 200
    body: bytes | str | dict[str, Any] | list[Any] = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Close the connection without answering: the client sees a dropped request.
    drop: bool = False
    # Sleep before answering (seconds): lets a test force a client read timeout.
    delay: float = 0.0
    # Send the body one byte at a time, this many seconds apart: a slow-drip server that
    # never trips a per-read timeout.
    drip: float = 0.0

    def encoded(self) -> tuple[bytes, dict[str, str]]:
        headers = dict(self.headers)
        if isinstance(self.body, (dict, list)):
            headers.setdefault("Content-Type", "application/json; charset=utf-8")
            return json.dumps(self.body).encode(), headers
        if isinstance(self.body, str):
            headers.setdefault("Content-Type", "text/plain; charset=utf-8")
            return self.body.encode(), headers
        return self.body, headers


Handler = Callable[[Request], Response]


class _QuietServer(ThreadingHTTPServer):
    """Tracks its connections so that stopping it also ends keep-alive connections."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.connections: set[socket.socket] = set()

    def process_request(self, request: Any, client_address: Any) -> None:
        self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        self.connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        for connection in list(self.connections):
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (a timeout test) has gone before the answer: expected.
        if not isinstance(sys.exc_info()[1], (BrokenPipeError, ConnectionResetError)):
            super().handle_error(request, client_address)


class FakeServer:
    """Routes + request log on a threaded loopback server. Use as a context manager."""

    def __init__(self, host: str = "127.0.0.1", *, tls: ssl.SSLContext | None = None) -> None:
        assert host in ("127.0.0.1", "::1"), "fakes listen on loopback only"
        self.host = host
        self.tls = tls  # a server-side context: HTTPS
        self.requests: list[Request] = []
        # Body bytes written by dripping answers (``Response.drip``) before the client left.
        self.dripped = 0
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._holds: list[tuple[str, re.Pattern[str], threading.Event]] = []
        self._lock = threading.Lock()
        self._httpd: _QuietServer | None = None
        self._thread: threading.Thread | None = None

    # -- routing -----------------------------------------------------------------------
    def route(self, method: str, pattern: str, handler: Handler) -> None:
        self._routes.append((method.upper(), re.compile(pattern + r"\Z"), handler))

    def dispatch(self, request: Request) -> Response:
        for method, pattern, handler in self._routes:
            match = pattern.match(request.path)
            if match and method == request.method:
                request.match = match
                return handler(request)
        return Response(404, {"error": "not found", "path": request.path})

    def hold_next(self, method: str, path_pattern: str) -> threading.Event:
        """The next such request is logged when it arrives but reaches the platform only
        once the returned event is set: a request still on its way in (a slow network),
        which the platform knows nothing of yet."""
        gate = threading.Event()
        with self._lock:
            self._holds.append((method.upper(), re.compile(path_pattern + r"\Z"), gate))
        return gate

    def _gate_for(self, request: Request) -> threading.Event | None:
        with self._lock:
            for hold in self._holds:
                method, pattern, gate = hold
                if method == request.method and pattern.match(request.path):
                    self._holds.remove(hold)
                    return gate
        return None

    # -- lifecycle ---------------------------------------------------------------------
    @property
    def url(self) -> str:
        assert self._httpd is not None, "server not started"
        host, port = self._httpd.server_address[:2]
        scheme = "https" if self.tls is not None else "http"
        return f"{scheme}://[{host}]:{port}" if ":" in str(host) else f"{scheme}://{host}:{port}"

    @property
    def port(self) -> int:
        assert self._httpd is not None, "server not started"
        return int(self._httpd.server_address[1])

    def start(self) -> FakeServer:
        """Start serving; starting a running server does nothing."""
        if self._httpd is not None:
            return self
        fake = self

        class _Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            # The headers and the body go out in two writes; with Nagle's algorithm on, the
            # body waits for the client's ACK of the headers, which Linux delays by 40 ms on
            # a keep-alive connection. A platform's server answers at once (TCP_NODELAY).
            disable_nagle_algorithm = True

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                parts = urlsplit(self.path)
                request = Request(
                    method=self.command,
                    path=parts.path,
                    query=parse_qs(parts.query, keep_blank_values=True),
                    headers={k.lower(): v for k, v in self.headers.items()},
                    body=body,
                )
                with fake._lock:
                    fake.requests.append(request)
                gate = fake._gate_for(request)
                if gate is not None:
                    gate.wait(60)
                response = fake.dispatch(request)
                if response.delay:
                    threading.Event().wait(response.delay)
                if response.drop:
                    self.close_connection = True
                    self.connection.shutdown(2)
                    return
                payload, headers = response.encoded()
                self.send_response(response.status)
                for name, value in headers.items():
                    self.send_header(name, value)
                if request.header("connection").lower() == "close":
                    self.send_header("Connection", "close")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                if not response.drip:
                    self.wfile.write(payload)
                    return
                for index in range(len(payload)):
                    try:
                        self.wfile.write(payload[index : index + 1])
                        self.wfile.flush()
                    except OSError:  # the client gave up
                        self.close_connection = True
                        return
                    with fake._lock:
                        fake.dripped += 1
                    threading.Event().wait(response.drip)

            do_GET = do_POST = do_PUT = do_DELETE = do_HEAD = _handle

            def log_message(self, format: str, *args: Any) -> None:
                pass

        server_class = _QuietServer
        if ":" in self.host:

            class _QuietServer6(_QuietServer):
                address_family = socket.AF_INET6

            server_class = _QuietServer6
        self._httpd = server_class((self.host, 0), _Handler)
        if self.tls is not None:
            self._httpd.socket = self.tls.wrap_socket(self._httpd.socket, server_side=True)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.close_connections()
            self._httpd.server_close()
            self._httpd = None

    def __enter__(self) -> FakeServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def requests_to(self, method: str, path_pattern: str) -> list[Request]:
        pattern = re.compile(path_pattern + r"\Z")
        with self._lock:
            return [r for r in self.requests if r.method == method and pattern.match(r.path)]
