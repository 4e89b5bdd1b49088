"""Reddit's code flow with a loopback redirect: a refresh token for ``feedrelay auth reddit``.

``CodeFlow.start()`` binds a one-shot HTTP server on 127.0.0.1 (the app's redirect uri must
be exactly ``redirect_uri``) and returns praw's authorise address
(``reddit.auth.url(scopes, state, "permanent")``); the person opens it and allows the app;
Reddit sends the browser to the loopback server with ``?state=...&code=...``; ``wait()``
takes the code (refusing a wrong ``state``) and ``finish(code)`` trades it for the refresh
token (``reddit.auth.authorize(code)``). A refresh token lasts until it is revoked.

A script app with username and password needs none of this: ``verify`` on the adapter
checks those (the password grant).
"""

from __future__ import annotations

import html
import secrets
import time
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import praw
import prawcore

from adapters.base import make_session, scrub
from adapters.reddit.client import PUBLIC_URL
from bot import __version__
from bot.errors import AuthError, TransientError

__all__ = ["SCOPES", "CodeFlow"]

# What the adapter uses: who am I, submit, read a subreddit's rules, the account's posts.
SCOPES = ("identity", "submit", "read", "history", "flair")
DONE_PAGE = (
    "<!DOCTYPE html><title>FeedRelay</title><p>FeedRelay has what it needs: you can close"
    " this tab and go back to the terminal.</p>"
)


class CodeFlow:
    """One run of the code flow for one app (``api_base``: a fake or proxy instead of
    Reddit). Use as a context manager, or ``close()`` it: it holds a listening socket."""

    def __init__(
        self,
        *,
        client_id: str,
        client_secret: str,
        user_agent: str | None = None,
        api_base: str | None = None,
        host: str = "127.0.0.1",
        port: int = 8080,
    ) -> None:
        self._secrets = [client_id, client_secret]
        self._client = (client_id, client_secret)
        self.user_agent = user_agent or f"python:feedrelay:{__version__}"
        self._api_base = (api_base or "").rstrip("/") or None
        self._server = HTTPServer((host, port), _Handler)
        self._server.result = None  # type: ignore[attr-defined]
        bound_host, bound_port = self._server.server_address[:2]
        self.redirect_uri = f"http://{bound_host!s}:{bound_port}/"
        self.state = secrets.token_urlsafe(16)
        self._reddit: praw.Reddit | None = None

    def __enter__(self) -> CodeFlow:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def start(self) -> str:
        """The address where the person allows the app (permanent: a refresh token)."""
        base = self._api_base
        self._reddit = praw.Reddit(
            client_id=self._client[0],
            client_secret=self._client[1],
            redirect_uri=self.redirect_uri,
            user_agent=self.user_agent,
            check_for_updates=False,
            oauth_url=base or "https://oauth.reddit.com",
            reddit_url=base or PUBLIC_URL,
            requestor_kwargs={"session": make_session(user_agent=self.user_agent)},
        )
        return str(
            self._reddit.auth.url(scopes=list(SCOPES), state=self.state, duration="permanent")
        )

    def wait(self, timeout: float = 300.0) -> str:
        """The code Reddit sent to the loopback address; ``AuthError`` if the person
        declined, the state is wrong, or nothing came within ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AuthError(
                    f"no answer from Reddit at {self.redirect_uri} within {timeout:.0f} s: run"
                    " `feedrelay auth reddit --refresh-token` again, open the address it shows"
                    " and choose Allow"
                )
            self._server.timeout = left
            self._server.handle_request()
            query: dict[str, list[str]] | None = self._server.result  # type: ignore[attr-defined]
            if query is None:
                continue  # a favicon or another path: not Reddit's answer
            if query.get("state", [""])[0] != self.state:
                raise AuthError(
                    "the answer at the loopback address has the wrong state (not from this"
                    " run): run `feedrelay auth reddit --refresh-token` again"
                )
            if "error" in query:
                error = query["error"][0]
                fix = (
                    "you declined: run it again and choose Allow"
                    if error == "access_denied"
                    else f"check that the app's redirect uri is exactly {self.redirect_uri}"
                )
                raise AuthError(f"Reddit answered {error!r}: {fix}")
            return query.get("code", [""])[0]

    def finish(self, code: str) -> str:
        """Trade ``code`` for the refresh token."""
        assert self._reddit is not None, "start() first"
        try:
            token = self._reddit.auth.authorize(code)
        except prawcore.OAuthException as e:
            said = scrub(f"{e.error}: {e.description or ''}".strip(": "), self._secrets)
            raise AuthError(
                f"Reddit refused the code ({said}): check the app's id and secret and that"
                f" its redirect uri is exactly {self.redirect_uri}, then run it again"
            ) from None
        except prawcore.ResponseException as e:
            status = e.response.status_code
            if status in (400, 401, 403):
                raise AuthError(
                    f"Reddit refused the app's id and secret ({status}): check them at"
                    " reddit.com/prefs/apps"
                ) from None
            raise TransientError(f"Reddit failed on the code ({status}); try again") from None
        except prawcore.RequestException as e:
            raise TransientError(
                f"could not reach Reddit: {scrub(str(e.original_exception), self._secrets)}"
            ) from None
        if not token:
            raise AuthError(
                "Reddit gave no refresh token (a temporary grant): run it again and allow"
                " permanent access"
            )
        return str(token)

    def close(self) -> None:
        self._server.server_close()


class _Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        parts = urlsplit(self.path)
        query = parse_qs(parts.query)
        server: Any = self.server
        if parts.path != "/" or not ({"code", "error"} & set(query)):
            self.send_response(404)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        server.result = query
        body = DONE_PAGE.encode() if "code" in query else (
            f"<!DOCTYPE html><p>Reddit said: {html.escape(query['error'][0])}."
            " See the terminal.</p>"
        ).encode()  # fmt: skip
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Connection", "close")
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # the query holds the code: never logged
