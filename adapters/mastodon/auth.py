"""``feedrelay auth mastodon``: an app registered on the instance (``POST /api/v1/apps``),
then the OAuth authorization code flow (``/oauth/authorize``, ``POST /oauth/token``), all
through Mastodon.py; the person pastes the code the instance shows, or, with
``--redirect-port``, the instance sends the browser back to a one-shot local address.

An app is registered for each run: it holds nothing but this token, and the instance lists
it among the account's authorised apps, where the token can be revoked.
"""

from __future__ import annotations

import secrets
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from adapters.api import (
    USER_AGENT,
    Adapter,
    AuthError,
    AuthResult,
    AuthRun,
    SetupError,
    TransientError,
    make_session,
    scrub,
)
from adapters.mastodon.client import (
    Mastodon,
    MastodonError,
    MastodonIllegalArgumentError,
    MastodonNetworkError,
)
from adapters.mastodon.spec import DEFAULT_MAX_CHARACTERS, SPEC, MastodonTarget, instance_url

__all__ = ["APP_NAME", "OOB", "SCOPES", "run"]

APP_NAME = "FeedRelay"
WEBSITE = "https://github.com/feedrelay/feedrelay"
OOB = "urn:ietf:wg:oauth:2.0:oob"
# Post statuses and media; read the account (verify) and its statuses (reconciliation).
SCOPES = ["read:accounts", "read:statuses", "write:statuses", "write:media"]
REDIRECT_WAIT_S = 300.0


def run(auth: AuthRun) -> AuthResult:
    """Register an app, get the code from the person, trade it for a token, and return the
    token's line with the adapter that checks it."""
    given = auth.options.get("instance")
    target = auth.target(needed=not given)
    settings = MastodonTarget.of(target.settings) if target is not None else None
    if given:
        instance = instance_url(str(given))
    elif settings is not None:
        instance = settings.base_url()
    else:
        raise SetupError("which instance? pass --instance https://HOST")
    port = auth.options.get("redirect_port")
    redirect = f"http://127.0.0.1:{port}/" if port else OOB
    allow_http = instance.startswith("http://")  # a loopback fake or a local test server
    session = make_session()
    receiver: _CodeReceiver | None = None
    try:
        with _errors(instance):
            client_id, client_secret = Mastodon.create_app(
                APP_NAME,
                scopes=SCOPES,
                redirect_uris=redirect,
                website=WEBSITE,
                api_base_url=instance,
                session=session,
                user_agent=USER_AGENT,
            )
            client = Mastodon(
                client_id=client_id,
                client_secret=client_secret,
                api_base_url=instance,
                session=session,
                version_check_mode="none",
                ratelimit_method="throw",
                user_agent=USER_AGENT,
            )
            state = secrets.token_urlsafe(16)
            url = client.auth_request_url(
                redirect_uris=redirect, scopes=SCOPES, state=state, allow_http=allow_http
            )
        if port:  # listening before the address is shown
            receiver = _CodeReceiver(int(port), state)
        auth.echo(
            f"Open this address, log in as the account to post with, and authorise {APP_NAME}:"
        )
        auth.echo(f"  {url}")
        if receiver is not None:
            auth.echo(f"Waiting for the instance to send your browser to {redirect} ...")
            code = receiver.wait()
        else:
            code = auth.prompt("The authorization code the instance shows").strip()
        if not code:
            raise SetupError("no code given: run `feedrelay auth mastodon` again")
        with _errors(instance):
            token = client.log_in(
                code=code, redirect_uri=redirect, scopes=SCOPES, allow_http=allow_http
            )
    finally:
        if receiver is not None:
            receiver.close()
        session.close()

    def open_adapter() -> Adapter:
        from adapters.mastodon.client import MastodonAdapter

        return MastodonAdapter(
            target=target.name if target is not None else SPEC.name,
            instance=instance,
            access_token=token,
            max_characters=(settings.max_characters if settings and settings.max_characters else 0)
            or DEFAULT_MAX_CHARACTERS,
        )

    return AuthResult(
        lines=[f"{auth.variable(target, 'access_token')}={token}"],
        note="The token does not expire; revoke it under the account's Preferences >"
        " Account > Authorized apps.",
        open=open_adapter,
    )


class _errors:
    """Mastodon.py's errors in the flow, as ``AuthError`` and ``TransientError``."""

    def __init__(self, instance: str) -> None:
        self.instance = instance

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, error: Any, tb: object) -> None:
        if error is None:
            return
        if isinstance(error, MastodonNetworkError):
            raise TransientError(f"could not reach {self.instance}: {error}") from error
        if isinstance(error, MastodonIllegalArgumentError):
            raise AuthError(
                f"{self.instance} refused the code: {scrub(str(error), ())}; run"
                " `feedrelay auth mastodon` again and paste the whole code"
            ) from error
        if isinstance(error, MastodonError):
            raise AuthError(f"{self.instance} refused: {error}") from error
        if isinstance(error, KeyError | ValueError):  # create_app read an error answer
            raise AuthError(
                f"{self.instance} did not register the app ({error}): is it a Mastodon"
                " instance, and does it allow new apps?"
            ) from error
        if isinstance(error, requests.RequestException):
            raise TransientError(f"could not reach {self.instance}: {error}") from error


class _CodeReceiver:
    """A one-shot loopback server for the ``code`` the instance sends the browser back with
    (listening before the address is shown, so no answer can come too early)."""

    def __init__(self, port: int, state: str) -> None:
        self.port = port
        self.received: dict[str, str] = {}
        self.done = threading.Event()
        receiver = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                query = parse_qs(urlsplit(self.path).query)
                if (query.get("state") or [""])[0] == state and query.get("code"):
                    receiver.received["code"] = query["code"][0]
                    body = b"FeedRelay has the code: you may close this page."
                    receiver.done.set()
                else:
                    body = b"This is not the answer FeedRelay waits for."
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; charset=utf-8")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        try:
            self.server = HTTPServer(("127.0.0.1", port), _Handler)
        except OSError as e:
            raise SetupError(f"cannot listen on 127.0.0.1:{port} ({e}): choose another port") from e
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True
        )
        self.thread.start()

    def wait(self) -> str:
        if not self.done.wait(REDIRECT_WAIT_S):
            raise SetupError(
                f"no answer on 127.0.0.1:{self.port} in {REDIRECT_WAIT_S:.0f} s: run"
                " `feedrelay auth mastodon` again, or paste the code (without --redirect-port)"
            )
        return self.received["code"]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
