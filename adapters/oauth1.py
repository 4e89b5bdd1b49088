"""The OAuth 1.0a PIN ("out of band") flow that X and Tumblr share, on requests-oauthlib.

1. ``POST request_token`` with ``oauth_callback=oob``, signed with the app's consumer key and
   secret, gives a request token;
2. the person opens ``authorize?oauth_token=...`` signed in as the posting account,
   authorises the app, and the platform shows a PIN (a verifier). Where it sends the
   browser on to the app's callback address instead, that address carries
   ``oauth_verifier=...``: ``finish`` takes the whole address too;
3. ``POST access_token`` with the verifier gives the account's token and secret.

Imported only by ``adapters/<platform>/auth.py``: it loads requests-oauthlib.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from adapters.base import CONNECT_TIMEOUT_S, READ_TIMEOUT_S, USER_AGENT, request_error, scrub
from adapters.setup import AuthRun
from bot.errors import AuthError

TIMEOUT = (CONNECT_TIMEOUT_S, READ_TIMEOUT_S)


@dataclass(frozen=True, kw_only=True)
class Grant:
    """The account's new token and secret. ``repr`` hides both."""

    token: str
    token_secret: str
    screen_name: str = ""

    def __repr__(self) -> str:
        return f"Grant(token='****', token_secret='****', screen_name={self.screen_name!r})"


@dataclass(frozen=True, kw_only=True)
class Endpoints:
    """Where one platform's flow runs, and what to tell a person whose key was refused."""

    service: str  # "X", "Tumblr"
    command: str  # "feedrelay auth twitter"
    request_token: str
    authorize: str
    access_token: str
    key_fix: str  # what to do when the consumer key and secret are refused


@dataclass(frozen=True)
class OAuth1Library:
    """What the flow needs of requests-oauthlib, handed in by the platform's client module
    (the only place that imports it): the session class and its two refusals."""

    session: Callable[..., Any]
    denied: type[Exception]  # TokenRequestDenied: the platform answered with an error
    missing: type[Exception]  # TokenMissing: the answer held no token


class PinFlow:
    """One run of the flow for one app: ``start()`` returns the address to open,
    ``finish(pin)`` the account's ``Grant``. Both raise ``AuthError`` when the platform
    refuses and ``TransientError`` when it cannot be reached.

    ``prepare`` may change the session before any request (mount a transport); ``shown``
    turns the authorise address into the one the person opens.
    """

    def __init__(
        self,
        endpoints: Endpoints,
        *,
        library: OAuth1Library,
        consumer_key: str,
        consumer_secret: str,
        prepare: Callable[[requests.Session], None] = lambda session: None,
        shown: Callable[[str], str] = lambda url: url,
    ) -> None:
        self.endpoints = endpoints
        self._secrets = [consumer_key, consumer_secret]
        self._shown = shown
        self._library = library
        self._session = library.session(
            consumer_key, client_secret=consumer_secret, callback_uri="oob"
        )
        self._session.headers["User-Agent"] = USER_AGENT
        prepare(self._session)

    def start(self) -> str:
        """Get a request token; return the address where the person authorises the app."""
        with self._errors(verifying=False):
            token = self._session.fetch_request_token(self.endpoints.request_token, timeout=TIMEOUT)
        self._secrets += [str(token.get("oauth_token", "")), str(token.get("oauth_token_secret"))]
        return self._shown(str(self._session.authorization_url(self.endpoints.authorize)))

    def finish(self, pin: str) -> Grant:
        """Trade the PIN (or the address the browser was sent to) for the account's token."""
        verifier = pin_from(pin)
        if not verifier:
            raise AuthError(
                f"no PIN given: run `{self.endpoints.command}` again and type the PIN"
                f" {self.endpoints.service} shows after you authorise the app"
            )
        with self._errors(verifying=True):
            token = self._session.fetch_access_token(
                self.endpoints.access_token, verifier=verifier, timeout=TIMEOUT
            )
        access, secret = token.get("oauth_token"), token.get("oauth_token_secret")
        if not access or not secret:
            raise AuthError(
                f"{self.endpoints.service} answered the PIN without a token; run"
                f" `{self.endpoints.command}` again"
            )
        return Grant(
            token=str(access),
            token_secret=str(secret),
            screen_name=str(token.get("screen_name") or ""),
        )

    def close(self) -> None:
        self._session.close()

    @contextmanager
    def _errors(self, *, verifying: bool) -> Iterator[None]:
        service, command = self.endpoints.service, self.endpoints.command
        try:
            yield
        except self._library.denied as e:
            said = scrub(_body(getattr(e, "response", None)), self._secrets)
            status = getattr(e, "status_code", "?")
            if verifying:
                raise AuthError(
                    f"{service} refused the PIN ({status}: {said}): run `{command}`"
                    f" again and type the PIN {service} shows after you authorise the app"
                    " (each PIN works once, for a few minutes)"
                ) from None
            raise AuthError(
                f"{service} refused the app's consumer key and secret ({status}:"
                f" {said}): {self.endpoints.key_fix}"
            ) from None
        except self._library.missing:
            raise AuthError(f"{service} answered without a token; run `{command}` again") from None
        except requests.RequestException as e:
            raise request_error(
                e, service=service, target="", creates=False, secrets=self._secrets
            ) from None
        except ValueError:  # an answer that is not a form-encoded token
            raise AuthError(
                f"{service} sent an answer that is not a token; check api_base, then run"
                f" `{command}` again"
            ) from None


def ask_for_pin(flow: PinFlow, auth: AuthRun) -> Grant:
    """Run ``flow`` at the terminal: show the address to open, read the PIN (or the address
    the browser was sent to), return the account's grant. Raises as ``PinFlow`` does."""
    service = flow.endpoints.service
    url = flow.start()
    auth.echo(f"1. Open this address in a browser, signed in to {service} as the account")
    auth.echo("   that will post, and authorise the app:")
    auth.echo("")
    auth.echo(f"   {url}")
    auth.echo("")
    auth.echo(f"2. {service} then shows a PIN (or sends you to an address with")
    auth.echo("   oauth_verifier=... in it: paste that whole address).")
    return flow.finish(auth.prompt("PIN"))


def pin_from(text: str) -> str:
    """The verifier in what the person typed: the PIN itself, or an address with
    ``oauth_verifier=...`` in it (where the platform redirects instead of showing a PIN)."""
    text = text.strip()
    if "oauth_verifier=" in text:
        query = urlsplit(text).query or text.split("?", 1)[-1]
        return (parse_qs(query).get("oauth_verifier") or [""])[0].strip()
    return text


def _body(response: requests.Response | None) -> str:
    if response is None:
        return "no answer"
    text = " ".join(response.text.split())[:200]
    return text or f"HTTP {response.status_code}"
